"""Kinesis, SNS and SQS use a KMS-encrypted resource's key as the caller, as on AWS.

moto 5.2.5 never asks: a role allowed ``kinesis:PutRecord`` wrote to a KMS-encrypted stream
without any right on its key. Each service's denial has its own error (Kinesis
``KMSAccessDeniedException``, SNS ``KMSAccessDenied``, SQS ``KMS.AccessDeniedException``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, AwsSession

REGION = "eu-west-1"
ACCOUNT = EMULATOR_ACCOUNT_ID
KEY_USE = ["kms:GenerateDataKey", "kms:Decrypt"]


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    previous = iam_enforcement.set_enforced(True)
    try:
        iam_enforcement.ensure_admin(ACCOUNT)
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _key(admin: AwsSession, *extra: dict, alias: str | None = None) -> str:
    """A key with AWS's default policy (the account root delegates to IAM), plus ``extra`` statements."""
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    kms = admin.client("kms", REGION)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [root, *extra]})
    arn = kms.create_key(Policy=policy)["KeyMetadata"]["Arn"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn


def _role(admin: AwsSession, name: str, statements: list[dict]) -> str:
    iam = admin.client("iam")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="grants",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return arn


def _client(admin: AwsSession, role_arn: str, service: str):
    creds = iam_enforcement.role_credentials(role_arn, "test", REGION)
    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(service, endpoint_url=admin.endpoint)


def _error(call) -> tuple[int, dict]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]


def _denial(role: str, action: str, key: str) -> str:
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/test"
    return (
        f"User: {session} is not authorized to perform: {action} on resource: {key} "
        f"because no identity-based policy allows the {action} action"
    )


# --- Kinesis ---------------------------------------------------------------------------------


def _streams(admin: AwsSession, key: str) -> tuple[str, str]:
    kinesis = admin.client("kinesis", REGION)
    arns = []
    for name in ("encrypted", "plain"):
        kinesis.create_stream(StreamName=name, ShardCount=1)
        arns.append(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"])
    kinesis.start_stream_encryption(StreamName="encrypted", EncryptionType="KMS", KeyId=key)
    return arns[0], arns[1]


def _read_one(kinesis, stream: str) -> list[dict]:
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return kinesis.get_records(ShardIterator=iterator)["Records"]


def test_kinesis_producers_need_generate_data_key_and_consumers_decrypt_on_the_streams_key(enforced) -> None:
    # given a KMS-encrypted stream and a plain one, and roles allowed to write and read both:
    # one without any right on the key, one with it
    key = _key(enforced)
    encrypted, plain = _streams(enforced, key)
    stream_use = {
        "Effect": "Allow",
        "Action": [
            "kinesis:PutRecord",
            "kinesis:PutRecords",
            "kinesis:GetShardIterator",
            "kinesis:GetRecords",
        ],
        "Resource": [encrypted, plain],
    }
    without = _client(enforced, _role(enforced, "without-key", [stream_use]), "kinesis")
    key_use = {"Effect": "Allow", "Action": KEY_USE, "Resource": key}
    with_key = _client(enforced, _role(enforced, "with-key", [stream_use, key_use]), "kinesis")

    # when the role without the key writes to the encrypted stream, then Kinesis denies it, naming the key use
    status, error = _error(lambda: without.put_record(StreamName="encrypted", Data=b"x", PartitionKey="p"))
    assert (status, error["Code"]) == (400, "KMSAccessDeniedException")
    assert error["Message"] == _denial("without-key", "kms:GenerateDataKey", key)
    _, error = _error(
        lambda: without.put_records(StreamName="encrypted", Records=[{"Data": b"x", "PartitionKey": "p"}])
    )
    assert error["Code"] == "KMSAccessDeniedException"

    # and the plain stream needs no key at all
    without.put_record(StreamName="plain", Data=b"plain", PartitionKey="p")
    assert [r["Data"] for r in _read_one(without, "plain")] == [b"plain"]

    # when the role with the key writes and reads, then both work
    with_key.put_record(StreamName="encrypted", Data=b"secret", PartitionKey="p")
    assert [r["Data"] for r in _read_one(with_key, "encrypted")] == [b"secret"]

    # and reading it without the key is denied on kms:Decrypt (GetRecords names only its iterator)
    _, error = _error(lambda: _read_one(without, "encrypted"))
    assert error["Code"] == "KMSAccessDeniedException"
    assert error["Message"] == _denial("without-key", "kms:Decrypt", key)


def test_a_key_policy_allowing_the_role_only_via_kinesis_allows_the_stream_and_not_the_key_directly(
    enforced,
) -> None:
    # given a role with no IAM grant on the key, which the key policy lets use it through Kinesis only,
    # for this stream only (the encryption context Kinesis passes is the stream ARN)
    role = _role(
        enforced,
        "producer",
        [{"Effect": "Allow", "Action": ["kinesis:PutRecord"], "Resource": "*"}],
    )
    arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/encrypted"
    via_kinesis = {
        "Effect": "Allow",
        "Principal": {"AWS": role},
        "Action": "kms:GenerateDataKey",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"kinesis.{REGION}.amazonaws.com",
                "kms:EncryptionContext:aws:kinesis:arn": arn,
            }
        },
    }
    key = _key(enforced, via_kinesis)
    _streams(enforced, key)

    # when it writes to the stream, then Kinesis' use of the key is allowed
    _client(enforced, role, "kinesis").put_record(StreamName="encrypted", Data=b"x", PartitionKey="p")
    # and a data key asked of KMS directly is not
    _, error = _error(lambda: _client(enforced, role, "kms").generate_data_key(KeyId=key, KeySpec="AES_256"))
    assert error["Code"] == "AccessDeniedException"


