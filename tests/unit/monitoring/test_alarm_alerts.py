"""Alarm notifications and the alert text built from them: pure functions, no AWS."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from pipelines.monitoring.alarm_actions import AlarmNotification, alarm_notifications_from_sns
from pipelines.monitoring.alerts import AlarmAlert, RecoveryAlert
from pipelines.runs.retraining import RetrainCause

CLOUDWATCH_MESSAGE = {
    "AlarmName": "tenantml-churn-dev-drift",
    "AlarmDescription": "Feature drift of model churn above 0.2 (PSI)",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "OldStateValue": "OK",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [0.4123 (10/01/26 09:00:00)] was greater "
    "than the threshold (0.2) (minimum 1 datapoint for OK -> ALARM transition).",
    "StateChangeTime": "2026-01-10T09:00:00.000+0000",
    "Region": "EU (Ireland)",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:tenantml-churn-dev-drift",
    "Trigger": {
        "MetricName": "DriftScore",
        "Namespace": "TenantML/churn",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.2,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
        "Dimensions": [{"value": "churn", "name": "Tenant"}, {"value": "churn", "name": "Model"}],
    },
}


def _sns_event(*messages: str) -> SNSEvent:
    return SNSEvent(
        {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "Sns": {
                        "Message": m,
                        "MessageId": str(i),
                        "Subject": None,
                        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:tenantml-churn-dev-alarms",
                    },
                }
                for i, m in enumerate(messages)
            ]
        }
    )


def test_given_a_cloudwatch_message_when_parsed_then_metric_value_threshold_and_time_are_read():
    # when
    (note,) = alarm_notifications_from_sns(
        _sns_event(json.dumps(CLOUDWATCH_MESSAGE), "not json", '{"other": 1}')
    )

    # then
    assert (note.kind, note.metric_name, note.value, note.trigger.threshold) == (
        "drift",
        "DriftScore",
        0.4123,
        0.2,
    )
    assert note.retrains
    assert note.dimension("Model") == "churn" and note.dimension("ModelVersion") is None
    assert (
        note.changed_at_time is not None and note.changed_at_time.isoformat() == "2026-01-10T09:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("metric", "namespace", "kind", "retrains"),
    [
        ("DriftScore", "TenantML/churn", "drift", True),
        ("DriftScore", "TenantML", "drift", True),
        ("ErrorRate", "TenantML/churn", "error-rate", True),
        ("LatencyMs", "TenantML/churn", "latency", True),
        ("LiveQuality", "TenantML/churn", "quality", True),
        ("LiveQuality", "AWS/SageMaker", "platform", False),
        ("DriftScore", "TenantMLOther", "platform", False),
        ("Errors", "AWS/Lambda", "platform", False),
        ("ApproximateNumberOfMessagesVisible", "AWS/SQS", "platform", False),
        ("ErrorRate", "AWS/SageMaker", "platform", False),
    ],
)
def test_given_an_alarm_metric_when_classified_then_only_model_health_alarms_retrain(
    metric, namespace, kind, retrains
):
    # given
    message = {
        **CLOUDWATCH_MESSAGE,
        "Trigger": {**CLOUDWATCH_MESSAGE["Trigger"], "MetricName": metric, "Namespace": namespace},
    }

    # when
    note = AlarmNotification.model_validate(message)

    # then
    assert (note.kind, note.retrains) == (kind, retrains)


def test_given_redeliveries_and_a_new_transition_when_keyed_then_only_the_new_transition_differs():
    # given
    first = AlarmNotification.model_validate(CLOUDWATCH_MESSAGE)
    again = AlarmNotification.model_validate(dict(CLOUDWATCH_MESSAGE))
    later = AlarmNotification.model_validate(
        {**CLOUDWATCH_MESSAGE, "StateChangeTime": "2026-01-10T11:00:00.000+0000"}
    )
    ok = AlarmNotification.model_validate({**CLOUDWATCH_MESSAGE, "NewStateValue": "OK"})

    # then
    assert first.transition_key == again.transition_key
    assert len({first.transition_key, later.transition_key, ok.transition_key}) == 3


def test_given_an_alarm_alert_when_rendered_then_subject_body_and_attributes_carry_what_to_act_on():
    # given
    alert = AlarmAlert(
        tenant="churn",
        model_name="churn",
        version="3",
        alarm_name="tenantml-churn-dev-drift",
        kind="drift",
        title="feature drift",
        metric="DriftScore",
        value=0.4123,
        threshold=0.2,
        since="2026-01-10T09:00:00.000+0000",
        drifted_features=[("tenure", 0.41), ("monthly_charges", 0.27)],
        drift_threshold=0.2,
        action="retrain skipped: cooldown until 2026-01-10 10:00:00 UTC",
        report_uri="s3://tenantml-churn-dev-artifacts/reports/drift/churn/20260110T090000Z.html",
    )

    # when
    body = alert.body()

    # then
    assert alert.subject == "[tenantml] churn/churn v3: feature drift ALARM"
    assert "Metric:    DriftScore = 0.4123 (threshold 0.2)" in body
    assert "Since:     2026-01-10T09:00:00.000+0000" in body
    assert body.index("tenure") < body.index("monthly_charges")
    assert "PSI 0.410" in body
    assert "What the platform does: retrain skipped: cooldown until 2026-01-10 10:00:00 UTC" in body
    assert "Drift report: s3://tenantml-churn-dev-artifacts/reports/drift/churn/20260110T090000Z.html" in body
    assert "tenantml report --tenant churn" in body
    assert {k: v["StringValue"] for k, v in alert.attributes().items()} == {
        "tenantml.tenant": "churn",
        "tenantml.model": "churn",
        "tenantml.version": "3",
        "tenantml.metric": "DriftScore",
        "tenantml.state": "ALARM",
        "tenantml.alarm": "tenantml-churn-dev-drift",
    }


def test_given_a_very_long_model_name_when_the_subject_is_built_then_sns_limits_hold():
    # given
    alert = RecoveryAlert(
        tenant="t",
        model_name="m" * 200 + "é",
        version=None,
        alarm_name="a",
        metric="DriftScore",
        title="feature drift",
    )

    # then
    assert len(alert.subject) == 100
    assert all(32 <= ord(c) < 127 for c in alert.subject)


def test_given_a_cause_when_summarized_then_it_names_alarm_metric_value_time_and_features():
    # given
    cause = RetrainCause(
        alarm_name="tenantml-churn-dev-drift",
        metric="DriftScore",
        value=0.41,
        threshold=0.2,
        changed_at="2026-01-10T09:00:00.000+0000",
        version="3",
        drifted_features=["tenure"],
    )

    # then
    assert cause.summary() == (
        "alarm tenantml-churn-dev-drift: DriftScore=0.41 > 0.2 since "
        "2026-01-10T09:00:00.000+0000 on v3; drifted: tenure"
    )
