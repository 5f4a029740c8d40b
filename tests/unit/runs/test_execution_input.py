"""The pipeline execution input and run ids (the issue-15 contract)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest

from core.errors import TenantResourcesError
from pipelines.runs.execution_input import (
    manual_run_id,
    pipeline_input,
    reproduce_run_id,
    retrain_run_id,
    run_id_for_data,
)


def test_data_run_id_is_the_contract_hash_of_the_object_version() -> None:
    expected = hashlib.sha256(b"s3://data/incoming/a.csv#v1").hexdigest()[:16]
    assert run_id_for_data("data", "incoming/a.csv", "v1") == f"run-{expected}"
    # a redelivery of the same version gets the same id; another version a new one
    assert run_id_for_data("data", "incoming/a.csv", "v1") == run_id_for_data("data", "incoming/a.csv", "v1")
    assert run_id_for_data("data", "incoming/a.csv", "v2") != run_id_for_data("data", "incoming/a.csv", "v1")
    unversioned = hashlib.sha256(b"s3://data/incoming/a.csv#").hexdigest()[:16]
    assert run_id_for_data("data", "incoming/a.csv", None) == f"run-{unversioned}"


def test_retrain_and_manual_run_ids_follow_the_contract() -> None:
    moment = datetime(2026, 12, 7, 9, 5, 7, tzinfo=UTC)
    assert retrain_run_id("churn", moment) == "retrain-churn-202612070905"
    assert re.fullmatch(r"manual-20261207090507-[0-9a-f]{4}", manual_run_id(moment))


def test_pipeline_input_has_the_contract_shape() -> None:
    body = pipeline_input(
        run_id="run-0123456789abcdef",
        tenant="churn",
        model="churn",
        trigger="data-arrival",
        bucket="data",
        key="incoming/a.csv",
        version_id="v1",
    )
    assert body == {
        "run_id": "run-0123456789abcdef",
        "tenant": "churn",
        "model": "churn",
        "trigger": "data-arrival",
        "data": {"bucket": "data", "key": "incoming/a.csv", "version_id": "v1"},
        "cause": None,
    }
    retrain = pipeline_input(
        run_id="retrain-churn-202612070905",
        tenant="churn",
        model="churn",
        trigger="retrain",
        bucket="data",
        key="incoming/a.csv",
        cause={"alarm_name": "drift"},
    )
    assert retrain["cause"] == {"alarm_name": "drift"} and retrain["data"]["version_id"] is None


def test_bad_input_names_every_field() -> None:
    with pytest.raises(TenantResourcesError) as caught:
        pipeline_input(run_id="bad name!", tenant="", model="m", trigger="cron", bucket="b", key="k")
    text = str(caught.value)
    assert "run_id" in text and "tenant" in text and "trigger" in text
    assert "model" not in {p.location for p in caught.value.problems}


REPRODUCE = {
    "version": 2,
    "model_package_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/2",
    "artifact_uri": f"s3://models/models/sha256/{'a' * 64}/model.tar.gz",
    "sha256": "a" * 64,
    "data_sha256": "b" * 64,
    "hyperparameters": {"model_name": "churn", "seed": "0"},
    "holdout_fraction": "0.2",
    "code_revision": "abc123",
}


def test_a_reproduce_run_carries_the_version_and_its_recorded_settings() -> None:
    moment = datetime(2026, 12, 7, 9, 5, 7, tzinfo=UTC)
    run_id = reproduce_run_id(2, moment)
    assert re.fullmatch(r"reproduce-v2-20261207090507-[0-9a-f]{4}", run_id)
    body = pipeline_input(
        run_id=run_id,
        tenant="acme",
        model="churn",
        trigger="reproduce",
        bucket="data",
        key="incoming/a.csv",
        version_id="v1",
        reproduce=REPRODUCE,
    )
    assert body["reproduce"] == REPRODUCE and body["data"]["version_id"] == "v1"
    # a run of another trigger has no reproduce block at all
    manual = pipeline_input(run_id="m", tenant="a", model="m", trigger="manual", bucket="b", key="k")
    assert "reproduce" not in manual


def test_a_bad_reproduce_block_names_each_field_and_goes_only_with_its_trigger() -> None:
    bad = {
        **REPRODUCE,
        "version": 0,
        "sha256": "x",
        "holdout_fraction": "1.5",
        "hyperparameters": {"seed": 0},
    }
    del bad["code_revision"]
    with pytest.raises(TenantResourcesError) as caught:
        pipeline_input(
            run_id="r", tenant="a", model="m", trigger="reproduce", bucket="b", key="k", reproduce=bad
        )
    assert {p.location for p in caught.value.problems} == {
        "reproduce.version",
        "reproduce.sha256",
        "reproduce.holdout_fraction",
        "reproduce.hyperparameters",
        "reproduce.code_revision",
    }
    for trigger, block in (("reproduce", None), ("manual", REPRODUCE)):
        with pytest.raises(TenantResourcesError) as caught:
            pipeline_input(
                run_id="r", tenant="a", model="m", trigger=trigger, bucket="b", key="k", reproduce=block
            )
        assert [p.location for p in caught.value.problems] == ["reproduce"]
