"""``aws_cloudwatch_event_rule`` and ``aws_cloudwatch_event_target`` applied to the emulator's EventBridge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import EmulatorApplyError
from core.terraform.diff import Action
from tenantml.emulator import commands
from tenantml.emulator.session import AwsSession
from tenantml.emulator.state import load_state

TENANT = "eventsapply"
RULE = "tenantml-eventsapply-dev-job-failed"
RULE_ADDRESS = "aws_cloudwatch_event_rule.job_failed"
TARGET_ADDRESS = "aws_cloudwatch_event_target.job_failed"


def _pattern(prefix: str) -> str:
    return json.dumps(
        {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Processing Job State Change"],
            "detail": {"ProcessingJobStatus": ["Failed"], "ProcessingJobName": [{"prefix": prefix}]},
        }
    )


def _stack(pattern: str) -> dict:
    return {
        "terraform": {"required_providers": {"aws": {"source": "aws", "version": "~> 6.0"}}},
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_sns_topic": {"alerts": {"name": "tenantml-eventsapply-dev-alerts"}},
            "aws_sqs_queue": {"dead_letters": {"name": "tenantml-eventsapply-dev-event-dlq"}},
            "aws_cloudwatch_event_rule": {
                "job_failed": {
                    "name": RULE,
                    "description": "failed monitoring jobs",
                    "event_pattern": pattern,
                    "state": "ENABLED",
                    "tags": {"component": "alerts"},
                }
            },
            "aws_cloudwatch_event_target": {
                "job_failed": {
                    "rule": "${aws_cloudwatch_event_rule.job_failed.name}",
                    "target_id": "alerts",
                    "arn": "${aws_sns_topic.alerts.arn}",
                    "input_transformer": {
                        "input_paths": {"job": "$.detail.ProcessingJobName"},
                        "input_template": '"Job <job> failed"',
                    },
                    "dead_letter_config": {"arn": "${aws_sqs_queue.dead_letters.arn}"},
                    "retry_policy": {"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 5},
                }
            },
        },
        "output": {"rule_arn": {"value": "${aws_cloudwatch_event_rule.job_failed.arn}"}},
    }


def _write(out_dir: Path, document: dict) -> None:
    stack_dir = out_dir / "stacks" / TENANT
    stack_dir.mkdir(parents=True, exist_ok=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cdktf.out", tmp_path / "state"


def _changes(out_dir: Path, state_dir: Path, aws: AwsSession) -> list[tuple[str, Action]]:
    (planned,) = commands.plan_tenants(out_dir, [TENANT], state_dir, aws)
    return [(c.address, c.action) for c in planned.plan.changes if c.action != Action.NOOP]


def test_a_rule_and_its_sns_target_apply_update_in_place_are_recreated_and_destroy(
    aws: AwsSession, dirs: tuple[Path, Path]
) -> None:
    out_dir, state_dir = dirs
    events = aws.client("events")

    # given: the stack applied
    _write(out_dir, _stack(_pattern("tenantml-eventsapply-dev-monitor-")))
    (applied,) = commands.apply_tenants(out_dir, [TENANT], state_dir, aws)

    # then: the rule and its target exist as configured
    arn = applied.result.outputs["rule_arn"]
    assert arn == f"arn:aws:events:eu-west-1:{aws.account_id}:rule/{RULE}"
    rule = events.describe_rule(Name=RULE)
    assert (rule["State"], rule["Description"]) == ("ENABLED", "failed monitoring jobs")
    assert json.loads(rule["EventPattern"]) == json.loads(_pattern("tenantml-eventsapply-dev-monitor-"))
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "component", "Value": "alerts"}]
    state = load_state(state_dir / f"{TENANT}.json")
    topic = state.get("aws_sns_topic.alerts").attributes["arn"]
    (target,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert target["Id"] == "alerts" and target["Arn"] == topic
    assert target["InputTransformer"] == {
        "InputPathsMap": {"job": "$.detail.ProcessingJobName"},
        "InputTemplate": '"Job <job> failed"',
    }
    assert target["DeadLetterConfig"]["Arn"] == state.get("aws_sqs_queue.dead_letters").attributes["arn"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 5}
    assert state.get(TARGET_ADDRESS).attributes["id"] == f"{RULE}-alerts"
    assert _changes(out_dir, state_dir, aws) == []

    # when: the pattern changes
    _write(out_dir, _stack(_pattern("tenantml-eventsapply-dev-drift-")))

    # then: exactly the rule is updated in place, keeping its target
    assert _changes(out_dir, state_dir, aws) == [(RULE_ADDRESS, Action.UPDATE)]
    commands.apply_tenants(out_dir, [TENANT], state_dir, aws)
    assert json.loads(events.describe_rule(Name=RULE)["EventPattern"]) == json.loads(
        _pattern("tenantml-eventsapply-dev-drift-")
    )
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=RULE)["Targets"]] == ["alerts"]

    # when: the target and the rule are deleted behind the engine's back
    events.remove_targets(Rule=RULE, Ids=["alerts"])
    events.delete_rule(Name=RULE)

    # then: the plan creates both again, and so does the apply
    assert sorted(_changes(out_dir, state_dir, aws)) == [
        (RULE_ADDRESS, Action.CREATE),
        (TARGET_ADDRESS, Action.CREATE),
    ]
    commands.apply_tenants(out_dir, [TENANT], state_dir, aws)
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=RULE)["Targets"]] == ["alerts"]
    assert _changes(out_dir, state_dir, aws) == []

    # when: destroyed; then nothing is left
    commands.destroy_tenants(out_dir, [TENANT], state_dir, aws)
    assert events.list_rules(NamePrefix="tenantml-eventsapply")["Rules"] == []
    assert load_state(state_dir / f"{TENANT}.json").entries == {}


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ('{"source": "aws.sagemaker"}', "'source' must be an object or an array"),
        ('{"source": ["aws.sagemaker"]', "Invalid JSON"),
    ],
)
def test_an_invalid_pattern_fails_the_apply_naming_the_rule_and_leaves_nothing_behind(
    aws: AwsSession, dirs: tuple[Path, Path], pattern: str, reason: str
) -> None:
    out_dir, state_dir = dirs
    _write(out_dir, _stack(pattern))

    with pytest.raises(EmulatorApplyError) as failed:
        commands.apply_tenants(out_dir, [TENANT], state_dir, aws)

    assert failed.value.address == RULE_ADDRESS
    assert f"{RULE_ADDRESS}: create failed: InvalidEventPatternException" in str(failed.value)
    assert reason in str(failed.value)
    state = load_state(state_dir / f"{TENANT}.json")
    assert RULE_ADDRESS not in state.entries and TARGET_ADDRESS not in state.entries
    assert aws.client("events").list_rules(NamePrefix="tenantml-eventsapply")["Rules"] == []
