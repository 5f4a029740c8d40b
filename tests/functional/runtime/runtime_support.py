"""Building small functions for the runtime's tests, and reading back what they did."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from tenantml.emulator.session import AwsSession

ROLE_NAME = "lambda-test-role"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def zip_dir(folder: Path) -> bytes:
    """The files under ``folder`` as a zip, paths relative to it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def handler_zip(tmp_path: Path, source: str, module: str = "app") -> bytes:
    """Write ``source`` as ``<module>.py`` in a fresh folder under ``tmp_path`` and zip it."""
    folder = tmp_path / f"code-{len(list(tmp_path.glob('code-*')))}"
    folder.mkdir()
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    return zip_dir(folder)


def role_arn(aws: AwsSession) -> str:
    iam = aws.client("iam")
    try:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


def create_function(
    aws: AwsSession,
    name: str,
    code: bytes,
    *,
    handler: str = "app.handler",
    timeout: int = 3,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> str:
    """Create a python3.12 function from ``code``; returns its ARN."""
    function = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn(aws),
        Handler=handler,
        Code={"ZipFile": code},
        Timeout=timeout,
        Environment={"Variables": env or {}},
        **kwargs,
    )
    return function["FunctionArn"]


def publish_handler_layer(aws: AwsSession, tmp_path: Path, handler: str = "monitor") -> str:
    """Publish the layer the project builds for ``lambdas/<handler>`` (aws_lambda_powertools, ...); its ARN.

    A function sees only its zip, its layers and the runtime's boto3, as on AWS: a handler using
    powertools needs this layer.
    """
    from infra.assets import build_lambda_layer

    layer = build_lambda_layer(handler, tmp_path / "layer-build")
    assert layer is not None, f"lambdas/{handler} needs no layer"
    published = aws.client("lambda").publish_layer_version(
        LayerName=f"{handler}-deps",
        Content={"ZipFile": layer.path.read_bytes()},
        CompatibleRuntimes=["python3.12"],
    )
    return published["LayerVersionArn"]


def create_queue(aws: AwsSession, name: str, **attributes: str) -> tuple[str, str]:
    """(url, arn) of a new SQS queue."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain_queue(aws: AwsSession, url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (received with all attributes, then deleted)."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def log_events(aws: AwsSession, group: str) -> list[dict[str, Any]]:
    """Every event of a log group, in time order (empty when the group does not exist)."""
    logs = aws.client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups"):
        return []
    found: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        found.extend(page["events"])
    return sorted(found, key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))


def _starts_invocation(message: str) -> bool:
    return (
        message.startswith("START RequestId: ")
        or message.startswith('{"time"')
        and '"platform.start"' in message
    )


def invocation_logs(aws: AwsSession, group: str) -> list[list[str]]:
    """The messages of each invocation, in the order the invocations ran.

    A log stream is one execution environment, which runs one invocation after another
    while warm: each stream is cut at its START lines.
    """
    streams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in log_events(aws, group):
        streams[event["logStreamName"]].append(event)
    invocations: list[list[dict[str, Any]]] = []
    for events in streams.values():
        for event in events:
            if (
                not invocations
                or invocations[-1][0]["logStreamName"] != event["logStreamName"]
                or _starts_invocation(event["message"])
            ):
                invocations.append([])
            invocations[-1].append(event)
    ordered = sorted(invocations, key=lambda events: events[0]["timestamp"])
    return [[e["message"] for e in events] for events in ordered]


def printed(aws: AwsSession, group: str, marker: str) -> list[Any]:
    """The JSON documents the handler printed as ``<marker> <json>``, in order."""
    prefix = f"{marker} "
    return [
        json.loads(line[len(prefix) :])
        for stream in invocation_logs(aws, group)
        for line in stream
        if line.startswith(prefix)
    ]
