"""``aws_sfn_state_machine`` applied to the emulator: it runs, updates in place, is refreshed, and a bad definition fails cleanly."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from wait_support import wait_until

from core.errors import EmulatorApplyError
from core.terraform.diff import Action
from tenantml.emulator import commands
from tenantml.emulator.session import AwsSession
from tenantml.emulator.state import load_state

TENANT = "sfnapply"
MACHINE = "tenantml-sfnapply-dev-pipeline"
ADDRESS = "aws_sfn_state_machine.pipeline"


def _definition(greeting: str) -> str:
    """A Pass state carrying the topic's ARN (an interpolation the engine resolves), then a publish."""
    return json.dumps(
        {
            "StartAt": "Greet",
            "States": {
                "Greet": {
                    "Type": "Pass",
                    "Result": {"greeting": greeting, "topic": "${aws_sns_topic.alerts.arn}"},
                    "ResultPath": "$.greet",
                    "Next": "Publish",
                },
                "Publish": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {"TopicArn.$": "$.greet.topic", "Message.$": "$.greet.greeting"},
                    "ResultPath": None,
                    "End": True,
                },
            },
        }
    )


def _stack(definition: str) -> dict:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": "${aws_sns_topic.alerts.arn}"}
        ],
    }
    return {
        "terraform": {"required_providers": {"aws": {"source": "aws", "version": "~> 6.0"}}},
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_sns_topic": {"alerts": {"name": "tenantml-sfnapply-dev-alerts"}},
            "aws_iam_role": {
                "machine": {"name": "tenantml-sfnapply-dev-states", "assume_role_policy": json.dumps(trust)}
            },
            "aws_iam_role_policy": {
                "machine": {
                    "name": "publish",
                    "role": "${aws_iam_role.machine.name}",
                    "policy": json.dumps(policy),
                }
            },
            "aws_cloudwatch_log_group": {"machine": {"name": "/aws/vendedlogs/states/" + MACHINE}},
            "aws_sfn_state_machine": {
                "pipeline": {
                    "name": MACHINE,
                    "role_arn": "${aws_iam_role.machine.arn}",
                    "definition": definition,
                    "type": "STANDARD",
                    "logging_configuration": {
                        "level": "ERROR",
                        "include_execution_data": True,
                        "log_destination": "${aws_cloudwatch_log_group.machine.arn}:*",
                    },
                    "tracing_configuration": {"enabled": False},
                    "tags": {"component": "pipeline"},
                    "depends_on": ["aws_iam_role_policy.machine"],
                }
            },
        },
        "output": {"pipeline_arn": {"value": "${aws_sfn_state_machine.pipeline.arn}"}},
    }


def _write(out_dir: Path, document: dict) -> None:
    stack_dir = out_dir / "stacks" / TENANT
    stack_dir.mkdir(parents=True, exist_ok=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cdktf.out", tmp_path / "state"


def _execute(aws: AwsSession, machine_arn: str, name: str) -> dict:
    sfn = aws.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=name, input="{}")["executionArn"]
    return wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=60,
        interval=0.1,
        message=f"execution {name} never ended",
    )


