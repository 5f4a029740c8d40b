"""A second emulator started and stopped in the same process leaves the first one's hooks working."""

from __future__ import annotations

import json

from wait_support import wait_until

from tenantml.emulator import server
from tenantml.emulator.session import AwsSession


def test_given_a_second_emulator_stopped_when_a_state_machine_calls_sns_then_it_reaches_the_running_one(
    emulator: server.EmulatorServer, aws: AwsSession
) -> None:
    # given: another in-process emulator came and went (the hooks followed it to its port)
    with server.running(0) as second:
        assert second.endpoint != emulator.endpoint

    # when: a state machine on the session's emulator runs an SNS task
    topic = aws.client("sns").create_topic(Name="hooks-after-second-server")["TopicArn"]
    definition = {
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message": "hello"},
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="hooks-after-second-server",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/any",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="first", input="{}")["executionArn"]

    # then: the task reached moto through a live endpoint and the execution succeeded
    described = wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=60,
        interval=0.1,
        message="the execution never ended",
    )
    assert described["status"] == "SUCCEEDED", sfn.get_execution_history(executionArn=execution)["events"][-1]
