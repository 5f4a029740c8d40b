"""Kinesis' CBOR protocol under IAM enforcement: signed and authorized like the JSON protocol.

The CBOR middleware hands moto a JSON body that the client never signed, so the signature is
checked over the CBOR body the client sent: an unknown key, a wrong secret or a role without the
permission on the stream is denied exactly as a JSON request would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import cbor2
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tenantml.emulator import iam_enforcement
from tenantml.emulator.kinesis_cbor import CBOR_CONTENT_TYPE
from tenantml.emulator.session import ADMIN_USER_NAME, EMULATOR_ACCOUNT_ID, AwsSession

REGION = "eu-west-1"
STREAM = "churn-log"


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    """The emptied emulator with IAM enforced, one stream, and the default account's administrator."""
    previous = iam_enforcement.set_enforced(True)
    try:
        iam_enforcement.ensure_admin(EMULATOR_ACCOUNT_ID)
        aws.client("kinesis", REGION).create_stream(StreamName=STREAM, ShardCount=1)
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _role_credentials(admin: AwsSession, name: str, actions: list[str]) -> Credentials:
    """Credentials from the emulator's STS for a role allowed ``actions`` on the stream only."""
    iam = admin.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{admin.account_id}:user/{ADMIN_USER_NAME}"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    stream_arn = f"arn:aws:kinesis:{REGION}:{admin.account_id}:stream/{STREAM}"
    grants = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": stream_arn}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(grants))
    answer = admin.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")["Credentials"]
    return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])


def _cbor(endpoint: str, operation: str, document: dict, credentials: Credentials) -> tuple[int, dict]:
    """A CBOR Kinesis request signed with ``credentials``, as the AWS SDK for Java sends it."""
    body = cbor2.dumps(document)
    headers = {"Content-Type": CBOR_CONTENT_TYPE, "X-Amz-Target": f"Kinesis_20131202.{operation}"}
    request = AWSRequest(method="POST", url=f"{endpoint}/", data=body, headers=headers)
    SigV4Auth(credentials, "kinesis", REGION).add_auth(request)
    answer = urllib3.request("POST", f"{endpoint}/", body=body, headers=dict(request.headers.items()))
    return answer.status, cbor2.loads(answer.data) if answer.data else {}


def _put(endpoint: str, credentials: Credentials) -> tuple[int, dict]:
    return _cbor(
        endpoint, "PutRecord", {"StreamName": STREAM, "Data": b"\x00log", "PartitionKey": "p"}, credentials
    )


def _iterator(admin: AwsSession) -> str:
    kinesis = admin.client("kinesis", REGION)
    shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    return kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]


def _records(admin: AwsSession) -> list[bytes]:
    answer = admin.client("kinesis", REGION).get_records(ShardIterator=_iterator(admin))
    return [r["Data"] for r in answer["Records"]]


def test_a_cbor_put_signed_by_an_unknown_key_is_rejected(enforced: AwsSession) -> None:
    # when
    status, error = _put(enforced.endpoint, Credentials("AKIAUNKNOWN000000000", "whatever"))

    # then: moto's error for an unknown key (an XML document) arrives as a CBOR error document
    assert (status, error["__type"]) == (403, "InvalidClientTokenId")
    assert _records(enforced) == []


def test_a_cbor_put_signed_with_a_wrong_secret_is_rejected(enforced: AwsSession) -> None:
    # given a known key (the role's) and a secret that is not its own
    good = _role_credentials(enforced, "churn-logger", ["kinesis:PutRecord"])
    forged = Credentials(good.access_key, "not-the-secret", good.token)

    # when
    status, error = _put(enforced.endpoint, forged)

    # then
    assert status == 403
    assert "SignatureDoesNotMatch" in error["__type"]
    assert _records(enforced) == []


def test_a_cbor_put_by_a_role_is_allowed_only_with_kinesis_put_record_on_the_stream(
    enforced: AwsSession,
) -> None:
    # given two roles: one granted PutRecord on the stream, one granted only reads
    writer = _role_credentials(enforced, "churn-writer", ["kinesis:PutRecord"])
    reader = _role_credentials(enforced, "churn-reader", ["kinesis:DescribeStream"])

    # when
    allowed = _put(enforced.endpoint, writer)
    denied = _put(enforced.endpoint, reader)

    # then
    assert allowed[0] == 200 and allowed[1]["ShardId"].startswith("shardId-")
    assert denied[0] == 400 and denied[1]["__type"] == "AccessDeniedException"  # as on the JSON path
    assert "kinesis:PutRecord" in denied[1]["message"]
    assert _records(enforced) == [b"\x00log"]


def test_cbor_get_records_by_a_role_needs_kinesis_get_records(enforced: AwsSession) -> None:
    # given a record on the stream, a role that may read it and one that may only write
    enforced.client("kinesis", REGION).put_record(StreamName=STREAM, Data=b"\x01x", PartitionKey="p")
    reader = _role_credentials(enforced, "churn-monitor", ["kinesis:GetRecords"])
    writer = _role_credentials(enforced, "churn-logger", ["kinesis:PutRecord"])
    iterator = _iterator(enforced)

    # when
    allowed = _cbor(enforced.endpoint, "GetRecords", {"ShardIterator": iterator}, reader)
    denied = _cbor(enforced.endpoint, "GetRecords", {"ShardIterator": iterator}, writer)

    # then: the record comes back as a CBOR byte string to the reader only
    assert allowed[0] == 200 and [r["Data"] for r in allowed[1]["Records"]] == [b"\x01x"]
    assert denied[0] == 400 and denied[1]["__type"] == "AccessDeniedException"  # as on the JSON path