def test_a_state_machine_applied_runs_updates_in_place_and_is_recreated_when_deleted_behind_the_engine(
    aws: AwsSession, dirs: tuple[Path, Path]
) -> None:
    out_dir, state_dir = dirs
    sfn = aws.client("stepfunctions")

    # given: the stack applied
    _write(out_dir, _stack(_definition("hello")))
    (applied,) = commands.apply_tenants(out_dir, [TENANT], state_dir, aws)
    arn = applied.result.outputs["pipeline_arn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    topic = load_state(state_dir / f"{TENANT}.json").get("aws_sns_topic.alerts").attributes["arn"]

    # then: the machine exists as configured, its definition's interpolation resolved, and it runs
    assert arn == f"arn:aws:states:eu-west-1:{aws.account_id}:stateMachine:{MACHINE}"
    assert json.loads(described["definition"])["States"]["Greet"]["Result"]["topic"] == topic
    assert described["roleArn"].endswith(":role/tenantml-sfnapply-dev-states")
    assert described["type"] == "STANDARD"
    assert described["loggingConfiguration"]["level"] == "ERROR"
    assert described["loggingConfiguration"]["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"] == (
        f"arn:aws:logs:eu-west-1:{aws.account_id}:log-group:/aws/vendedlogs/states/{MACHINE}:*"
    )
    assert {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]} == {
        "component": "pipeline"
    }
    assert _execute(aws, arn, "first")["status"] == "SUCCEEDED"

    # when: the definition changes in the document
    _write(out_dir, _stack(_definition("bonjour")))
    (planned,) = commands.plan_tenants(out_dir, [TENANT], state_dir, aws)

    # then: exactly the machine is updated in place, and applying it changes the running definition
    assert [(c.address, c.action) for c in planned.plan.changes if c.action != Action.NOOP] == [
        (ADDRESS, Action.UPDATE)
    ]
    (updated,) = commands.apply_tenants(out_dir, [TENANT], state_dir, aws)
    assert updated.result.outputs["pipeline_arn"] == arn
    greeting = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert greeting["States"]["Greet"]["Result"]["greeting"] == "bonjour"
    second = _execute(aws, arn, "second")
    assert second["status"] == "SUCCEEDED"
    assert json.loads(second["output"])["greet"]["greeting"] == "bonjour"

    # when: the machine is deleted behind the engine's back
    sfn.delete_state_machine(stateMachineArn=arn)
    (refreshed,) = commands.plan_tenants(out_dir, [TENANT], state_dir, aws)

    # then: the plan creates it again, and so does the apply
    assert [(c.address, c.action) for c in refreshed.plan.changes if c.action != Action.NOOP] == [
        (ADDRESS, Action.CREATE)
    ]
    commands.apply_tenants(out_dir, [TENANT], state_dir, aws)
    assert sfn.describe_state_machine(stateMachineArn=arn)["status"] == "ACTIVE"
    (again,) = commands.plan_tenants(out_dir, [TENANT], state_dir, aws)
    assert not again.plan.has_changes, commands.render_plan(again)


def test_a_definition_the_parser_rejects_fails_the_apply_naming_the_machine_and_leaves_nothing_behind(
    aws: AwsSession, dirs: tuple[Path, Path]
) -> None:
    out_dir, state_dir = dirs
    broken = json.dumps({"StartAt": "Only", "States": {"Only": {"Type": "Wat", "End": True}}})
    _write(out_dir, _stack(broken))

    with pytest.raises(EmulatorApplyError) as failed:
        commands.apply_tenants(out_dir, [TENANT], state_dir, aws)

    assert failed.value.address == ADDRESS
    assert f"{ADDRESS}: create failed: InvalidDefinition" in str(failed.value)
    state = load_state(state_dir / f"{TENANT}.json")
    assert ADDRESS not in state.entries
    assert "aws_iam_role.machine" in state.entries  # what did get created is recorded
    assert aws.client("stepfunctions").list_state_machines()["stateMachines"] == []


def test_an_express_machine_is_refused_with_the_field_named(aws: AwsSession, dirs: tuple[Path, Path]) -> None:
    out_dir, state_dir = dirs
    document = _stack(_definition("hello"))
    express = copy.deepcopy(document)
    express["resource"]["aws_sfn_state_machine"]["pipeline"]["type"] = "EXPRESS"
    _write(out_dir, express)

    with pytest.raises(EmulatorApplyError, match=r"type = 'EXPRESS': the emulator runs only STANDARD"):
        commands.apply_tenants(out_dir, [TENANT], state_dir, aws)

    assert aws.client("stepfunctions").list_state_machines()["stateMachines"] == []
