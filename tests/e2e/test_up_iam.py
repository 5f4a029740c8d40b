"""Under `tenantml up`, IAM is enforced: a tenant's role reaches its own bucket and not the other tenant's."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from up_support import UpProcess


def _code(call) -> str | None:
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


@pytest.mark.parametrize(("tenant", "other"), [("churn", "fraud"), ("fraud", "churn")])
def test_given_up_when_a_tenant_role_is_assumed_then_its_own_bucket_is_allowed_and_the_other_denied(
    running_up: UpProcess, tenant: str, other: str
) -> None:
    # given the tenant's pipelines role, assumed through the emulator's STS
    s3 = running_up.role_client("s3", tenant, "pipelines")
    own = running_up.outputs(tenant)["data_bucket_name"]
    theirs = running_up.outputs(other)["data_bucket_name"]

    # when it writes and reads its own data bucket, then that is allowed
    prefix = f"e2e-iam/{tenant}/"  # the other parametrization writes to its own bucket under its own prefix
    s3.put_object(Bucket=own, Key=f"{prefix}own.txt", Body=b"mine")
    assert s3.get_object(Bucket=own, Key=f"{prefix}own.txt")["Body"].read() == b"mine"

    # when it writes or reads the other tenant's, then AWS's AccessDenied answers
    assert (
        _code(lambda: s3.put_object(Bucket=theirs, Key=f"{prefix}intrusion.txt", Body=b"x")) == "AccessDenied"
    )
    assert _code(lambda: s3.list_objects_v2(Bucket=theirs)) == "AccessDenied"
    # and nothing was written there (checked as the other tenant's administrator)
    admin = running_up.client("s3", running_up.summary["tenants"][other]["region"], tenant=other)
    assert admin.list_objects_v2(Bucket=theirs, Prefix=prefix).get("KeyCount") == 0


def test_given_up_then_the_served_champion_runs_as_the_serving_role(running_up: UpProcess) -> None:
    # the serving role may read its registry but not write it: a served model cannot approve itself
    sagemaker = running_up.role_client("sagemaker", "churn", "serving")
    group = running_up.outputs("churn")["model_package_group_name"]
    assert sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    denied = _code(lambda: sagemaker.delete_model_package_group(ModelPackageGroupName=group))
    assert denied == "AccessDeniedException"  # AWS's code for a JSON service
    # and up served the champion with those credentials (it answered /ping to become ready)
    assert running_up.summary["tenants"]["churn"].get("endpoint")
