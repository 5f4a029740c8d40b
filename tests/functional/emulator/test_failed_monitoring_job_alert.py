"""In an applied tenant stack, a failed monitoring job reaches the people subscribed to ``alerts``, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_emulator_eventbridge import _failing_job
from wait_support import wait_until

from tenantml.emulator import commands, eventbridge, jobs
from tenantml.emulator.images import push_local_image
from tenantml.emulator.session import AwsSession

REPOSITORY = "tenantml-monitor-alert-test"


def _drain(aws: AwsSession, queue: str) -> list[str]:
    """The raw message bodies waiting in ``queue`` (an alert is plain text, not JSON)."""
    sqs, bodies = aws.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages],
        )
    return bodies


@pytest.fixture
def applied(aws: AwsSession, out_dir: Path, tmp_path: Path) -> Iterator[dict]:
    """churn applied, an image to run jobs from, and an SQS queue subscribed (raw) to its alerts topic."""
    (tenant,) = commands.apply_tenants(out_dir, ["churn"], tmp_path / "state", aws)
    outputs = dict(tenant.outputs)
    runner = jobs.install(aws.endpoint, max_concurrent=2)
    try:
        ecr, sqs = aws.client("ecr"), aws.client("sqs")
        uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
        push_local_image(ecr, REPOSITORY, "1.0.0")
        queue = sqs.create_queue(QueueName="churn-alerts-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        aws.client("sns").subscribe(
            TopicArn=outputs["alerts_topic_arn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        yield {**outputs, "image": f"{uri}:1.0.0", "queue": queue}
        runner.wait_idle(30)
    finally:
        jobs.uninstall(timeout=10)


def test_a_failed_monitoring_job_sends_one_readable_alert_and_another_failed_job_none(
    aws: AwsSession, applied: dict
) -> None:
    # given: the stack's rule (its prefix is the tenant's monitoring jobs)
    events = aws.client("events")
    (rule,) = events.list_rules(NamePrefix="tenantml-churn-")["Rules"]
    prefix = "tenantml-churn-dev-monitor-"
    role = applied["training_role_arn"]

    # when: a monitoring job and a job of another name fail
    _failing_job(aws, f"{prefix}drift-1", applied["image"], role)
    _failing_job(aws, "tenantml-churn-dev-validate-1", applied["image"], role)
    jobs.installed_runner().wait_idle(120)  # type: ignore[union-attr]

    # then: exactly one message reaches the subscriber, naming the job and why it failed
    delivered = wait_until(
        lambda: _drain(aws, applied["queue"]), timeout=30, interval=0.2, message="no alert was delivered"
    )
    delivered += _drain(aws, applied["queue"])
    assert len(delivered) == 1, delivered
    (message,) = delivered
    assert message.startswith(f"tenantml churn (dev): monitoring job {prefix}drift-1 failed at ")
    assert "AlgorithmError:" in message and "exit code 2" in message
    assert f":processing-job/{prefix}drift-1" in message
    assert eventbridge.failed_invocations(rule["Arn"]) == 0
