"""The slim monitor Lambda handler under moto: a Kinesis batch in, one monitoring processing job started
per minute (the job runs ``python -m pipelines.container monitor`` as the pipelines role)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import pytest
from monitoring_support import ARTIFACTS, GROUP, MODEL, TENANT
from moto import mock_aws

from core.errors import TenantResourcesError
from lambdas.monitor import handler as monitor_handler
from pipelines.monitoring.job_request import monitor_job_name, monitor_job_request

REGION = "eu-west-1"
IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/tenantml-acme-dev-images:v1"
ROLE = "arn:aws:iam::123456789012:role/tenantml-acme-dev-pipelines-role"


@dataclass
class LambdaContext:
    function_name: str = "acme-dev-monitor"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:acme-dev-monitor"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch):
    spec = {"name": MODEL, "problem": "classification", "target": "target", "drift_threshold": 0.25}
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TENANTML_TENANT": TENANT,
        "TENANTML_NAME_PREFIX": "tenantml-acme-dev",
        "TENANTML_ARTIFACTS_BUCKET": ARTIFACTS,
        "TENANTML_MODEL_PACKAGE_GROUP": GROUP,
        "TENANTML_STREAM_NAME": "tenantml-acme-dev-inference",
        "TENANTML_MODEL_SPEC": json.dumps(spec),
        "TENANTML_MONITORING_SPEC": json.dumps({"drift_min_rows": 50}),
        "TENANTML_IMAGE_URI": IMAGE,
        "TENANTML_MONITORING_ROLE_ARN": ROLE,
        "POWERTOOLS_SERVICE_NAME": "tenantml-monitor",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(monitor_handler, "_sagemaker", None)
    with mock_aws():
        yield


def test_given_a_batch_then_one_monitoring_job_starts_as_the_pipelines_role(lambda_env):
    # when a batch arrives (moto 5.2.5 accepts a reused job name, which SageMaker refuses with
    # ResourceInUse: the second start of a minute is not reproducible here)
    first = monitor_handler.handler({"Records": [{}]}, LambdaContext())

    # then one job, of the tenant image's monitor command, as the pipelines role, with the settings
    assert first["outcome"] == "started" and first["batchItemFailures"] == []
    assert first["job"].startswith("tenantml-acme-dev-monitor-") and len(first["job"]) <= 63
    job = boto3.client("sagemaker", region_name=REGION).describe_processing_job(
        ProcessingJobName=first["job"]
    )
    assert job["RoleArn"] == ROLE
    assert job["AppSpecification"]["ImageUri"] == IMAGE
    assert job["AppSpecification"]["ContainerEntrypoint"] == [
        "python",
        "-m",
        "pipelines.container",
        "monitor",
    ]
    # moto's DescribeProcessingJob leaves out the Environment: the request that carried it
    request = monitor_job_request(os.environ, datetime.now(UTC))
    assert request["Environment"] == {
        "TENANTML_TENANT": TENANT,
        "TENANTML_ARTIFACTS_BUCKET": ARTIFACTS,
        "TENANTML_MODEL_PACKAGE_GROUP": GROUP,
        "TENANTML_STREAM_NAME": "tenantml-acme-dev-inference",
        "TENANTML_MODEL_NAME": MODEL,
        "TENANTML_DRIFT_THRESHOLD": "0.25",
        "TENANTML_DRIFT_MIN_ROWS": "50",
    }


def test_given_an_incomplete_environment_then_the_handler_names_every_missing_variable(
    lambda_env, monkeypatch
):
    monkeypatch.delenv("TENANTML_IMAGE_URI")
    monkeypatch.delenv("TENANTML_MONITORING_ROLE_ARN")
    with pytest.raises(TenantResourcesError) as caught:
        monitor_handler.handler({"Records": []}, LambdaContext())
    assert "TENANTML_IMAGE_URI" in str(caught.value) and "TENANTML_MONITORING_ROLE_ARN" in str(caught.value)


def test_given_the_longest_prefix_then_the_job_name_stays_within_sagemakers_rules_and_the_boundary():
    # the longest prefix the spec allows: a 20-character tenant in staging
    prefix = "tenantml-" + "a" * 20 + "-staging"
    name = monitor_job_name(prefix, datetime(2026, 12, 7, 9, 5, tzinfo=UTC))
    # it matches the roles' and the boundary's processing-job/<prefix>-monitor-* pattern
    assert name == f"{prefix}-monitor-202612070905" and len(name) <= 63
