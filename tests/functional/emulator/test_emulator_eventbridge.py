"""EventBridge in the emulator: SageMaker job state changes reach SNS, rules start state machines as their role."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_emulator_jobs import CLUSTER, REGION, _role
from wait_support import wait_until

from tenantml.emulator import eventbridge, iam_enforcement, jobs
from tenantml.emulator.eventbridge import Scheduler
from tenantml.emulator.images import push_local_image
from tenantml.emulator.session import AwsSession

REPOSITORY = "tenantml-events-test"


@pytest.fixture
def image(aws: AwsSession) -> Iterator[str]:
    runner = jobs.install(aws.endpoint, max_concurrent=2)
    try:
        ecr = aws.client("ecr")
        uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
        push_local_image(ecr, REPOSITORY, "1.0.0")
        yield f"{uri}:1.0.0"
        runner.wait_idle(30)
    finally:
        jobs.uninstall(timeout=10)


def _failing_job(aws: AwsSession, name: str, image: str, role: str) -> None:
    aws.client("sagemaker").create_processing_job(
        ProcessingJobName=name,
        RoleArn=role,
        AppSpecification={"ImageUri": image, "ContainerArguments": ["no-such-command"]},
        ProcessingResources=CLUSTER,
    )


def _allow_events(aws: AwsSession, topic: str, rule_arn: str) -> None:
    """The topic policy EventBridge needs to publish for ``rule_arn`` (the owner keeps its rights)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Owner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{aws.account_id}:root"},
                "Action": "sns:*",
                "Resource": topic,
            },
            {
                "Sid": "EventBridge",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            },
        ],
    }
    aws.client("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )


def _subscribed_topic(aws: AwsSession, name: str) -> tuple[str, str]:
    """A topic with an SQS subscriber (raw delivery): the topic ARN and the queue URL."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic, queue


def _drain(aws: AwsSession, queue: str) -> list[dict]:
    sqs, bodies = aws.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages],
        )
    return bodies


def test_a_failed_processing_job_matching_the_rule_delivers_exactly_one_event_through_sns(
    aws: AwsSession, image: str
) -> None:
    # given: a rule on failed processing jobs named tenantml-demo-*, targeting a topic with an SQS subscriber
    sns, sqs, events = aws.client("sns"), aws.client("sqs"), aws.client("events")
    topic = sns.create_topic(Name="job-failures")["TopicArn"]
    queue = sqs.create_queue(QueueName="job-failures-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobStatus": ["Failed"], "ProcessingJobName": [{"prefix": "tenantml-demo-"}]},
    }
    rule = events.put_rule(Name="demo-job-failed", EventPattern=json.dumps(pattern))["RuleArn"]
    _allow_events(aws, topic, rule)
    events.put_targets(Rule="demo-job-failed", Targets=[{"Id": "alerts", "Arn": topic}])
    role = _role(aws, "events-job-role", "sagemaker.amazonaws.com", ["s3:*", "ecr:BatchGetImage", "logs:*"])

    # when: a matching job and one of another name fail
    _failing_job(aws, "tenantml-demo-dev-prep-1", image, role)
    _failing_job(aws, "tenantml-other-dev-prep-1", image, role)
    jobs.installed_runner().wait_idle(120)  # type: ignore[union-attr]

    # then: exactly one event arrives, shaped as AWS documents it
    delivered = wait_until(
        lambda: _drain(aws, queue), timeout=30, interval=0.2, message="no event was delivered"
    )
    delivered += _drain(aws, queue)
    assert len(delivered) == 1, delivered
    (event,) = delivered
    assert (event["source"], event["detail-type"], event["region"]) == (
        "aws.sagemaker",
        "SageMaker Processing Job State Change",
        REGION,
    )
    detail = event["detail"]
    assert detail["ProcessingJobName"] == "tenantml-demo-dev-prep-1"
    assert detail["ProcessingJobStatus"] == "Failed"
    assert detail["FailureReason"].startswith("AlgorithmError:") and "exit code 2" in detail["FailureReason"]
    assert event["resources"] == [detail["ProcessingJobArn"]]
    assert detail["ProcessingJobArn"].endswith(":processing-job/tenantml-demo-dev-prep-1")
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")


def _machine(aws: AwsSession, name: str) -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    role = _role(aws, f"{name}-states", "states.amazonaws.com", ["sns:Publish"])
    return aws.client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]


def test_rules_start_executions_as_the_targets_role_which_must_allow_start_execution(
    aws: AwsSession, caplog: pytest.LogCaptureFixture
) -> None:
    # given: two machines, each the target of a schedule rule; only one target's role may start executions
    events, sfn = aws.client("events"), aws.client("stepfunctions")
    allowed, denied = _machine(aws, "scheduled-allowed"), _machine(aws, "scheduled-denied")
    starter = _role(aws, "events-starter", "events.amazonaws.com", ["states:StartExecution"])
    bystander = _role(aws, "events-bystander", "events.amazonaws.com", ["sns:Publish"])
    for rule, machine, role in (("every-5-minutes", allowed, starter), ("also-every-5", denied, bystander)):
        events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")
        events.put_targets(Rule=rule, Targets=[{"Id": "pipeline", "Arn": machine, "RoleArn": role}])
    # and a pattern rule on the allowed machine
    events.put_rule(Name="retrain-requests", EventPattern=json.dumps({"source": ["tenantml.retrain"]}))
    events.put_targets(
        Rule="retrain-requests", Targets=[{"Id": "pipeline", "Arn": allowed, "RoleArn": starter}]
    )
    scheduler = Scheduler()
    start = datetime.now(UTC)
    caplog.set_level(logging.WARNING, logger="tenantml.emulator.eventbridge")

    previous = iam_enforcement.set_enforced(True)
    try:
        # when: the schedule is first seen, then five minutes pass
        assert scheduler.tick(start) == 0
        assert scheduler.tick(start + timedelta(minutes=4)) == 0
        assert scheduler.tick(start + timedelta(minutes=5)) == 2

        # then: the allowed machine runs once with the scheduled event; the other target is refused
        (execution,) = wait_until(
            lambda: sfn.list_executions(stateMachineArn=allowed)["executions"],
            timeout=30,
            interval=0.1,
            message="the schedule never started an execution",
        )
        wait_until(
            lambda: any(
                "AccessDeniedException" in r.getMessage() and "events-bystander" in r.getMessage()
                for r in caplog.records
            ),
            timeout=30,
            interval=0.1,
            message="the refused delivery was never reported",
        )
        scheduled = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        assert (scheduled["source"], scheduled["detail-type"]) == ("aws.events", "Scheduled Event")
        assert scheduled["resources"] == [f"arn:aws:events:{REGION}:{aws.account_id}:rule/every-5-minutes"]
        assert sfn.list_executions(stateMachineArn=denied)["executions"] == []
        assert f"states:StartExecution on resource: {denied}" in caplog.text

        # when: a matching event is put on the default bus
        events.put_events(
            Entries=[
                {"Source": "tenantml.retrain", "DetailType": "Retrain Requested", "Detail": '{"model": "m"}'}
            ]
        )
    finally:
        iam_enforcement.set_enforced(previous)

    # then: a second execution starts, with the event as its input
    executions = wait_until(
        lambda: (
            (found := sfn.list_executions(stateMachineArn=allowed)["executions"])
            and len(found) == 2
            and found
        ),
        timeout=30,
        interval=0.1,
        message="the pattern rule never started an execution",
    )
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    assert {"model": "m"} in [i["detail"] for i in inputs]


def test_a_topic_is_delivered_to_only_when_its_policy_lets_eventbridge_publish_for_the_rule(
    aws: AwsSession,
) -> None:
    # given: one rule targeting three topics: one allowing this rule, one with the default policy,
    # one allowing another rule only
    events = aws.client("events")
    rule = events.put_rule(Name="retrain-requested", EventPattern=json.dumps({"source": ["tenantml.test"]}))[
        "RuleArn"
    ]
    allowed, allowed_queue = _subscribed_topic(aws, "events-allowed")
    default, default_queue = _subscribed_topic(aws, "events-default-policy")
    other, other_queue = _subscribed_topic(aws, "events-other-rule")
    _allow_events(aws, allowed, rule)
    _allow_events(aws, other, rule.replace("retrain-requested", "some-other-rule"))
    events.put_targets(
        Rule="retrain-requested",
        Targets=[{"Id": f"t{i}", "Arn": arn} for i, arn in enumerate((allowed, default, other))],
    )

    # when: a matching event is put
    events.put_events(Entries=[{"Source": "tenantml.test", "DetailType": "Test", "Detail": '{"n": 1}'}])

    # then: only the allowed topic's subscriber gets it; the two refused deliveries are counted
    delivered = wait_until(lambda: _drain(aws, allowed_queue), timeout=30, interval=0.2, message="none")
    assert [event["detail"] for event in delivered] == [{"n": 1}]
    wait_until(lambda: eventbridge.failed_invocations(rule) == 2, timeout=30, interval=0.1)
    assert _drain(aws, default_queue) == [] and _drain(aws, other_queue) == []


def test_a_schedule_rule_receives_only_its_schedule_not_the_events_put_on_its_bus(aws: AwsSession) -> None:
    # given: a schedule rule and a pattern rule, each targeting its own topic
    events = aws.client("events")
    scheduled_topic, scheduled_queue = _subscribed_topic(aws, "events-scheduled")
    pattern_topic, pattern_queue = _subscribed_topic(aws, "events-pattern")
    for name, topic, rule in (
        ("every-hour", scheduled_topic, {"ScheduleExpression": "rate(1 hour)"}),
        ("on-test", pattern_topic, {"EventPattern": json.dumps({"source": ["tenantml.test"]})}),
    ):
        arn = events.put_rule(Name=name, **rule)["RuleArn"]
        _allow_events(aws, topic, arn)
        events.put_targets(Rule=name, Targets=[{"Id": "topic", "Arn": topic}])

    # when: an event is put on the default bus
    events.put_events(Entries=[{"Source": "tenantml.test", "DetailType": "Test", "Detail": "{}"}])

    # then: the pattern rule delivers it, the schedule rule does not
    delivered = wait_until(lambda: _drain(aws, pattern_queue), timeout=30, interval=0.2, message="none")
    assert [event["source"] for event in delivered] == ["tenantml.test"]
    assert _drain(aws, scheduled_queue) == []

    # when: its schedule fires; then it delivers its own scheduled event
    scheduler, start = Scheduler(), datetime.now(UTC)
    assert scheduler.tick(start) == 0
    assert scheduler.tick(start + timedelta(hours=1)) == 1
    delivered = wait_until(lambda: _drain(aws, scheduled_queue), timeout=30, interval=0.2, message="none")
    assert [event["detail-type"] for event in delivered] == ["Scheduled Event"]
