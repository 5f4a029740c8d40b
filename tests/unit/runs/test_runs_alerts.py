"""Run-failure alerts: what a person reads in the e-mail, and what a machine routes on."""

from __future__ import annotations

from pipelines.monitoring.alerts import RunFailureAlert


def _alert(**overrides) -> RunFailureAlert:
    values = {
        "tenant": "churn",
        "model_name": "churn",
        "run_id": "20250602T060000Z-0123456789ab",
        "step": "validate",
        "reason": "dataset s3://d/incoming/x.csv failed 1 check(s) for model 'churn' (1 problem(s)):\n"
        "  - s3://d/incoming/x.csv: column 'target': min_classes: 1 distinct class(es)",
        "data_uri": "s3://d/incoming/x.csv",
        "run_record_uri": "s3://a/runs/20250602T060000Z-0123456789ab/run.json",
        "report_uri": "s3://a/runs/20250602T060000Z-0123456789ab/validation/validation_report.html",
        "log_uri": "s3://a/runs/20250602T060000Z-0123456789ab/logs/validate.log",
    }
    return RunFailureAlert(**{**values, **overrides})


def test_the_body_says_what_failed_why_what_to_do_and_where_to_look():
    body = _alert().body()
    assert body.startswith(
        "Pipeline run 20250602T060000Z-0123456789ab of model 'churn' (tenant churn) failed in step validate."
    )
    assert "  - s3://d/incoming/x.csv: column 'target': min_classes: 1 distinct class(es)" in body
    assert "What to do: The data failed its checks (see the validation report)" in body
    assert "Report:     s3://a/runs/20250602T060000Z-0123456789ab/validation/validation_report.html" in body
    assert "Step log:   s3://a/runs/20250602T060000Z-0123456789ab/logs/validate.log" in body
    assert "Run record: s3://a/runs/20250602T060000Z-0123456789ab/run.json" in body


def test_a_training_crash_suggests_a_retry_command_with_the_data():
    body = _alert(step="train", reason="MemoryError: killed").body()
    assert "`tenantml train --tenant churn --data s3://d/incoming/x.csv`" in body


def test_the_subject_fits_sns_limits():
    subject = _alert(tenant="t" * 20, model_name="m" * 31, run_id="r" * 60, step="register").subject
    assert len(subject) <= 100
    assert all(32 <= ord(c) < 127 for c in subject)
    assert _alert().subject == "tenantml churn/churn: run 20250602T060000Z-0123456789ab failed at validate"


def test_message_attributes_carry_the_routing_fields():
    attributes = _alert(step=None).attributes()
    assert attributes["tenantml.tenant"] == {"DataType": "String", "StringValue": "churn"}
    assert attributes["tenantml.step"]["StringValue"] == "none"
    assert set(attributes) == {"tenantml.tenant", "tenantml.model", "tenantml.run_id", "tenantml.step"}
