"""The emulator's alarm evaluation against a real moto server: state, history, SNS notifications."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from wait_support import wait_until

from core.errors import EmulatorError
from tenantml.emulator import server
from tenantml.emulator.alarm_evaluator import AlarmEvaluator
from tenantml.emulator.session import AwsSession

REGION = "eu-west-1"
DIMS = [{"Name": "Tenant", "Value": "churn"}, {"Name": "Model", "Value": "default"}]


@pytest.fixture
def evaluator(aws: AwsSession) -> Iterator[AlarmEvaluator]:
    running = AlarmEvaluator(aws.endpoint, interval=0.1).start()
    try:
        yield running
    finally:
        running.stop()


def topic_with_queue(aws: AwsSession, name: str) -> tuple[str, str]:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def put_drift_alarm(aws: AwsSession, topic_arn: str, **overrides: Any) -> None:
    kwargs: dict[str, Any] = {
        "AlarmName": "tenantml-churn-dev-drift-alarm",
        "AlarmDescription": "Feature drift above 0.2 (PSI)",
        "Namespace": "TenantML",
        "MetricName": "DriftScore",
        "Dimensions": DIMS,
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 0.2,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
    }
    kwargs.update(overrides)
    aws.client("cloudwatch").put_metric_alarm(**{k: v for k, v in kwargs.items() if v is not None})


def put_drift(aws: AwsSession, value: float, at: datetime | None = None, dims: list | None = None) -> None:
    datum: dict[str, Any] = {"MetricName": "DriftScore", "Dimensions": dims or DIMS, "Value": value}
    if at is not None:
        datum["Timestamp"] = at
    aws.client("cloudwatch").put_metric_data(Namespace="TenantML", MetricData=[datum])


def receive(aws: AwsSession, queue_url: str, timeout: float) -> list[dict[str, Any]]:
    """SNS envelopes that arrive on the queue within ``timeout`` seconds (stops at the first batch)."""
    sqs = aws.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            for m in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            return [json.loads(m["Body"]) for m in messages]
        time.sleep(0.05)
    return []


def describe(aws: AwsSession, name: str = "tenantml-churn-dev-drift-alarm") -> dict[str, Any]:
    return aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_a_breach_notifies_once_then_recovery_notifies_ok(aws: AwsSession, evaluator: AlarmEvaluator) -> None:
    # given an alarm on drift with SNS actions and a queue subscribed to the topic
    topic_arn, queue_url = topic_with_queue(aws, "alarms")
    put_drift_alarm(aws, topic_arn)
    # as CloudWatch: new alarms start there (moto starts them in OK; the evaluator's first pass fixes it)
    wait_until(lambda: describe(aws)["StateValue"] == "INSUFFICIENT_DATA")
    assert receive(aws, queue_url, 0.3) == []  # no data and `missing`: no transition, no message

    # when a breaching value arrives (timestamped in the previous minute, so a later value can be newer)
    put_drift(aws, 0.41, at=datetime.now(UTC) - timedelta(seconds=60))
    envelopes = receive(aws, queue_url, 30.0)

    # then exactly one ALARM notification with CloudWatch's fields arrives
    assert len(envelopes) == 1, envelopes
    envelope = envelopes[0]
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == 'ALARM: "tenantml-churn-dev-drift-alarm" in Europe (Ireland)'
    message = json.loads(envelope["Message"])
    assert set(message) == {
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "AlarmConfigurationUpdatedTimestamp",
        "NewStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "AlarmArn",
        "OldStateValue",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "Trigger",
    }
    assert (message["OldStateValue"], message["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert message["AlarmName"] == "tenantml-churn-dev-drift-alarm"
    assert message["AWSAccountId"] == server.EMULATOR_ACCOUNT_ID
    assert message["Region"] == "Europe (Ireland)"
    assert (
        message["AlarmArn"]
        == f"arn:aws:cloudwatch:{REGION}:{server.EMULATOR_ACCOUNT_ID}:alarm:tenantml-churn-dev-drift-alarm"
    )
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.41 (")
    assert message["NewStateReason"].endswith(
        "was greater than the threshold (0.2) (minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition)."
    )
    assert datetime.strptime(message["StateChangeTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert message["Trigger"] == {
        "MetricName": "DriftScore",
        "Namespace": "TenantML",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "churn", "name": "Tenant"}, {"value": "default", "name": "Model"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.2,
        "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
    }

    # and DescribeAlarms and DescribeAlarmHistory show the transition
    alarm = describe(aws)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"] == message["NewStateReason"]
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [0.41]
    history = aws.client("cloudwatch").describe_alarm_history(AlarmName="tenantml-churn-dev-drift-alarm")
    items = history["AlarmHistoryItems"]
    assert [(i["HistoryItemType"], i["HistorySummary"]) for i in items] == [
        ("Action", f"Successfully executed action {topic_arn}"),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
    ]
    assert json.loads(items[1]["HistoryData"])["newState"]["stateValue"] == "ALARM"

    # and no duplicate while the state stays ALARM (many evaluations, more breaching data)
    put_drift(aws, 0.9, at=datetime.now(UTC) - timedelta(seconds=60))
    assert receive(aws, queue_url, 1.0) == []

    # when a newer value is below the threshold, then one OK notification follows
    put_drift(aws, 0.05)
    envelopes = receive(aws, queue_url, 30.0)
    assert len(envelopes) == 1
    assert envelopes[0]["Subject"].startswith('OK: "tenantml-churn-dev-drift-alarm"')
    ok = json.loads(envelopes[0]["Message"])
    assert (ok["OldStateValue"], ok["NewStateValue"]) == ("ALARM", "OK")
    assert "was not greater than the threshold (0.2)" in ok["NewStateReason"]
    assert describe(aws)["StateValue"] == "OK"
    assert receive(aws, queue_url, 0.5) == []
    summaries = [
        i["HistorySummary"]
        for i in aws.client("cloudwatch").describe_alarm_history(
            AlarmName="tenantml-churn-dev-drift-alarm",
            HistoryItemType="StateUpdate",
            ScanBy="TimestampAscending",
        )["AlarmHistoryItems"]
    ]
    assert summaries == ["Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"]


def test_only_the_exact_dimension_set_feeds_an_alarm_and_p99_reads_values_with_counts(
    aws: AwsSession,
) -> None:
    topic_arn, _ = topic_with_queue(aws, "p99")
    put_drift_alarm(
        aws,
        topic_arn,
        AlarmName="latency",
        MetricName="LatencyMs",
        Statistic=None,
        ExtendedStatistic="p99",
        Threshold=250.0,
    )
    evaluator = AlarmEvaluator(aws.endpoint, publisher=lambda *args: None)
    versioned = [*DIMS, {"Name": "ModelVersion", "Value": "3"}]
    cloudwatch = aws.client("cloudwatch")
    # slow requests under (Tenant, Model, ModelVersion) only: a different metric in CloudWatch
    cloudwatch.put_metric_data(
        Namespace="TenantML",
        MetricData=[
            {"MetricName": "LatencyMs", "Dimensions": versioned, "Values": [900.0], "Counts": [500.0]}
        ],
    )
    assert evaluator.evaluate_once() == []
    assert describe(aws, "latency")["StateValue"] == "INSUFFICIENT_DATA"
    # 990 fast and 10 slow: p99 is fast
    cloudwatch.put_metric_data(
        Namespace="TenantML",
        MetricData=[
            {"MetricName": "LatencyMs", "Dimensions": DIMS, "Values": [12.0, 900.0], "Counts": [990.0, 10.0]}
        ],
    )
    assert [t.new_state for t in evaluator.evaluate_once()] == ["OK"]
    # one more slow request: the 990th of 1001 is slow
    cloudwatch.put_metric_data(
        Namespace="TenantML",
        MetricData=[{"MetricName": "LatencyMs", "Dimensions": DIMS, "Values": [900.0], "Counts": [1.0]}],
    )
    [transition] = evaluator.evaluate_once()
    assert (transition.old_state, transition.new_state, transition.notified) == ("OK", "ALARM", (topic_arn,))
    assert "[900.0 (" in describe(aws, "latency")["StateReason"]


def test_a_bad_alarm_is_skipped_and_the_others_still_evaluate(
    aws: AwsSession, caplog: pytest.LogCaptureFixture
) -> None:
    topic_arn, _ = topic_with_queue(aws, "bad")
    # moto accepts any ExtendedStatistic starting with "p"; CloudWatch and the emulator do not
    put_drift_alarm(aws, topic_arn, AlarmName="bad", Statistic=None, ExtendedStatistic="pfoo")
    put_drift_alarm(aws, topic_arn, AlarmName="good")
    put_drift(aws, 0.5)
    published: list[tuple[str, str]] = []
    evaluator = AlarmEvaluator(
        aws.endpoint, publisher=lambda arn, subject, body: published.append((arn, subject))
    )
    with caplog.at_level("WARNING", logger="tenantml.emulator.alarm_evaluator"):
        transitions = evaluator.evaluate_once()
        evaluator.evaluate_once()
    assert [(t.alarm_name, t.new_state) for t in transitions] == [("good", "ALARM")]
    assert published == [(topic_arn, 'ALARM: "good" in Europe (Ireland)')]
    warnings = [r.getMessage() for r in caplog.records if "bad" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not every second
    assert "ExtendedStatistic" in warnings[0] and "'pfoo'" in warnings[0]
    assert describe(aws, "bad")["StateValue"] == "INSUFFICIENT_DATA"


def test_a_failed_action_is_recorded_and_an_update_keeps_the_state(aws: AwsSession) -> None:
    missing_topic = f"arn:aws:sns:{REGION}:{server.EMULATOR_ACCOUNT_ID}:does-not-exist"
    put_drift_alarm(aws, missing_topic)
    put_drift(aws, 0.5)
    evaluator = AlarmEvaluator(aws.endpoint)
    [transition] = evaluator.evaluate_once()
    assert transition.failed == (missing_topic,)
    items = aws.client("cloudwatch").describe_alarm_history(
        AlarmName="tenantml-churn-dev-drift-alarm", HistoryItemType="Action"
    )["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == [f"Failed to execute action {missing_topic}"]
    # PutMetricAlarm on an existing alarm leaves its state alone (moto would reset it to OK)
    put_drift_alarm(aws, missing_topic, AlarmDescription="changed")
    assert evaluator.evaluate_once() == []
    assert describe(aws)["StateValue"] == "ALARM"


def test_notbreaching_alarms_leave_insufficient_data_for_ok_as_in_cloudwatch(aws: AwsSession) -> None:
    topic_arn, queue_url = topic_with_queue(aws, "quiet")
    put_drift_alarm(aws, topic_arn, TreatMissingData="notBreaching", EvaluationPeriods=3, DatapointsToAlarm=2)
    [transition] = AlarmEvaluator(aws.endpoint).evaluate_once()
    assert (transition.old_state, transition.new_state) == ("INSUFFICIENT_DATA", "OK")
    [envelope] = receive(aws, queue_url, 30.0)
    assert json.loads(envelope["Message"])["NewStateValue"] == "OK"


def test_only_one_evaluator_runs_per_process(aws: AwsSession, evaluator: AlarmEvaluator) -> None:
    with pytest.raises(EmulatorError, match="alarm evaluation already runs in this process"):
        AlarmEvaluator(aws.endpoint).start()
    assert evaluator.running


RECORDING_HANDLER = """
import json

