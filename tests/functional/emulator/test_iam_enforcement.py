"""IAM enforced in the emulator: workload roles from its STS, boundaries, accounts, AWS's AccessDenied."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import iam_enforcement, server
from tenantml.emulator.session import ADMIN_USER_NAME, EMULATOR_ACCOUNT_ID, AwsSession

REGION = "eu-west-1"
OTHER_ACCOUNT = "111122223333"


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    """The emptied emulator with IAM enforced for this test only; the admin session of the default account."""
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _admin(aws: AwsSession, account_id: str) -> AwsSession:
    iam_enforcement.ensure_admin(account_id)
    return aws.for_account(account_id)


def _role(
    admin: AwsSession, name: str, statements: list[dict], boundary_statements: list[dict] | None = None
) -> str:
    """A role the account's administrator may assume, with one inline policy (and a boundary)."""
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
    extra = {}
    if boundary_statements is not None:
        boundary = iam.create_policy(
            PolicyName=f"{name}-boundary",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": boundary_statements}),
        )
        extra["PermissionsBoundary"] = boundary["Policy"]["Arn"]
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="grants",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return arn


def _as_role(admin: AwsSession, role_arn: str) -> boto3.Session:
    """A boto3 session with the role's credentials from the emulator's STS (the AssumeRole API)."""
    creds = admin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def _bucket(admin: AwsSession, name: str) -> None:
    admin.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def _s3_grant(bucket: str) -> dict:
    return {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


def _denied(call) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    # AWS's code per protocol: S3 and query services, JSON services, SNS
    assert raised.value.response["Error"]["Code"] in (
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
    )
    return raised.value


def test_unknown_credentials_are_rejected_when_enforced(enforced: AwsSession) -> None:
    # given IAM enforced, when a client signs with the old fake credentials, then the key is unknown
    fake = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    with pytest.raises(ClientError) as raised:
        fake.client("sns", endpoint_url=enforced.endpoint).list_topics()
    assert raised.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_tenant_role_is_denied_the_other_tenants_bucket_in_another_account(enforced: AwsSession) -> None:
    # given churn in the emulator's account and fraud in its own, each with a role on its bucket
    churn_admin, fraud_admin = _admin(enforced, EMULATOR_ACCOUNT_ID), _admin(enforced, OTHER_ACCOUNT)
    _bucket(churn_admin, "churn-data")
    _bucket(fraud_admin, "fraud-data")
    churn_role = _role(churn_admin, "churn-pipelines", [_s3_grant("churn-data")])
    fraud_role = _role(fraud_admin, "fraud-pipelines", [_s3_grant("fraud-data")])
    assert fraud_role.split(":")[4] == OTHER_ACCOUNT  # the role lives in the tenant's account

    # when churn's role, with credentials from the emulator's STS, writes to both buckets
    churn = _as_role(churn_admin, churn_role).client("s3", endpoint_url=enforced.endpoint)
    churn.put_object(Bucket="churn-data", Key="own.csv", Body=b"a")

    # then its own bucket is written and the other tenant's is AccessDenied
    assert churn.get_object(Bucket="churn-data", Key="own.csv")["Body"].read() == b"a"
    _denied(lambda: churn.put_object(Bucket="fraud-data", Key="x.csv", Body=b"x"))
    # and the caller is the assumed role in churn's account
    identity = _as_role(churn_admin, churn_role).client("sts", endpoint_url=enforced.endpoint)
    assert identity.get_caller_identity()["Arn"].startswith(
        f"arn:aws:sts::{EMULATOR_ACCOUNT_ID}:assumed-role/churn-pipelines/"
    )
    fraud = _as_role(fraud_admin, fraud_role).client("s3", endpoint_url=enforced.endpoint)
    fraud.put_object(Bucket="fraud-data", Key="own.csv", Body=b"f")
    _denied(lambda: fraud.get_object(Bucket="churn-data", Key="own.csv"))


def test_resources_of_a_tenant_account_live_in_that_account(enforced: AwsSession) -> None:
    # given the administrator of another account, when it creates a topic, then the ARN names that account
    fraud_admin = _admin(enforced, OTHER_ACCOUNT)
    arn = fraud_admin.client("sns").create_topic(Name="fraud-alerts")["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{OTHER_ACCOUNT}:fraud-alerts"
    # and the default account does not see it
    topics = enforced.client("sns").list_topics()["Topics"]
    assert arn not in [t["TopicArn"] for t in topics]


def test_a_boundary_denies_what_the_identity_policy_allows(enforced: AwsSession) -> None:
    # given a role allowed to read and write its bucket, capped by a boundary that allows reads only
    admin = _admin(enforced, EMULATOR_ACCOUNT_ID)
    _bucket(admin, "churn-models")
    admin.client("s3").put_object(Bucket="churn-models", Key="m.bin", Body=b"m")
    read_only = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::churn-models/*"}]
    role = _role(admin, "churn-training", [_s3_grant("churn-models")], boundary_statements=read_only)
    s3 = _as_role(admin, role).client("s3", endpoint_url=enforced.endpoint)

    # when it reads and writes, then the read passes and the write is denied
    assert s3.get_object(Bucket="churn-models", Key="m.bin")["Body"].read() == b"m"
    _denied(lambda: s3.put_object(Bucket="churn-models", Key="m.bin", Body=b"evil"))


def test_a_role_scoped_to_its_stream_and_topic_is_denied_another_tenants(enforced: AwsSession) -> None:
    # given two tenants' streams and topics in one account and a role granted only churn's
    admin = _admin(enforced, EMULATOR_ACCOUNT_ID)
    kinesis, sns = admin.client("kinesis"), admin.client("sns")
    for tenant in ("churn", "fraud"):
        kinesis.create_stream(StreamName=f"{tenant}-log", ShardCount=1)
    topics = {t: sns.create_topic(Name=f"{t}-alerts")["TopicArn"] for t in ("churn", "fraud")}
    account = admin.account_id
    role = _role(
        admin,
        "churn-monitor",
        [
            {
                "Effect": "Allow",
                "Action": ["kinesis:PutRecord", "kinesis:DescribeStream"],
                "Resource": f"arn:aws:kinesis:{REGION}:{account}:stream/churn-*",
            },
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": topics["churn"]},
        ],
    )
    session = _as_role(admin, role)
    as_kinesis = session.client("kinesis", endpoint_url=enforced.endpoint)
    as_sns = session.client("sns", endpoint_url=enforced.endpoint)

    # when it writes to both, then its own are allowed and the other tenant's are denied
    as_kinesis.put_record(StreamName="churn-log", Data=b"{}", PartitionKey="p")
    as_sns.publish(TopicArn=topics["churn"], Message="hi")
    _denied(lambda: as_kinesis.put_record(StreamName="fraud-log", Data=b"{}", PartitionKey="p"))
    _denied(lambda: as_sns.publish(TopicArn=topics["fraud"], Message="hi"))


def test_service_credentials_for_a_role_come_from_the_emulators_sts(enforced: AwsSession) -> None:
    # given a role in another account, when the emulator assumes it as a service would
    admin = _admin(enforced, OTHER_ACCOUNT)
    _bucket(admin, "fraud-raw")
    role = _role(admin, "fraud-arrival", [_s3_grant("fraud-raw")])
    creds = iam_enforcement.role_credentials(role, "fraud-arrival", REGION)
    s3 = boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client("s3", endpoint_url=enforced.endpoint)
    # then they act as the role: its bucket is writable, listing buckets is not granted
    s3.put_object(Bucket="fraud-raw", Key="k", Body=b"v")
    _denied(s3.list_buckets)


def test_enforcement_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(iam_enforcement.IAM_ENV, "enforce")
    assert iam_enforcement.requested(default=False) is True
    monkeypatch.setenv(iam_enforcement.IAM_ENV, "off")
    assert iam_enforcement.requested(default=True) is False
    monkeypatch.setenv(iam_enforcement.IAM_ENV, "maybe")
    with pytest.raises(server.EmulatorError, match="TENANTML_EMULATOR_IAM"):
        iam_enforcement.requested(default=False)


def test_the_administrator_signs_bodiless_requests(enforced: AwsSession) -> None:
    # given IAM enforced, when the administrator makes GET calls with no body (Lambda's REST API),
    # then the signature check passes (moto 5.2.5 hashed its parsed parameters instead of the body)
    assert enforced.client("lambda").list_functions()["Functions"] == []
    assert enforced.client("eks").list_clusters()["clusters"] == []
