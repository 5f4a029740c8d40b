"""KMS key policies in the enforcing emulator: key policy and IAM together, aliases, SSE-KMS through S3."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import ADMIN_USER_NAME, EMULATOR_ACCOUNT_ID, AwsSession

REGION = "eu-west-1"
OTHER_ACCOUNT = "111122223333"
KMS_USE = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    previous = iam_enforcement.set_enforced(True)
    try:
        iam_enforcement.ensure_admin(EMULATOR_ACCOUNT_ID)
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _admin(aws: AwsSession, account_id: str) -> AwsSession:
    iam_enforcement.ensure_admin(account_id)
    return aws.for_account(account_id)


def _root_policy(account: str, *extra: dict) -> str:
    """AWS's default key policy (the account root delegates to IAM), plus ``extra`` statements."""
    root = {
        "Sid": "AccountAdmin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [root, *extra]})


def _key(admin: AwsSession, policy: str, alias: str | None = None) -> str:
    kms = admin.client("kms", REGION)
    arn = kms.create_key(Policy=policy)["KeyMetadata"]["Arn"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn


def _role(admin: AwsSession, name: str, statements: list[dict]) -> str:
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
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="grants",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
    return arn


def _as_role(admin: AwsSession, role_arn: str, service: str):
    creds = iam_enforcement.role_credentials(role_arn, "test", REGION)
    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(service, endpoint_url=admin.endpoint)


def _kms_grant(*key_arns: str) -> dict:
    return {"Effect": "Allow", "Action": KMS_USE, "Resource": list(key_arns)}


def _error(call) -> dict:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]


def test_delegated_key_policy_and_iam_grant_allow_and_the_alias_resolves_to_the_key(enforced) -> None:
    # given two keys with the default (root) policy, each with an alias, and a role granted only the first
    own = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID), alias="alias/churn-key")
    other = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID), alias="alias/fraud-key")
    kms = _as_role(enforced, _role(enforced, "churn-role", [_kms_grant(own)]), "kms")

    # when it encrypts with its key by ARN and by alias (name and ARN), then that is allowed
    blob = kms.encrypt(KeyId=own, Plaintext=b"secret")["CiphertextBlob"]
    kms.encrypt(KeyId="alias/churn-key", Plaintext=b"x")
    kms.encrypt(KeyId=f"arn:aws:kms:{REGION}:{EMULATOR_ACCOUNT_ID}:alias/churn-key", Plaintext=b"x")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"

    # when it names the other key's alias, then the grant on its own key ARN does not cover it
    error = _error(lambda: kms.encrypt(KeyId="alias/fraud-key", Plaintext=b"x"))
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::{EMULATOR_ACCOUNT_ID}:assumed-role/churn-role/test is not authorized to "
        f"perform: kms:Encrypt on resource: {other} because no identity-based policy allows the "
        "kms:Encrypt action"
    )


def test_decrypting_another_keys_ciphertext_is_denied_on_the_key_inside_it(enforced) -> None:
    # given a ciphertext under a key the role has no grant on (Decrypt names no KeyId: the blob does)
    own = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID))
    other = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID))
    blob = enforced.client("kms", REGION).encrypt(KeyId=other, Plaintext=b"theirs")["CiphertextBlob"]
    kms = _as_role(enforced, _role(enforced, "churn-role", [_kms_grant(own)]), "kms")

    # when it decrypts, then it is denied on that key
    error = _error(lambda: kms.decrypt(CiphertextBlob=blob))
    assert error["Code"] == "AccessDeniedException"
    assert f"kms:Decrypt on resource: {other} " in error["Message"]


def test_a_key_policy_that_does_not_delegate_to_the_account_denies_an_iam_grant(enforced) -> None:
    # given a key whose policy names only the administrator (no account root), and a role granted it in IAM
    admin_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:user/{ADMIN_USER_NAME}"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    key = _key(enforced, admin_only)
    kms = _as_role(enforced, _role(enforced, "churn-role", [_kms_grant(key)]), "kms")

    # when the role encrypts, then the key policy denies it, as AWS says it
    error = _error(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].endswith(
        f"kms:Encrypt on resource: {key} because no resource-based policy allows the kms:Encrypt action"
    )
    # and the administrator the policy names still uses the key
    enforced.client("kms", REGION).encrypt(KeyId=key, Plaintext=b"x")


