"""EventBridge input transformers as AWS applies them (the emulator's delivery of a rule's target input)."""

from __future__ import annotations

from tenantml.emulator.eventbridge import _target_input, transform

EVENT = {
    "source": "aws.sagemaker",
    "detail": {
        "ProcessingJobName": "tenantml-churn-dev-monitor-1",
        "FailureReason": 'AlgorithmError: "drift.py" crashed\nexit code 2',
        "ExitCode": 2,
    },
}
PATHS = {"job": "$.detail.ProcessingJobName", "reason": "$.detail.FailureReason", "code": "$.detail.ExitCode"}


def test_given_a_quoted_template_when_a_value_holds_quotes_and_newlines_then_the_message_is_that_text() -> (
    None
):
    message = transform('"Job <job> failed (exit <code>): <reason>"', PATHS, EVENT)

    assert (
        message
        == 'Job tenantml-churn-dev-monitor-1 failed (exit 2): AlgorithmError: "drift.py" crashed\nexit code 2'
    )


def test_given_a_json_template_and_a_missing_path_then_values_are_json_and_the_missing_one_empty() -> None:
    target = {
        "Arn": "arn:aws:sns:eu-west-1:123456789012:alerts",
        "InputTransformer": {
            "InputPathsMap": {**PATHS, "missing": "$.detail.Nothing"},
            "InputTemplate": '{"job": "<job>", "code": <code>, "note": "<missing>"}',
        },
    }

    assert _target_input(target, EVENT) == {"job": "tenantml-churn-dev-monitor-1", "code": 2, "note": ""}


def test_given_a_plain_text_template_then_it_is_sent_as_text() -> None:
    assert transform("Job <job> failed", PATHS, EVENT) == "Job tenantml-churn-dev-monitor-1 failed"
