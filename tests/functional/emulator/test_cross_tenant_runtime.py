"""At runtime, one tenant's roles use their own resources and are denied the other tenant's.

Both example tenants are applied once, with IAM enforced (churn in the emulator's account, fraud
in its own ``account_id``); each test assumes a tenant's workload role through the emulator's STS,
as the emulator does for a Lambda or a pipeline run, and tries its own and the other tenant's
buckets, stream, topic, key, model registry and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from role_support import role_client

from tenantml.emulator import commands, iam_enforcement, server
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID

REGIONS = {"churn": "eu-west-1", "fraud": "us-east-1"}
PAIRS = [("churn", "fraud"), ("fraud", "churn")]


@pytest.fixture(scope="module")
def tenants(
    emulator: server.EmulatorServer, out_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    """Both example tenants applied under enforcement; their outputs by tenant."""
    server.reset(emulator.endpoint)
    previous = iam_enforcement.set_enforced(True)
    try:
        aws = server.make_session(emulator.endpoint, "eu-west-1")
        applied = commands.apply_tenants(out_dir, None, tmp_path_factory.mktemp("state"), aws)
        yield {a.tenant: a.outputs for a in applied if a.tenant in REGIONS}
    finally:
        iam_enforcement.set_enforced(previous)


def _client(endpoint: str, outputs: dict[str, Any], role: str, service: str, region: str) -> Any:
    """A client signing as the tenant's ``role`` role (credentials from the emulator's STS)."""
    return role_client(endpoint, outputs[f"{role}_role_arn"], service, region, session_name=f"test-{role}")


def _code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


@pytest.fixture
def roles(emulator: server.EmulatorServer, tenants: dict[str, dict[str, Any]]):
    def make(tenant: str, role: str, service: str, region_of: str) -> Any:
        return _client(emulator.endpoint, tenants[tenant], role, service, REGIONS[region_of])

    return make


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_bucket_objects(tenants, roles, tenant: str, other: str) -> None:
    own, theirs = tenants[tenant]["data_bucket_name"], tenants[other]["data_bucket_name"]
    s3 = roles(tenant, "pipelines", "s3", tenant)
    # own bucket (SSE-KMS with the tenant key): written and read
    s3.put_object(Bucket=own, Key="cross-tenant/own.csv", Body=b"a,b")
    assert s3.get_object(Bucket=own, Key="cross-tenant/own.csv")["Body"].read() == b"a,b"
    # the other tenant's: neither
    other_s3 = roles(tenant, "pipelines", "s3", other)
    assert (
        _code(lambda: other_s3.put_object(Bucket=theirs, Key="cross-tenant/x.csv", Body=b"x"))
        == "AccessDenied"
    )
    assert _code(lambda: other_s3.get_object(Bucket=theirs, Key="cross-tenant/x.csv")) == "AccessDenied"


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_stream_records(tenants, roles, tenant: str, other: str) -> None:
    # the serving role logs inferences to its stream
    own = roles(tenant, "serving", "kinesis", tenant)
    own.put_record(StreamARN=tenants[tenant]["stream_arn"], Data=b"{}", PartitionKey="p")
    theirs = roles(tenant, "serving", "kinesis", other)
    put = lambda: theirs.put_record(StreamARN=tenants[other]["stream_arn"], Data=b"{}", PartitionKey="p")
    assert _code(put) == "AccessDeniedException"


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_topic_publish(tenants, roles, tenant: str, other: str) -> None:
    roles(tenant, "pipelines", "sns", tenant).publish(
        TopicArn=tenants[tenant]["alerts_topic_arn"], Message="hi"
    )
    theirs = roles(tenant, "pipelines", "sns", other)
    publish = lambda: theirs.publish(TopicArn=tenants[other]["alerts_topic_arn"], Message="hi")
    assert _code(publish) == "AuthorizationError"  # SNS's code for a denial


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_key_encrypt_decrypt(tenants, roles, tenant: str, other: str) -> None:
    own = roles(tenant, "pipelines", "kms", tenant)
    blob = own.encrypt(KeyId=tenants[tenant]["kms_key_arn"], Plaintext=b"s")["CiphertextBlob"]
    assert own.decrypt(CiphertextBlob=blob)["Plaintext"] == b"s"
    # by alias too (the alias resolves to the key the grant names)
    own.encrypt(KeyId=tenants[tenant]["kms_key_alias"], Plaintext=b"s")
    # the other tenant's key: neither, by ARN or on its ciphertext
    theirs = roles(tenant, "pipelines", "kms", other)
    assert (
        _code(lambda: theirs.encrypt(KeyId=tenants[other]["kms_key_arn"], Plaintext=b"s"))
        == "AccessDeniedException"
    )
    their_blob = roles(other, "pipelines", "kms", other).encrypt(
        KeyId=tenants[other]["kms_key_arn"], Plaintext=b"t"
    )["CiphertextBlob"]
    assert _code(lambda: theirs.decrypt(CiphertextBlob=their_blob)) == "AccessDeniedException"


def _model_package(group: str) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    }


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_model_registry(tenants, roles, tenant: str, other: str) -> None:
    own_group, their_group = (
        tenants[tenant]["model_package_group_name"],
        tenants[other]["model_package_group_name"],
    )
    own = roles(tenant, "pipelines", "sagemaker", tenant)
    assert (
        own.describe_model_package_group(ModelPackageGroupName=own_group)["ModelPackageGroupName"]
        == own_group
    )
    own.create_model_package(**_model_package(own_group))
    theirs = roles(tenant, "pipelines", "sagemaker", other)
    assert _code(lambda: theirs.describe_model_package_group(ModelPackageGroupName=their_group)) == (
        "AccessDeniedException"
    )
    assert (
        _code(lambda: theirs.create_model_package(**_model_package(their_group))) == "AccessDeniedException"
    )
    arn = tenants[other]["model_package_group_arn"]
    assert (
        _code(lambda: theirs.describe_model_package_group(ModelPackageGroupName=arn))
        == "AccessDeniedException"
    )


@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_metrics(tenants, roles, tenant: str, other: str) -> None:
    # the serving role publishes its tenant's metrics; the namespaces are TenantML/<tenant>
    cloudwatch = roles(tenant, "serving", "cloudwatch", tenant)
    datum = [{"MetricName": "Latency", "Value": 1.0}]
    cloudwatch.put_metric_data(Namespace=f"TenantML/{tenant}", MetricData=datum)
    theirs = roles(tenant, "serving", "cloudwatch", other)
    assert (
        _code(lambda: theirs.put_metric_data(Namespace=f"TenantML/{other}", MetricData=datum))
        == "AccessDenied"
    )


def test_both_tenants_were_applied_in_their_accounts(tenants) -> None:
    # fraud names its account_id (111122223333); churn lives in the emulator's
    accounts = {t: o["pipelines_role_arn"].split(":")[4] for t, o in tenants.items()}
    assert accounts == {"churn": EMULATOR_ACCOUNT_ID, "fraud": "111122223333"}