def test_a_key_policy_naming_the_role_allows_it_without_an_iam_grant_and_a_deny_wins(enforced) -> None:
    # given a role with no IAM grant at all, named by the key policy, which also denies it Decrypt
    role = _role(enforced, "churn-role", [])
    named = {"Effect": "Allow", "Principal": {"AWS": role}, "Action": ["kms:Encrypt", "kms:Decrypt"]}
    deny = {"Effect": "Deny", "Principal": {"AWS": role}, "Action": "kms:Decrypt", "Resource": "*"}
    key = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID, {**named, "Resource": "*"}, deny))
    kms = _as_role(enforced, role, "kms")

    # when it encrypts and decrypts, then the key policy alone allows Encrypt and its Deny wins on Decrypt
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    error = _error(lambda: kms.decrypt(CiphertextBlob=blob))
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].endswith(f"on resource: {key} with an explicit deny in a resource-based policy")


def test_a_key_of_another_account_is_denied_unless_its_policy_names_the_callers_account(enforced) -> None:
    # given a key in fraud's account with the default policy, and churn's role granted that key in IAM
    fraud_admin = _admin(enforced, OTHER_ACCOUNT)
    key = _key(fraud_admin, _root_policy(OTHER_ACCOUNT))
    kms = _as_role(enforced, _role(enforced, "churn-role", [_kms_grant(key)]), "kms")

    # when churn's role encrypts with it, then fraud's key policy denies (not moto's NotFound)
    error = _error(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))
    assert error["Code"] == "AccessDeniedException"
    assert "because no resource-based policy allows the kms:Encrypt action" in error["Message"]


def _sse_kms_bucket(admin: AwsSession, bucket: str, key_arn: str) -> None:
    s3 = admin.client("s3", REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )


def test_s3_uses_the_bucket_key_as_the_caller_for_sse_kms_objects(enforced) -> None:
    # given a bucket encrypted by default with a key, an object in it, and two roles that may read and
    # write the bucket: one also granted the key, one not
    key = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID))
    _sse_kms_bucket(enforced, "churn-data", key)
    enforced.client("s3", REGION).put_object(Bucket="churn-data", Key="in.csv", Body=b"a,b")
    s3_grant = {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::churn-data/*",
    }
    with_key = _as_role(enforced, _role(enforced, "with-key", [s3_grant, _kms_grant(key)]), "s3")
    without = _as_role(enforced, _role(enforced, "without-key", [s3_grant]), "s3")

    # when both read and write, then the role with the key does
    assert with_key.get_object(Bucket="churn-data", Key="in.csv")["Body"].read() == b"a,b"
    with_key.put_object(Bucket="churn-data", Key="out.csv", Body=b"c")

    # and the role without it is denied both, by S3, naming the key use AWS names
    read = _error(lambda: without.get_object(Bucket="churn-data", Key="in.csv"))
    assert read["Code"] == "AccessDenied"
    assert f"kms:Decrypt on resource: {key} because no identity-based policy allows" in read["Message"]
    write = _error(lambda: without.put_object(Bucket="churn-data", Key="x.csv", Body=b"x"))
    assert write["Code"] == "AccessDenied"
    assert f"kms:GenerateDataKey on resource: {key}" in write["Message"]
    # but the object's metadata (HEAD) needs no key, as on AWS
    assert without.head_object(Bucket="churn-data", Key="in.csv")["ServerSideEncryption"] == "aws:kms"


def test_a_via_service_condition_allows_the_key_through_s3_only(enforced) -> None:
    # given a key policy that lets the role decrypt only through S3 (kms:ViaService), and no IAM grant on it
    role = _role(
        enforced,
        "reader",
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::churn-data/*"}],
    )
    via_s3 = {
        "Effect": "Allow",
        "Principal": {"AWS": role},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"s3.{REGION}.amazonaws.com",
                "kms:CallerAccount": EMULATOR_ACCOUNT_ID,
            }
        },
    }
    key = _key(enforced, _root_policy(EMULATOR_ACCOUNT_ID, via_s3))
    _sse_kms_bucket(enforced, "churn-data", key)
    enforced.client("s3", REGION).put_object(Bucket="churn-data", Key="in.csv", Body=b"a,b")
    blob = enforced.client("kms", REGION).encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]

    # when it reads the object, then S3's use of the key is allowed; a direct Decrypt is not
    assert (
        _as_role(enforced, role, "s3").get_object(Bucket="churn-data", Key="in.csv")["Body"].read() == b"a,b"
    )
    error = _error(lambda: _as_role(enforced, role, "kms").decrypt(CiphertextBlob=blob))
    assert error["Code"] == "AccessDeniedException"
