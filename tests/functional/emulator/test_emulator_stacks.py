"""The real tenant stacks (churn on EC2, fraud on EKS): apply, re-apply with no change, destroy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.terraform.diff import Action
from tenantml.emulator import commands, iam_enforcement
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, AwsSession

ROOT = Path(__file__).resolve().parents[3]
REGIONS = {"churn": "eu-west-1", "fraud": "us-east-1"}
#: fraud's ``account_id`` (tenants/fraud.yaml); churn names none and lives in the emulator's account
FRAUD_ACCOUNT = "111122223333"


def _leftovers(aws: AwsSession) -> dict[str, list[str]]:
    """Everything a tenant stack creates, in both tenants' regions; empty after a destroy."""
    found: dict[str, list[str]] = {
        "buckets": [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]],
        "roles": [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]],
        "policies": [p["PolicyName"] for p in aws.client("iam").list_policies(Scope="Local")["Policies"]],
        "instance_profiles": [
            p["InstanceProfileName"] for p in aws.client("iam").list_instance_profiles()["InstanceProfiles"]
        ],
        "oidc_providers": [
            p["Arn"] for p in aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
        ],
    }
    for region in REGIONS.values():

        def client(service: str, _region: str = region):
            return aws.client(service, _region)

        ec2 = client("ec2")
        found[f"{region}:streams"] = client("kinesis").list_streams()["StreamNames"]
        found[f"{region}:topics"] = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
        found[f"{region}:subscriptions"] = [
            s["SubscriptionArn"] for s in client("sns").list_subscriptions()["Subscriptions"]
        ]
        found[f"{region}:queues"] = client("sqs").list_queues().get("QueueUrls", [])
        found[f"{region}:functions"] = [
            f["FunctionName"] for f in client("lambda").list_functions()["Functions"]
        ]
        found[f"{region}:event_source_mappings"] = [
            m["UUID"] for m in client("lambda").list_event_source_mappings()["EventSourceMappings"]
        ]
        found[f"{region}:log_groups"] = [
            g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]
        ]
        found[f"{region}:alarms"] = [
            a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]
        ]
        found[f"{region}:clusters"] = client("eks").list_clusters()["clusters"]
        found[f"{region}:autoscaling_groups"] = [
            g["AutoScalingGroupName"]
            for g in client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        ]
        found[f"{region}:launch_templates"] = [
            t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ]
        found[f"{region}:vpcs"] = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]
        found[f"{region}:nat_gateways"] = [
            n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"
        ]
        found[f"{region}:elastic_ips"] = [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]]
        found[f"{region}:model_package_groups"] = [
            g["ModelPackageGroupName"]
            for g in client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
        ]
        found[f"{region}:kms_aliases"] = [
            a["AliasName"] for a in client("kms").list_aliases()["Aliases"] if "tenantml" in a["AliasName"]
        ]
    return found


@pytest.fixture(params=["iam-off", "iam-enforced"])
def iam(request: pytest.FixtureRequest, aws: AwsSession):
    """Each test twice: IAM off, and IAM enforced (the apply signs as each account's administrator)."""
    previous = iam_enforcement.set_enforced(request.param == "iam-enforced")
    try:
        yield request.param
    finally:
        iam_enforcement.set_enforced(previous)


def test_given_both_example_tenants_when_applied_re_applied_and_destroyed_then_nothing_is_left(
    aws, iam, out_dir, tmp_path
):
    state_dir = tmp_path / "state"
    # with IAM enforced, accounts are honoured: fraud's resources live in its account_id
    fraud_account = FRAUD_ACCOUNT if iam == "iam-enforced" else EMULATOR_ACCOUNT_ID
    fraud_aws = aws.for_account(fraud_account)

    # when: applied
    applied = commands.apply_tenants(out_dir, None, state_dir, aws)

    # fraud's Kubernetes stack after fraud's: it reads the cluster the fraud stack made
    assert [a.tenant for a in applied] == ["churn", "fraud", "fraud-kubernetes", "shop"]
    for tenant in applied:
        document = json.loads(tenant.stack_file.read_text())
        expected = sum(len(named) for named in document["resource"].values())
        assert len(tenant.result.applied) == expected
        assert {c.action for c in tenant.result.applied} == {Action.CREATE}
        assert tenant.outputs.keys() == document.get("output", {}).keys()
        assert "${" not in json.dumps(tenant.outputs)
    churn, fraud, *_ = (a.outputs for a in applied)
    lam = aws.client("lambda", REGIONS["churn"])
    function = lam.get_function(FunctionName=churn["data_arrival_function_name"])
    assert function["Configuration"]["CodeSize"] > 0  # moto stores the zip from the stack's assets
    state = json.loads((state_dir / "churn.json").read_text())
    recorded = next(
        e["attributes"]
        for a, e in state["resources"].items()
        if a.startswith("aws_lambda_function.")
        and e["attributes"]["function_name"] == churn["data_arrival_function_name"]
    )
    assert Path(recorded["code_path"]).is_file() and recorded["code_path"].endswith(".zip")
    assert recorded["handler"] and recorded["timeout"] > 0
    assert recorded["environment_variables"]["TENANTML_DATA_BUCKET"] == churn["data_bucket_name"]
    notification = aws.client("s3").get_bucket_notification_configuration(Bucket=churn["data_bucket_name"])
    assert (
        notification["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"]
        == function["Configuration"]["FunctionArn"]
    )
    # fraud's resources live in its account (enforced: its account_id), churn's in the emulator's
    cluster = fraud_aws.client("eks", REGIONS["fraud"]).describe_cluster(name=fraud["cluster_name"])[
        "cluster"
    ]
    assert cluster["status"] == "ACTIVE"
    assert cluster["arn"].split(":")[4] == fraud_account
    assert fraud_aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    arns = [
        v for v in fraud.values() if isinstance(v, str) and v.startswith("arn:aws:") and ":iam::aws:" not in v
    ]
    assert arns and {a.split(":")[4] for a in arns} <= {fraud_account, ""}
    arns = [
        v for v in churn.values() if isinstance(v, str) and v.startswith("arn:aws:") and ":iam::aws:" not in v
    ]
    assert arns and {a.split(":")[4] for a in arns} <= {EMULATOR_ACCOUNT_ID, ""}
    assert aws.client("autoscaling", REGIONS["churn"]).describe_auto_scaling_groups()["AutoScalingGroups"]

    # when: planned and applied again without a change
    plans = commands.plan_tenants(out_dir, None, state_dir, aws)
    again = commands.apply_tenants(out_dir, None, state_dir, aws)

    assert [p.plan.has_changes for p in plans] == [False, False, False, False]
    assert [a.result.applied for a in again] == [(), (), (), ()]
    assert [a.outputs for a in again][:2] == [churn, fraud]

    # when: destroyed
    destroyed = commands.destroy_tenants(out_dir, None, state_dir, aws)

    assert [d.tenant for d in destroyed] == ["shop", "fraud-kubernetes", "fraud", "churn"]
    left = {kind: names for kind, names in _leftovers(aws).items() if names}
    left.update({f"{fraud_account}:{k}": names for k, names in _leftovers(fraud_aws).items() if names})
    assert left == {}
