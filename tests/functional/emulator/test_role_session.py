"""A workload's role session (pipelines.role_session) under IAM enforcement: the role's rights, renewed credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from pipelines.role_session import role_session
from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import ADMIN_USER_NAME, AwsSession, admin_credentials, aws_env

REGION = "eu-west-1"


@pytest.fixture
def as_admin(aws: AwsSession, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsSession]:
    """IAM enforced; the process's ambient credentials are the administrator's, as in `up`."""
    keys = admin_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _reader_role(admin: AwsSession, bucket: str) -> str:
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
    arn = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    grant = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    iam.put_role_policy(
        RoleName="reader",
        PolicyName="read",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    return arn


def test_a_role_session_has_the_roles_rights_not_the_callers(as_admin: AwsSession) -> None:
    # given a bucket with an object, and a role that may only read it
    s3_admin = as_admin.client("s3")
    s3_admin.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3_admin.put_object(Bucket="models", Key="m.bin", Body=b"model")
    role_arn = _reader_role(as_admin, "models")

    # when a workload acts through the role's session
    s3 = role_session(role_arn, region=REGION, endpoint_url=as_admin.endpoint).create_client(
        "s3", region_name=REGION, endpoint_url=as_admin.endpoint
    )

    # then it reads what the role grants and is denied what the administrator could do
    assert s3.get_object(Bucket="models", Key="m.bin")["Body"].read() == b"model"
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="models", Key="m.bin", Body=b"tampered")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_role_credentials_are_renewed_before_they_expire(as_admin: AwsSession) -> None:
    # given a role session whose credentials last 15 minutes: inside botocore's renewal window from the start
    role_arn = _reader_role(as_admin, "models")
    session = role_session(role_arn, region=REGION, endpoint_url=as_admin.endpoint, duration_seconds=900)
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials().access_key

    # when they are used again, then fresh ones from STS replace them, without the caller noticing
    second = credentials.get_frozen_credentials().access_key
    assert second != first
    assert second.startswith("ASIA")


def _service_role(admin: AwsSession, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return admin.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


def test_the_accounts_administrator_stands_in_for_the_service_a_role_trusts(as_admin: AwsSession) -> None:
    # given a role only SageMaker may assume (a tenant's serving role)
    role_arn = _service_role(as_admin, "serving")

    # when the account's administrator assumes it (as `up` does, playing the endpoint), then STS answers
    credentials = as_admin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="serving")[
        "Credentials"
    ]
    assert credentials["AccessKeyId"].startswith("ASIA")


def test_another_principal_is_denied_a_service_role_not_answered_with_an_error(as_admin: AwsSession) -> None:
    # given a role only SageMaker may assume, and another account's administrator
    role_arn = _service_role(as_admin, "serving")
    iam_enforcement.ensure_admin("111122223333")
    other = as_admin.for_account("111122223333")

    # when that administrator assumes it, then AWS's AccessDenied (moto alone failed with HTTP 500)
    with pytest.raises(ClientError) as raised:
        other.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="serving")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_a_cloudwatch_grant_allows_publishing_in_its_namespace_only(as_admin: AwsSession) -> None:
    # given a role allowed cloudwatch:PutMetricData in its tenant's namespace (the IAM name; the
    # request is signed for "monitoring", which moto took as the action's service)
    role_arn = _service_role(as_admin, "monitor")
    grant = {
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "TenantML/churn"}},
    }
    as_admin.client("iam").put_role_policy(
        RoleName="monitor",
        PolicyName="metrics",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    cloudwatch = role_session(role_arn, region=REGION, endpoint_url=as_admin.endpoint).create_client(
        "cloudwatch", region_name=REGION, endpoint_url=as_admin.endpoint
    )
    datum = [{"MetricName": "DriftScore", "Value": 0.1}]

    # when it publishes in its namespace, then that is allowed; in another tenant's, denied
    cloudwatch.put_metric_data(Namespace="TenantML/churn", MetricData=datum)
    with pytest.raises(ClientError) as raised:
        cloudwatch.put_metric_data(Namespace="TenantML/fraud", MetricData=datum)
    assert raised.value.response["Error"]["Code"] in ("AccessDenied", "403")


def test_a_workload_publishes_a_large_metric_batch_under_enforcement(
    as_admin: AwsSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a Lambda function's environment (aws_env) with a role allowed to publish in its namespace
    role_arn = _service_role(as_admin, "monitor")
    grant = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}
    as_admin.client("iam").put_role_policy(
        RoleName="monitor",
        PolicyName="metrics",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    credentials = as_admin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="monitor")[
        "Credentials"
    ]
    keys = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    for name, value in aws_env(as_admin.endpoint, REGION, keys).items():
        monkeypatch.setenv(name, value)

    # when it publishes a batch over the SDK's 10 KB compression threshold (a monitor's latency histogram)
    datum = {"MetricName": "LatencyMs", "Values": [float(v) for v in range(150)], "Counts": [1.0] * 150}
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_data(Namespace="TenantML/churn", MetricData=[datum] * 20)

    # then it was accepted (moto verified the signature of a compressed body over the decompressed one)
    listed = as_admin.client("cloudwatch").list_metrics(Namespace="TenantML/churn")["Metrics"]
    names = [m["MetricName"] for m in listed]
    assert "LatencyMs" in names
