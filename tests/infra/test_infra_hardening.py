"""The construct fixes for the policy pack's new rules, on the synthesized example stacks.

TM-VPC-001 default security group, TM-VPC-002 flow logs, TM-S3-005 access logging (prod), TM-S3-006
bucket-wide abort of incomplete uploads, TM-ASG-001 auto scaling group tags.
"""

from __future__ import annotations

import json

import pytest
from infra_support import EXAMPLE_TENANTS, bodies

from core.spec import load_specs
from infra.policy import SynthStack, check_stack

NEW_RULES = {"TM-VPC-001", "TM-VPC-002", "TM-S3-005", "TM-S3-006", "TM-ASG-001", "TM-LAMBDA-003"}


@pytest.fixture(params=["churn", "fraud"])
def tenant(request, example_stacks):
    return example_stacks[request.param]


def test_given_an_example_tenant_when_checked_then_the_new_rules_find_nothing(tenant, example_stacks):
    # when
    known = {s.name: s.environment.value for s in load_specs(EXAMPLE_TENANTS)}
    result = check_stack(SynthStack(tenant.tenant, tenant.doc, known))

    # then
    assert [
        (f.rule_id, f.address) for f in result.findings if f.rule_id in NEW_RULES and not f.suppressed
    ] == []


def test_given_an_example_tenant_when_synthesized_then_the_default_security_group_is_adopted_with_no_rules(
    tenant,
):
    # then
    (group,) = bodies(tenant.doc, "aws_default_security_group").values()
    assert {k: v for k, v in group.items() if k != "//"} == {
        "vpc_id": "${aws_vpc.network.id}",
        "ingress": [],
        "egress": [],
    }


def test_given_an_example_tenant_when_synthesized_then_all_vpc_traffic_is_logged_by_a_capped_role(tenant):
    # given
    doc = tenant.doc
    spec = {s.name: s for s in load_specs(EXAMPLE_TENANTS)}[tenant.tenant]
    region, account = spec.region, spec.account_id

    # then
    (flow_log,) = bodies(doc, "aws_flow_log").values()
    assert flow_log["vpc_id"] == "${aws_vpc.network.id}"
    assert flow_log["traffic_type"] == "ALL"
    assert flow_log["log_destination_type"] == "cloud-watch-logs"
    group = bodies(doc, "aws_cloudwatch_log_group")["network_flow_log_logs"]
    assert flow_log["log_destination"] == "${aws_cloudwatch_log_group.network_flow_log_logs.arn}"
    assert group["name"] == f"/tenantml/{tenant.tenant}/vpc-flow-logs"
    assert group["kms_key_id"] == "${aws_kms_key.key.arn}"
    role = bodies(doc, "aws_iam_role")["network_flow_log_role"]
    assert flow_log["iam_role_arn"] == "${aws_iam_role.network_flow_log_role.arn}"
    assert role["permissions_boundary"] == "${aws_iam_policy.boundary.arn}"
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": ["vpc-flow-logs.amazonaws.com"]}]
    grants = {
        st["Sid"]: st
        for st in json.loads(bodies(doc, "aws_iam_role_policy")["network_flow_log_role_policy"]["policy"])[
            "Statement"
        ]
    }
    group_arn = "${aws_cloudwatch_log_group.network_flow_log_logs.arn}:*"
    # what AWS documents for flow logs to CloudWatch Logs, each on the narrowest resource it accepts
    assert {sid: (sorted(st["Action"]), st["Resource"]) for sid, st in grants.items()} == {
        "WriteFlowLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [group_arn]),
        "DescribeFlowLogStreams": (["logs:DescribeLogStreams"], [group_arn]),
        # a list of the account's groups in the region: no narrower resource exists
        "ListLogGroups": (
            ["logs:DescribeLogGroups"],
            [f"arn:aws:logs:{region}:{account}:log-group:*"],
        ),
    }
    assert flow_log["depends_on"] == ["aws_iam_role_policy.network_flow_log_role_policy"]


def test_given_an_example_tenant_when_synthesized_then_every_bucket_aborts_incomplete_uploads_bucket_wide(
    tenant,
):
    # given
    doc = tenant.doc

    # then
    by_bucket = {
        c["bucket"]: c["rule"] for c in bodies(doc, "aws_s3_bucket_lifecycle_configuration").values()
    }
    assert set(by_bucket) == {f"${{aws_s3_bucket.{name}.id}}" for name in bodies(doc, "aws_s3_bucket")}
    for bucket, rules in by_bucket.items():
        aborting = [r for r in rules if "abort_incomplete_multipart_upload" in r]
        assert [r["filter"] for r in aborting] == [[{"prefix": ""}]], bucket


def test_given_the_ec2_tenant_when_synthesized_then_its_auto_scaling_group_propagates_the_tenant_tags(
    example_stacks,
):
    # given
    doc = example_stacks["churn"].doc
    tags = doc["provider"]["aws"][0]["default_tags"][0]["tags"]

    # then
    (group,) = bodies(doc, "aws_autoscaling_group").values()
    assert {t["key"]: t["value"] for t in group["tag"]} == tags
    assert all(t["propagate_at_launch"] is True for t in group["tag"])


def test_given_the_prod_tenant_when_synthesized_then_its_buckets_log_access_to_a_bucket_only_s3_may_write(
    example_stacks,
):
    # given
    doc = example_stacks["fraud"].doc

    # then
    logs = "${aws_s3_bucket.storage_access_logs.id}"
    logging = {c["bucket"]: c for c in bodies(doc, "aws_s3_bucket_logging").values()}
    assert set(logging) == {f"${{aws_s3_bucket.storage_{b}.id}}" for b in ("data", "artifacts", "models")}
    assert {c["target_bucket"] for c in logging.values()} == {logs}
    assert {c["target_prefix"] for c in logging.values()} == {"data/", "artifacts/", "models/"}
    assert {tuple(c["depends_on"]) for c in logging.values()} == {
        ("aws_s3_bucket_policy.storage_access_logs_policy",)
    }
    policy = json.loads(bodies(doc, "aws_s3_bucket_policy")["storage_access_logs_policy"]["policy"])
    (delivery,) = [s for s in policy["Statement"] if s["Sid"] == "ServerAccessLogDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "${data.aws_caller_identity.account_caller.account_id}"
    }
    assert sorted(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"${{aws_s3_bucket.storage_{b}.arn}}" for b in ("data", "artifacts", "models")
    )
    marker = bodies(doc, "aws_s3_bucket")["storage_access_logs"]["//"]["tenantml"]["suppressions"]
    assert [s["rule_id"] for s in marker] == ["TM-S3-001"]


def test_given_the_dev_tenant_when_synthesized_then_no_access_logs_are_kept(example_stacks):
    # then
    assert bodies(example_stacks["churn"].doc, "aws_s3_bucket_logging") == {}
    assert "storage_access_logs" not in bodies(example_stacks["churn"].doc, "aws_s3_bucket")
