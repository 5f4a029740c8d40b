"""moto 5.2.5 treats a Bool policy condition as always met; the emulator evaluates it.

Every tenant bucket carries a TLS-only policy (deny s3:* when aws:SecureTransport is false).
Without the fix, moto denies every object request to such a bucket.
"""

from __future__ import annotations

import inspect
import json

import boto3
import pytest
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from tenantml.emulator import server as emulator


def _tls_only(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def test_the_moto_internals_the_fix_replaces_keep_their_shape() -> None:
    # the fix wraps this method and calls this helper; a moto upgrade that changes them must fail here
    params = list(inspect.signature(IAMPolicyStatement.is_action_permitted).parameters)
    assert params == ["self", "action", "resource", "principal", "incoming_condition_values"]
    assert callable(getattr(IAMPolicyStatement, "_check_conditions", None))


def test_a_bool_condition_is_evaluated_with_secure_transport_true_by_default() -> None:
    from tenantml.emulator.moto_internals import fix_policy_condition_semantics

    fix_policy_condition_semantics()
    deny = IAMPolicyStatement(json.loads(_tls_only("b"))["Statement"][0])
    assert deny.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") is PermissionResult.NEUTRAL
    assert (
        deny.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k", None, {"aws:SecureTransport": "false"})
        is PermissionResult.DENIED
    )


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_objects_can_be_written_to_a_bucket_with_a_tls_only_policy(region: str) -> None:
    with emulator.running(0) as server:
        s3 = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=server.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="tls-only", CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_policy(Bucket="tls-only", Policy=_tls_only("tls-only"))

        s3.put_object(Bucket="tls-only", Key="incoming/x.csv", Body=b"a,b\n1,2\n")

        assert s3.get_object(Bucket="tls-only", Key="incoming/x.csv")["Body"].read() == b"a,b\n1,2\n"