def handler(event, context):
    for record in event["Records"]:
        print("RECORD " + json.dumps(record))
"""


def test_an_alarm_notification_reaches_a_lambda_subscribed_to_the_topic(
    aws: AwsSession, tmp_path: Any
) -> None:
    """The path `tenantml up` relies on: alarm -> SNS -> the Lambda runtime runs the subscribed handler."""
    import io
    import zipfile

    from tenantml.emulator.runtime import install, uninstall

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", RECORDING_HANDLER)
    runtime = install(aws.endpoint, REGION, code_cache_dir=tmp_path, poll_interval=0.05)
    try:
        role = aws.client("iam").create_role(
            RoleName="alarm-handler",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        function_arn = aws.client("lambda").create_function(
            FunctionName="on-alarm",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        topic_arn = aws.client("sns").create_topic(Name="alarms")["TopicArn"]
        aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=function_arn)
        put_drift_alarm(aws, topic_arn)
        put_drift(aws, 0.7)

        [transition] = AlarmEvaluator(aws.endpoint).evaluate_once()
        assert transition.notified == (topic_arn,)
        assert runtime.wait_idle(20)
    finally:
        uninstall(timeout=10)

    logs = aws.client("logs")
    events = [
        e["message"]
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/aws/lambda/on-alarm")
        for e in page["events"]
    ]
    records = [json.loads(m[len("RECORD ") :]) for m in events if m.startswith("RECORD ")]
    assert len(records) == 1
    sns_record = records[0]["Sns"]
    assert sns_record["Subject"] == 'ALARM: "tenantml-churn-dev-drift-alarm" in Europe (Ireland)'
    body = json.loads(sns_record["Message"])
    assert (body["AlarmName"], body["NewStateValue"], body["OldStateValue"]) == (
        "tenantml-churn-dev-drift-alarm",
        "ALARM",
        "INSUFFICIENT_DATA",
    )
