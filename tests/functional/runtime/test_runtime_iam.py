"""With IAM enforced, a function's calls are checked against its execution role."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from runtime_support import ROLE_NAME, create_function, handler_zip, role_arn

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import AwsSession

REGION = "eu-west-1"

WRITER = """
    import boto3
    from botocore.exceptions import ClientError

    def handler(event, context):
        s3 = boto3.client("s3")
        outcome = {}
        for bucket in event["buckets"]:
            try:
                s3.put_object(Bucket=bucket, Key="k", Body=b"v")
                outcome[bucket] = "ok"
            except ClientError as err:
                outcome[bucket] = err.response["Error"]["Code"]
        outcome["caller"] = boto3.client("sts").get_caller_identity()["Arn"]
        return outcome
"""


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def test_given_iam_enforced_when_a_function_writes_then_only_what_its_role_grants_is_allowed(
    enforced, lambda_runtime, tmp_path
):
    # given two buckets and a function whose role may write only the first
    s3 = enforced.client("s3")
    for bucket in ("own-bucket", "other-bucket"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    role_arn(enforced)
    enforced.client("iam").put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="own-bucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::own-bucket/*"}
                ],
            }
        ),
    )
    create_function(enforced, "writer", handler_zip(tmp_path, WRITER), timeout=20)

    # when it is invoked
    response = enforced.client("lambda").invoke(
        FunctionName="writer", Payload=json.dumps({"buckets": ["own-bucket", "other-bucket"]})
    )
    body = json.loads(response["Payload"].read())

    # then it acts as its role: its bucket is written, the other is AccessDenied
    assert "FunctionError" not in response, body
    assert body["own-bucket"] == "ok"
    assert body["other-bucket"] == "AccessDenied"
    assert f":assumed-role/{ROLE_NAME}/writer" in body["caller"]