# --- SNS ------------------------------------------------------------------------------------


def test_sns_publishers_need_generate_data_key_and_decrypt_on_the_topics_key(enforced) -> None:
    # given a topic encrypted with a key (named by its alias, as a stack may), a plain topic, and
    # publishers allowed both topics: without the key, with GenerateDataKey only, with both uses
    key = _key(enforced, alias="alias/tenant-key")
    sns = enforced.client("sns", REGION)
    encrypted = sns.create_topic(Name="alerts", Attributes={"KmsMasterKeyId": "alias/tenant-key"})["TopicArn"]
    plain = sns.create_topic(Name="plain")["TopicArn"]
    publish = {"Effect": "Allow", "Action": "sns:Publish", "Resource": [encrypted, plain]}
    without = _client(enforced, _role(enforced, "without-key", [publish]), "sns")
    generate_only = {"Effect": "Allow", "Action": "kms:GenerateDataKey*", "Resource": key}
    half = _client(enforced, _role(enforced, "half", [publish, generate_only]), "sns")
    both = {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": key}
    publisher = _client(enforced, _role(enforced, "publisher", [publish, both]), "sns")

    # when each publishes to the encrypted topic, then SNS denies the first two, naming the missing use
    status, error = _error(lambda: without.publish(TopicArn=encrypted, Message="m"))
    assert (status, error["Code"]) == (400, "KMSAccessDenied")
    assert error["Message"] == _denial("without-key", "kms:GenerateDataKey", key)
    _, error = _error(lambda: half.publish(TopicArn=encrypted, Message="m"))
    assert error["Code"] == "KMSAccessDenied"
    assert error["Message"] == _denial("half", "kms:Decrypt", key)
    # and the publisher with both uses publishes
    assert publisher.publish(TopicArn=encrypted, Message="m")["MessageId"]

    # and the plain topic needs no key
    assert without.publish(TopicArn=plain, Message="m")["MessageId"]


def test_an_alias_moved_to_another_key_moves_the_topics_key_with_it(enforced) -> None:
    # given a topic under an alias, and a publisher allowed the alias' key, which has published once
    first = _key(enforced, alias="alias/tenant-key")
    second = _key(enforced)
    sns = enforced.client("sns", REGION)
    topic = sns.create_topic(Name="alerts", Attributes={"KmsMasterKeyId": "alias/tenant-key"})["TopicArn"]
    grants = [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
        {"Effect": "Allow", "Action": KEY_USE, "Resource": first},
    ]
    publisher = _client(enforced, _role(enforced, "publisher", grants), "sns")
    publisher.publish(TopicArn=topic, Message="m")

    # when the alias is pointed at the other key, then publishing is checked on that key
    enforced.client("kms", REGION).update_alias(AliasName="alias/tenant-key", TargetKeyId=second)
    _, error = _error(lambda: publisher.publish(TopicArn=topic, Message="m"))
    assert error["Code"] == "KMSAccessDenied"
    assert f"on resource: {second} " in error["Message"]


# --- SQS ------------------------------------------------------------------------------------


def test_sqs_producers_need_generate_data_key_and_decrypt_and_consumers_decrypt(enforced) -> None:
    # given a KMS-encrypted queue holding a message, a plain queue, and roles allowed to send to and
    # receive from both: one without the key, one with it
    key = _key(enforced)
    sqs = enforced.client("sqs", REGION)
    encrypted = sqs.create_queue(QueueName="dead-letters", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    sqs.send_message(QueueUrl=encrypted, MessageBody="failed event")
    queue_use = {
        "Effect": "Allow",
        "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"],
        "Resource": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:dead-letters", f"arn:aws:sqs:{REGION}:{ACCOUNT}:plain"],
    }
    without = _client(enforced, _role(enforced, "without-key", [queue_use]), "sqs")
    key_use = {"Effect": "Allow", "Action": KEY_USE, "Resource": key}
    with_key = _client(enforced, _role(enforced, "with-key", [queue_use, key_use]), "sqs")

    # when the role without the key sends and receives, then SQS denies both, naming the key use
    status, error = _error(lambda: without.send_message(QueueUrl=encrypted, MessageBody="m"))
    assert (status, error["Code"]) == (400, "KMS.AccessDeniedException")
    assert error["Message"] == _denial("without-key", "kms:GenerateDataKey", key)
    _, error = _error(lambda: without.receive_message(QueueUrl=encrypted))
    assert error["Code"] == "KMS.AccessDeniedException"
    assert error["Message"] == _denial("without-key", "kms:Decrypt", key)

    # and the plain queue needs no key
    without.send_message(QueueUrl=plain, MessageBody="plain")
    assert [m["Body"] for m in without.receive_message(QueueUrl=plain)["Messages"]] == ["plain"]

    # when the role with the key sends and receives, then both work
    with_key.send_message(QueueUrl=encrypted, MessageBody="second")
    bodies = {
        m["Body"] for m in with_key.receive_message(QueueUrl=encrypted, MaxNumberOfMessages=10)["Messages"]
    }
    assert bodies == {"failed event", "second"}
