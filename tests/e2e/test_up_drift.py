"""Drift under `tenantml up`: traffic to churn's endpoint -> stream -> monitor -> alarm -> alert and retrain.

Shares the session's `up` with test_up.py, in any order: everything here happens through the
running platform, the way a user would drive it, with `tenantml traffic`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from up_support import ROOT, UpProcess

REGION = "eu-west-1"
SHIFTED_FEATURES = ("mean area", "worst area", "mean radius")


@pytest.fixture
def alert_reader(running_up: UpProcess) -> Iterator[tuple[object, str]]:
    """A queue subscribed to churn's alert topic; unsubscribed afterwards, so the topic shows only
    what the stack wires to the tests that run next."""
    sqs, sns = running_up.client("sqs", REGION), running_up.client("sns", REGION)
    url = sqs.create_queue(QueueName="e2e-drift-alert-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # the SNS envelope keeps the subject, which says what the alert is about
    subscription = sns.subscribe(
        TopicArn=running_up.outputs("churn")["alerts_topic_arn"],
        Protocol="sqs",
        Endpoint=arn,
        ReturnSubscriptionArn=True,
    )
    yield sqs, url
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def _drain(sqs, url: str, seconds: float) -> list[str]:
    """The alerts that arrive within ``seconds``, each as its subject and message."""
    bodies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(message["Body"])
            bodies.append(f"{envelope.get('Subject', '')}\n{envelope['Message']}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _executions(running_up: UpProcess) -> list[str]:
    """Each pipeline execution's name, status and, when it failed, why: what a failing wait shows."""
    sfn = running_up.client("stepfunctions", REGION)
    machine = running_up.outputs("churn")["pipeline_state_machine_arn"]
    shown = []
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        shown.append(f"{execution['name']} {execution['status']} {described.get('cause', '')}"[:600])
    return shown


def _drift_alarm(cloudwatch) -> dict:
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    (alarm,) = [
        a
        for a in alarms
        if a["MetricName"] == "DriftScore" and {"Name": "Tenant", "Value": "churn"} in a["Dimensions"]
    ]
    return alarm


def _drift_scores(cloudwatch, since: float) -> int:
    """How many drift scores churn's monitor has published since ``since`` (epoch seconds)."""
    stats = cloudwatch.get_metric_statistics(
        Namespace="TenantML/churn",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Tenant", "Value": "churn"}, {"Name": "Model", "Value": "churn"}],
        StartTime=since - 120,
        EndTime=time.time() + 120,
        Period=60,
        Statistics=["SampleCount"],
    )
    return int(sum(p["SampleCount"] for p in stats["Datapoints"]))


# the retrain is a whole run of the pipeline state machine (prepare, a training job with its search,
# evaluation, registration), each step a job process: minutes on a 2-core machine
@pytest.mark.timeout(900)
def test_in_distribution_traffic_stays_quiet_and_shifted_traffic_alerts_once_and_retrains_once(
    running_up: UpProcess, alert_reader: tuple[object, str]
) -> None:
    from pipelines.registry.sagemaker import SageMakerModelRegistry

    outputs = running_up.outputs("churn")
    cloudwatch = running_up.client("cloudwatch", REGION)
    registry = SageMakerModelRegistry(
        running_up.client("sagemaker", REGION), outputs["model_package_group_name"]
    )
    sqs, queue = alert_reader
    versions_before = len(registry.list_model_versions())
    scores_before = _drift_scores(cloudwatch, time.time())

    # given traffic drawn from the training distribution
    started = time.time()
    running_up.cli(
        "traffic", "--tenant", "churn", "--rows", "1500", "--rows-per-request", "10", "--seed", "1"
    )

    # then the monitor scores it, the drift alarm stays out of ALARM and nobody is alerted
    deadline = time.monotonic() + 60
    while _drift_scores(cloudwatch, started) <= scores_before and time.monotonic() < deadline:
        time.sleep(1)
    assert _drift_scores(cloudwatch, started) > scores_before, "the monitor published no drift score"
    quiet = _drain(sqs, queue, 4)
    assert _drift_alarm(cloudwatch)["StateValue"] != "ALARM"
    assert not [b for b in quiet if "drift" in b.lower()], quiet

    # when traffic with shifted features arrives
    running_up.cli("traffic", "--tenant", "churn", "--drifted", "--rows", "1500", "--rows-per-request", "10")

    # then the drift alarm goes to ALARM and exactly one alert names the drifted features
    alerts = []
    deadline = time.monotonic() + 90
    while not alerts and time.monotonic() < deadline:
        alerts = [b for b in _drain(sqs, queue, 2) if "drift ALARM" in b]
    assert _drift_alarm(cloudwatch)["StateValue"] == "ALARM"
    assert len(alerts) == 1, alerts
    assert all(feature in alerts[0] for feature in SHIFTED_FEATURES), alerts[0]
    assert "churn" in alerts[0] and "tenantml report --tenant churn" in alerts[0]

    # and exactly one retrain registers a new version, recorded with the alarm as its cause
    deadline = time.monotonic() + 600
    while len(registry.list_model_versions()) == versions_before and time.monotonic() < deadline:
        time.sleep(1)
    versions = registry.list_model_versions()
    assert len(versions) == versions_before + 1, (alerts[0], _executions(running_up))
    newest = max(versions, key=lambda v: v.version)
    shown = running_up.cli(
        "models",
        "show",
        "--tenant",
        "churn",
        "--version",
        str(newest.version),
        "--tenants",
        str(ROOT / "tenants"),
    ).stdout
    assert "drift" in shown, shown
    later = _drain(sqs, queue, 5)
    assert not [b for b in later if "drift ALARM" in b]
    assert len(registry.list_model_versions()) == versions_before + 1

    # and the report the alert points at renders from the snapshots
    report = running_up.cli(
        "report", "--tenant", "churn", "--out", "drift.html", "--tenants", str(ROOT / "tenants")
    )
    assert (running_up.workdir / "drift.html").read_text().count("<img") >= 2, report.stdout
