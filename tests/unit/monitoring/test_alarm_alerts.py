"""Alarm notifications and the alert text built from them: pure functions, no AWS."""

from __future__ import annotations

from pipelines.monitoring.alerts import AlarmAlert, RecoveryAlert
from pipelines.runs.retraining import RetrainCause


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
