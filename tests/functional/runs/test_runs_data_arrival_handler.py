"""The data-arrival Lambda handler, called directly under moto with the stack's environment variables."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError
from runs_support import REGION, load_event, model_packages

from core.errors import TenantResourcesError
from lambdas.data_arrival.handler import handler
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.idempotency import claim_key
from tenantml.sample_data import sample_parquet_bytes

KEY = "incoming/daily export.parquet"  # the sample event carries it URL-encoded: daily+export.parquet


@dataclass
class LambdaContext:
    function_name: str = "tenantml-acme-dev-data-arrival"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:123456789012:function:tenantml-acme-dev-data-arrival"
    )
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def lambda_env(monkeypatch, resources, spec):
    """The variables the tenant stack sets on the data-arrival function."""
    for name, value in {
        **resources.to_env(),
        "TENANTML_TENANT": "acme",
        "TENANTML_MODEL_SPEC": spec.model_dump_json(),
        "POWERTOOLS_SERVICE_NAME": "tenantml-data-arrival",
        "TENANTML_PIPELINE_CONFIG": '{"cv_folds": 3, "importance_repeats": 1, "importance_rows": 200}',
    }.items():
        monkeypatch.setenv(name, value)


def _event_for(s3, bucket: str, data: bytes) -> dict:
    """The sample event, announcing the object version just uploaded."""
    put = s3.put_object(Bucket=bucket, Key=KEY, Body=data)
    event = copy.deepcopy(load_event("s3_object_created.json"))
    obj = event["Records"][0]["s3"]["object"]
    obj.update(versionId=put["VersionId"], eTag=put["ETag"].strip('"'), size=len(data))
    return event


def _run_records(s3, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="runs/")
    return sorted(item["Key"] for item in listing.get("Contents", []) if item["Key"].endswith("/run.json"))


def test_one_run_per_object_version_however_often_the_event_arrives(clients, resources, lambda_env, caplog):
    # given the sample event for a new object version
    event = _event_for(clients.s3, resources.data_bucket, sample_parquet_bytes())

    # when it is delivered
    caplog.set_level("INFO")
    first = handler(event, LambdaContext())

    # then one run started and succeeded, and the handler logged the bucket and key it received
    assert [(r["action"], r["status"]) for r in first["runs"]] == [("started", "succeeded")]
    arrived = next(r for r in caplog.records if r.getMessage().startswith("data arrived"))
    assert arrived.getMessage() == f"data arrived: s3://{resources.data_bucket}/{KEY}"
    assert (arrived.bucket, arrived.key) == (resources.data_bucket, KEY)
    assert model_packages(clients.sagemaker, resources.model_package_group)[0]["ModelPackageVersion"] == 1

    # when the same event is redelivered
    again = handler(event, LambdaContext())

    # then no second run: the duplicate names the run that owns the object version
    assert [(r["action"], r["run_id"]) for r in again["runs"]] == [("duplicate", first["runs"][0]["run_id"])]
    assert again["runs"][0]["status"] == "succeeded"
    assert len(_run_records(clients.s3, resources.artifacts_bucket)) == 1
    assert len(model_packages(clients.sagemaker, resources.model_package_group)) == 1

    # when a new version of the same key arrives
    newer = handler(
        _event_for(clients.s3, resources.data_bucket, sample_parquet_bytes(drifted=True)), LambdaContext()
    )

    # then it starts a new run
    assert newer["runs"][0]["action"] == "started"
    assert newer["runs"][0]["run_id"] != first["runs"][0]["run_id"]
    assert len(_run_records(clients.s3, resources.artifacts_bucket)) == 2
    assert len(model_packages(clients.sagemaker, resources.model_package_group)) == 2


def test_objects_that_are_not_datasets_start_nothing(clients, resources, lambda_env):
    result = handler(load_event("s3_object_created_not_data.json"), LambdaContext())
    assert result == {"arrivals": [], "runs": []}
    assert _run_records(clients.s3, resources.artifacts_bucket) == []


def test_an_unexpected_error_releases_the_claim_so_lambda_can_retry(
    clients, resources, lambda_env, monkeypatch
):
    # given a run that fails on its data and then cannot publish its alert (the topic is gone)
    monkeypatch.setenv("TENANTML_ALERTS_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:deleted-topic")
    put = clients.s3.put_object(Bucket=resources.data_bucket, Key=KEY, Body=b"")
    event = copy.deepcopy(load_event("s3_object_created.json"))
    event["Records"][0]["s3"]["object"].update(versionId=put["VersionId"], size=0)

    # when the handler runs, the error reaches Lambda (which retries the event)
    with pytest.raises(ClientError) as raised:
        handler(event, LambdaContext())

    # then the error is SNS's, and the claim is gone so the retry is not taken for a duplicate
    assert raised.value.response["Error"]["Code"] == "NotFound"
    arrival = DataArrival(bucket=resources.data_bucket, key=KEY, version_id=put["VersionId"])
    with pytest.raises(ClientError) as missing:
        clients.s3.head_object(Bucket=resources.artifacts_bucket, Key=claim_key(arrival))
    assert missing.value.response["Error"]["Code"] == "404"


def test_a_sagemaker_executor_without_an_image_is_a_configuration_error(
    clients, resources, lambda_env, monkeypatch
):
    monkeypatch.setenv("TENANTML_EXECUTOR", "sagemaker")
    event = _event_for(clients.s3, resources.data_bucket, sample_parquet_bytes())
    with pytest.raises(TenantResourcesError) as raised:
        handler(event, LambdaContext())
    assert raised.value.headline == "the sagemaker executor is not configured"
    assert (
        "environment: TENANTML_TRAINING_IMAGE_URI: the sagemaker executor needs a training image URI"
        in str(raised.value)
    )
    assert _run_records(clients.s3, resources.artifacts_bucket) == []
