"""The grants behind the CLI commands that act as a workload's role (``tenantml.workload_roles``):
batch inference as the serving role under ``batch/`` of the data bucket only, the monitor's role
reading the tenant's alarms only, and the output naming the monitor's role."""

from __future__ import annotations

import pytest
from infra_support import role_policy, sids, statement

from core.contract import BATCH_PREFIX

TENANTS = {"churn": ("eu-west-1", "123456789012", "dev"), "fraud": ("us-east-1", "111122223333", "prod")}


@pytest.mark.parametrize("name", sorted(TENANTS))
def test_given_a_tenant_when_synthesized_then_the_serving_role_reads_and_writes_batch_files_only(
    example_stacks, name
):
    # when
    granted = role_policy(example_stacks[name].doc, "roles_serving")

    # then: objects under batch/ of the data bucket, listing restricted to that prefix
    data = "${aws_s3_bucket.storage_data.arn}"
    assert statement(granted, "ReadBatchDataBucket")["Resource"] == [f"{data}/{BATCH_PREFIX}*"]
    write = statement(granted, "WriteBatchDataBucket")
    assert write["Resource"] == [f"{data}/{BATCH_PREFIX}*"]
    assert "s3:PutObject" in write["Action"]
    listing = statement(granted, "ListBatchDataBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{BATCH_PREFIX}*"]}}
    # and nothing else of the data bucket (raw data, labels) is the serving role's
    assert "ReadDataBucket" not in sids(granted) and "WriteDataBucket" not in sids(granted)


@pytest.mark.parametrize("name", sorted(TENANTS))
def test_given_a_tenant_when_synthesized_then_the_monitor_role_describes_its_own_alarms_only(
    example_stacks, name
):
    region, account, environment = TENANTS[name]
    doc = example_stacks[name].doc

    # when
    granted = role_policy(doc, "roles_training")

    # then
    alarms = statement(granted, "DescribeAlarms")
    assert alarms["Action"] == ["cloudwatch:DescribeAlarms"]
    assert alarms["Resource"] == [
        f"arn:aws:cloudwatch:{region}:{account}:alarm:tenantml-{name}-{environment}-*"
    ]
    assert doc["output"]["training_role_arn"]["value"] == "${aws_iam_role.roles_training.arn}"
