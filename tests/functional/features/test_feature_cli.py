"""``tenantml features training-set`` against a tenant's data bucket (moto), found from its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feature_support import BUCKET, CUSTOMER, at, customer_rows, land, parquet_bytes
from typer.testing import CliRunner

from tenantml.cli.app import app

SPEC = """name: acme
environment: dev
region: eu-west-1
owners: [ml@example.com]
image_tag: "1.0.0"
compute:
  kind: ec2
  instance_types: [m6i.large]
features:
  views:
    - name: customer
      entities: [{name: customer_id}]
      features:
        - {name: spend, type: float64}
        - {name: orders, type: int64}
        - {name: vip, type: bool}
        - {name: segment, type: string}
      created_timestamp: created_at
      ttl_hours: 24
model:
  name: churn
  problem: classification
  target: churned
  primary_metric: roc_auc
  minimum_metric: 0.5
"""


def _tenant(tmp_path: Path, *, feature_views: str = "  feature_views: [customer]\n") -> list[str]:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(SPEC + feature_views)
    outputs = tmp_path / "outputs.json"
    account = "arn:aws:iam::123456789012"
    outputs.write_text(
        json.dumps(
            {
                "data_bucket_name": BUCKET,
                "artifacts_bucket_name": "acme-dev-artifacts",
                "models_bucket_name": "acme-dev-models",
                "alerts_topic_arn": "arn:aws:sns:eu-west-1:123456789012:acme-dev-alerts",
                "model_package_group_name": "acme-dev-churn",
                "training_role_arn": f"{account}:role/acme-dev-training",
                "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/1234",
            }
        )
    )
    return ["--tenant", "acme", "--tenants", str(tenants), "--outputs", str(outputs)]


def test_training_set_joins_the_models_views_into_the_out_file(s3, tmp_path):
    # given a tenant whose model uses the customer view, its rows in the data bucket, and entities
    common = _tenant(tmp_path)
    ten = at("2024-05-01T10:00")
    land(s3, "rows.parquet", parquet_bytes(customer_rows([("c1", 3.0, ten, ten)])), CUSTOMER)
    entities = tmp_path / "entities.parquet"
    times = pa.array([ten, ten.replace(hour=9)], pa.timestamp("us", tz="UTC"))
    pq.write_table(
        pa.table({"customer_id": ["c1", "c1"], "event_timestamp": times, "churned": [1, 0]}), entities
    )
    out = tmp_path / "train.parquet"

    # when
    result = CliRunner().invoke(
        app, ["features", "training-set", *common, "--entities", str(entities), "--out", str(out)]
    )

    # then
    assert result.exit_code == 0, result.output
    assert "training set of acme/churn: 2 row(s), 7 column(s)" in result.output
    train = pq.read_table(out).to_pydict()
    assert (train["churned"], train["spend"]) == ([1, 0], [3.0, None])


def test_a_bad_entity_table_exits_2_naming_the_column_and_writes_nothing(s3, tmp_path):
    # given an entity table without the view's key column
    common = _tenant(tmp_path)
    entities = tmp_path / "entities.csv"
    entities.write_text("user,event_timestamp\nu1,2024-05-01T10:00:00Z\n")
    out = tmp_path / "train.parquet"

    # when
    result = CliRunner().invoke(
        app, ["features", "training-set", *common, "--entities", str(entities), "--out", str(out)]
    )

    # then
    assert result.exit_code == 2, result.output
    assert "invalid entity table" in result.output
    assert "column customer_id: is missing: view 'customer' is keyed by it" in result.output
    assert not out.exists()


def test_a_model_without_feature_views_is_told_what_to_declare(s3, tmp_path):
    # given a model that names no views
    common = _tenant(tmp_path, feature_views="")
    entities = tmp_path / "entities.csv"
    entities.write_text("customer_id,event_timestamp\nc1,2024-05-01T10:00:00Z\n")

    # when
    result = CliRunner().invoke(
        app,
        ["features", "training-set", *common, "--entities", str(entities), "--out", str(tmp_path / "t.csv")],
    )

    # then
    assert result.exit_code == 2, result.output
    assert "model 'churn' of tenant 'acme' names no feature views" in " ".join(result.output.split())
