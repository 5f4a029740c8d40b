"""``tenantml features get`` against moto: JSON per lookup, exit code 3 for a missing entity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from features_support import TABLE, VIEW, rows
from typer.testing import CliRunner

from pipelines.features.online import OnlineStore
from tenantml.cli.app import app

ROOT = Path(__file__).resolve().parents[3]
WRITTEN_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
REQUIRED_OUTPUTS = {
    "data_bucket_name": "tenantml-churn-dev-data",
    "artifacts_bucket_name": "tenantml-churn-dev-artifacts",
    "models_bucket_name": "tenantml-churn-dev-models",
    "alerts_topic_arn": "arn:aws:sns:eu-west-1:123456789012:tenantml-churn-dev-alerts",
    "model_package_group_name": "tenantml-churn-dev",
    "training_role_arn": "arn:aws:iam::123456789012:role/tenantml-churn-dev-training",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/0000",
}


@pytest.fixture
def cli(tmp_path: Path, store: OnlineStore) -> Any:
    # given: the churn tenant with the customer_activity view, its outputs with the online table
    spec = yaml.safe_load((ROOT / "tenants" / "churn.yaml").read_text(encoding="utf-8"))
    spec["region"] = "eu-west-1"
    spec["features"] = {"views": [json.loads(VIEW.model_dump_json())]}
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "churn.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**REQUIRED_OUTPUTS, "features_table_name": TABLE}), encoding="utf-8")
    # the command reads at the wall clock's now
    store.write(VIEW, rows([42, 43], at=WRITTEN_AT), now=WRITTEN_AT)
    common = ["--tenant", "churn", "--tenants", str(tenants), "--outputs", str(outputs)]

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, ["features", "get", *common, *args], catch_exceptions=False)

    return invoke


def test_get_prints_each_entity_with_its_features_and_event_time(cli) -> None:
    result = cli("--view", "customer_activity", "--entity", "customer_id=42", "--entity", "customer_id=43")

    assert result.exit_code == 0, result.output
    got = orjson.loads(result.stdout)
    assert got[0] == {
        "entity": {"customer_id": 42},
        "features": {"sessions_7d": 3, "spend_30d": 0.1, "segment": "seg-0", "is_active": True},
        "event_timestamp": WRITTEN_AT.isoformat(),
    }
    assert got[1]["entity"] == {"customer_id": 43} and got[1]["features"]["sessions_7d"] == 4


def test_a_missing_entity_exits_3_naming_it(cli) -> None:
    result = cli("--view", "customer_activity", "--entity", "customer_id=42", "--entity", "customer_id=7")

    assert result.exit_code == 3
    assert orjson.loads(result.stdout)[1] == {
        "entity": {"customer_id": 7},
        "features": None,
        "event_timestamp": None,
    }
    assert "no live features for customer_id=7 in view 'customer_activity'" in result.stderr


def test_bad_options_exit_2_naming_what_is_wrong(cli) -> None:
    unknown_view = cli("--view", "nope", "--entity", "customer_id=1")
    unknown_key = cli("--view", "customer_activity", "--entity", "merchant=1")
    not_int = cli("--view", "customer_activity", "--entity", "customer_id=x1")

    assert (
        unknown_view.exit_code == 2
        and "declares no feature view 'nope' (declared: customer_activity)" in unknown_view.stderr
    )
    assert (
        unknown_key.exit_code == 2
        and "'merchant' is not a key of view customer_activity" in unknown_key.stderr
    )
    assert not_int.exit_code == 2 and "entity 'customer_id': must be an integer (got 'x1')" in not_int.stderr
