"""The monitor Lambda handler end to end under moto: Kinesis event in, metrics and snapshot out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from monitoring_support import ARTIFACTS, GROUP, MODEL, TENANT, inference_payloads, kinesis_event

from core.contract import metrics_namespace
from core.errors import TenantResourcesError
from lambdas.monitor import handler as monitor_handler


@dataclass
class LambdaContext:
    function_name: str = "acme-dev-monitor"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:acme-dev-monitor"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {
        "name": MODEL,
        "problem": "classification",
        "target": "target",
        "primary_metric": "roc_auc",
        "minimum_metric": 0.5,
        "drift_threshold": 0.25,
    }
    for name, value in {
        "TENANTML_TENANT": TENANT,
        "TENANTML_ARTIFACTS_BUCKET": ARTIFACTS,
        "TENANTML_MODEL_PACKAGE_GROUP": GROUP,
        "TENANTML_MODEL_SPEC": json.dumps(spec),
        "POWERTOOLS_SERVICE_NAME": "tenantml-monitor",
    }.items():
        monkeypatch.setenv(name, value)
    # the handler keeps its clients for warm invocations; each test starts cold, inside its own mock
    monkeypatch.setattr(monitor_handler, "_clients", None)


def test_given_drifted_traffic_when_the_handler_runs_then_drift_lands_in_cloudwatch_and_s3(
    clients, lambda_env, cancer, caplog
):
    shifted = cancer.head(300).copy()
    shifted["mean radius"] = shifted["mean radius"] * 1.8
    raw = kinesis_event([*inference_payloads(shifted, timestamp=time.time() - 20), b"\x00garbage"])

    response = monitor_handler.handler({"Records": raw}, LambdaContext())

    assert response == {"batchItemFailures": []}
    now = datetime.now(UTC)
    dims = [{"Name": "Tenant", "Value": TENANT}, {"Name": "Model", "Value": MODEL}]
    drift = clients.cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace(TENANT),
        MetricName="DriftScore",
        Dimensions=dims,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert max(p["Maximum"] for p in drift) > 1.0
    latency = clients.cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace(TENANT),
        MetricName="LatencyMs",
        Dimensions=dims,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    # moto answers no ExtendedStatistics (p99); one sample per request is what CloudWatch needs for it.
    # Subset dimension matching in moto counts the (Tenant, Model, ModelVersion) set too: 2 x 300.
    assert sum(p["SampleCount"] for p in latency) == 600
    assert max(p["Maximum"] for p in latency) == 26.0
    (key,) = [
        o["Key"]
        for o in clients.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=f"monitoring/{MODEL}/1/")["Contents"]
    ]
    snapshot = json.loads(clients.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())
    assert "mean radius" in snapshot["drifted_features"]
    log = [r for r in caplog.records if r.getMessage() == "inference log batch"]
    assert [(r.processed, r.malformed, r.duplicates) for r in log] == [(300, 1, 0)]


def test_given_the_same_event_twice_then_the_handler_does_no_work_the_second_time(
    clients, lambda_env, cancer
):
    raw = kinesis_event(inference_payloads(cancer.head(40), timestamp=time.time() - 20))

    monitor_handler.handler({"Records": raw}, LambdaContext())
    monitor_handler.handler({"Records": raw}, LambdaContext())

    listed = clients.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=f"monitoring/{MODEL}/")["Contents"]
    assert len(listed) == 1


def test_given_the_tenants_minimum_rows_when_a_smaller_window_arrives_then_no_drift_score_is_published(
    clients, lambda_env, cancer, monkeypatch
):
    # given the spec's monitoring section, as the stack passes it, asking for 500 rows
    monkeypatch.setenv("TENANTML_MONITORING_SPEC", json.dumps({"drift_min_rows": 500}))
    shifted = cancer.head(300).copy()
    shifted["mean radius"] = shifted["mean radius"] * 1.8

    monitor_handler.handler(
        {"Records": kinesis_event(inference_payloads(shifted, timestamp=time.time() - 20))}, LambdaContext()
    )

    # then health is published, drift is not (300 rows are too few to call it)
    assert clients.cloudwatch.list_metrics(Namespace=metrics_namespace(TENANT), MetricName="RequestCount")[
        "Metrics"
    ]
    assert (
        clients.cloudwatch.list_metrics(Namespace=metrics_namespace(TENANT), MetricName="DriftScore")[
            "Metrics"
        ]
        == []
    )


def test_given_a_bad_monitoring_spec_then_the_handler_names_it(aws, lambda_env, monkeypatch):
    monkeypatch.setenv("TENANTML_MONITORING_SPEC", json.dumps({"drift_min_rows": 0}))
    with pytest.raises(
        TenantResourcesError, match="TENANTML_MONITORING_SPEC: is not a valid monitoring spec"
    ):
        monitor_handler.handler({"Records": []}, LambdaContext())


def test_given_an_incomplete_environment_then_the_handler_names_every_missing_variable(
    aws, lambda_env, monkeypatch
):
    monkeypatch.delenv("TENANTML_TENANT")
    monkeypatch.delenv("TENANTML_ARTIFACTS_BUCKET")
    with pytest.raises(TenantResourcesError) as caught:
        monitor_handler.handler({"Records": []}, LambdaContext())
    message = str(caught.value)
    assert "environment: TENANTML_TENANT: is missing" in message
    assert "environment: TENANTML_ARTIFACTS_BUCKET: is missing" in message
