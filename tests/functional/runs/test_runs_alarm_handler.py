"""The slim alarm Lambda handler under moto: an ALARM on drift takes the cooldown and starts a retrain."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from runs_support import REGION

from lambdas.alarm import handler as alarm
from pipelines.runs.cooldown import cooldown_key
from pipelines.runs.retraining import read_history

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@dataclass
class LambdaContext:
    function_name: str = "tenantml-acme-dev-alarm"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:tenantml-acme-dev-alarm"
    aws_request_id: str = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.fixture
def machine(aws, boto_session) -> str:
    return boto_session.client("stepfunctions").create_state_machine(
        name="tenantml-acme-dev-pipeline",
        definition=PASS,
        roleArn="arn:aws:iam::123456789012:role/tenantml-acme-dev-pipeline-role",
    )["stateMachineArn"]


@pytest.fixture
def lambda_env(monkeypatch, resources, spec, machine):
    for name, value in {
        **resources.to_env(),
        "TENANTML_TENANT": "acme",
        "TENANTML_MODEL_SPEC": spec.model_dump_json(),
        "TENANTML_MONITORING_SPEC": json.dumps({"retrain_cooldown_minutes": 30}),
        "TENANTML_PIPELINE_STATE_MACHINE_ARN": machine,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(alarm, "_clients", {})


def _sns(alarm_name: str, metric: str = "DriftScore") -> dict:
    body = {
        "AlarmName": alarm_name,
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed: 1 datapoint [0.41 (07/12/26 09:00:00)] was greater than 0.25",
        "StateChangeTime": "2026-12-07T09:00:00.000+0000",
        "Trigger": {"MetricName": metric, "Namespace": "TenantML/acme", "Threshold": 0.25},
    }
    return {
        "Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(body), "Type": "Notification"}}]
    }


def test_a_drift_alarm_starts_one_retrain_per_cooldown(clients, resources, lambda_env, machine, boto_session):
    # given a dataset
    put = clients.s3.put_object(Bucket=resources.data_bucket, Key="incoming/a.csv", Body=b"a\n1\n")

    # when two drift alarms fire
    first = alarm.handler(_sns("tenantml-acme-dev-drift"), LambdaContext())
    second = alarm.handler(_sns("tenantml-acme-dev-drift-2"), LambdaContext())

    # then one execution with trigger retrain and the cause; the second is skipped by the cooldown
    (started,) = first["outcomes"]
    (skipped,) = second["outcomes"]
    assert started["retrain"] == "started" and started["run_id"].startswith("retrain-cancer-")
    assert skipped["retrain"] == "skipped" and "cooldown until" in skipped["reason"]
    sfn = boto_session.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    body = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert execution["name"] == body["run_id"] == started["run_id"]
    assert body["trigger"] == "retrain" and body["cause"]["alarm_name"] == "tenantml-acme-dev-drift"
    assert body["data"] == {
        "bucket": resources.data_bucket,
        "key": "incoming/a.csv",
        "version_id": put["VersionId"],
    }
    holder = json.loads(
        clients.s3.get_object(Bucket=resources.artifacts_bucket, Key=cooldown_key("cancer"))["Body"].read()
    )
    assert holder["run_id"] == started["run_id"]


def test_a_platform_alarm_alerts_without_retraining(clients, resources, lambda_env, machine, boto_session):
    out = alarm.handler(
        _sns("tenantml-acme-dev-dlq", metric="ApproximateNumberOfMessagesVisible"), LambdaContext()
    )
    assert out["outcomes"][0]["retrain"] == "not-applicable"
    assert boto_session.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_a_live_quality_alarm_starts_a_retrain(clients, resources, lambda_env, machine, boto_session):
    # given a dataset, and the quality of the model on labelled traffic below the spec's minimum
    clients.s3.put_object(Bucket=resources.data_bucket, Key="incoming/a.csv", Body=b"a\n1\n")

    # when its alarm fires
    out = alarm.handler(_sns("tenantml-acme-dev-live-quality", metric="LiveQuality"), LambdaContext())

    # then a retrain starts, like for drift
    (outcome,) = out["outcomes"]
    assert outcome["retrain"] == "started"
    (execution,) = boto_session.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == outcome["run_id"]


def test_a_drift_alert_names_the_drifted_features_and_the_retrain_is_in_the_history(
    clients, resources, lambda_env, machine, boto_session
):
    # given a dataset and the monitor's newest window, where two features drifted past the threshold
    clients.s3.put_object(Bucket=resources.data_bucket, Key="incoming/a.csv", Body=b"a\n1\n")
    snapshot = {
        "model_version": "3",
        "drift_score": 0.41,
        "drift_threshold": 0.25,
        "features": {"age": {"psi": 0.3}, "income": {"psi": 0.9}, "tenure": {"psi": 0.1}},
    }
    clients.s3.put_object(
        Bucket=resources.artifacts_bucket,
        Key="monitoring/cancer/3/20261207T090000Z.json",
        Body=json.dumps(snapshot).encode(),
    )

    # when the drift alarm fires
    note = json.loads(_sns("tenantml-acme-dev-drift")["Records"][0]["Sns"]["Message"])
    (outcome,) = alarm.handler(_sns("tenantml-acme-dev-drift"), LambdaContext())["outcomes"]

    # then the cause names the drifted features worst first, and so does the alert people read
    assert outcome["cause"]["drifted_features"] == ["income", "age"]
    assert outcome["cause"]["value"] == 0.41 and outcome["cause"]["version"] == "3"
    message = alarm.alert_message(note, outcome, "acme")
    assert "acme: drift ALARM (tenantml-acme-dev-drift)" in message["Message"]
    assert "Drifted features, worst first: income, age" in message["Message"]
    assert "tenantml report --tenant acme" in message["Message"]
    # and the decision is in the history tenantml monitor reads
    (entry,) = read_history(clients.s3, resources.artifacts_bucket, "cancer")
    assert entry.status == "started" and entry.run_id == outcome["run_id"]
    assert entry.cause.drifted_features == ["income", "age"]
