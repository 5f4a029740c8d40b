"""The emulator applies what the policy pack asks for: a locked default security group, VPC flow logs,
S3 server access logging; and destroys them again."""

from __future__ import annotations

import pytest

from tenantml.emulator.apply import apply, destroy

VPC_ID = "${aws_vpc.network.id}"
LOGS_BUCKET = "tenantml-demo-prod-access-logs"
DATA_BUCKET = "tenantml-demo-prod-data"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"Service":"vpc-flow-logs.amazonaws.com"}}]}'
)

LOG_DELIVERY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"ServerAccessLogDelivery","Effect":"Allow",'
    '"Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject",'
    f'"Resource":"arn:aws:s3:::{LOGS_BUCKET}/*"}},'
    '{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*",'
    f'"Resource":["arn:aws:s3:::{LOGS_BUCKET}","arn:aws:s3:::{LOGS_BUCKET}/*"],'
    '"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}'
)


@pytest.fixture
def doc() -> dict:
    return {
        "provider": {
            "aws": [{"region": "eu-west-1", "default_tags": [{"tags": {"tenantml:tenant": "demo"}}]}]
        },
        "resource": {
            "aws_vpc": {"network": {"cidr_block": "10.30.0.0/16"}},
            "aws_default_security_group": {
                "network_default_security_group": {"vpc_id": VPC_ID, "ingress": [], "egress": []}
            },
            "aws_cloudwatch_log_group": {"flow_logs": {"name": "/tenantml/demo/vpc-flow-logs"}},
            "aws_iam_role": {
                "flow_logs": {"name": "tenantml-demo-prod-vpc-flow-logs", "assume_role_policy": TRUST}
            },
            "aws_flow_log": {
                "network_flow_log": {
                    "vpc_id": VPC_ID,
                    "traffic_type": "ALL",
                    "log_destination_type": "cloud-watch-logs",
                    "log_destination": "${aws_cloudwatch_log_group.flow_logs.arn}",
                    "iam_role_arn": "${aws_iam_role.flow_logs.arn}",
                    "max_aggregation_interval": 600,
                }
            },
            "aws_s3_bucket": {"logs": {"bucket": LOGS_BUCKET}, "data": {"bucket": DATA_BUCKET}},
            "aws_s3_bucket_policy": {
                "logs_policy": {"bucket": "${aws_s3_bucket.logs.id}", "policy": LOG_DELIVERY}
            },
            "aws_s3_bucket_logging": {
                "data_access_logs": {
                    "bucket": "${aws_s3_bucket.data.id}",
                    "target_bucket": "${aws_s3_bucket.logs.id}",
                    "target_prefix": "data/",
                    "depends_on": ["aws_s3_bucket_policy.logs_policy"],
                }
            },
        },
    }


def _default_group(ec2, vpc_id: str) -> dict:
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    return group


def test_given_the_hardening_resources_when_applied_then_each_is_in_effect_and_destroy_removes_them(
    aws, doc, tmp_path
):
    # given: AWS's default group allows all egress (and all traffic between members) before adoption
    state = tmp_path / "demo.json"

    # when
    apply(doc, state, aws)

    # then
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    (vpc,) = [v for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.30.0.0/16"]
    group = _default_group(ec2, vpc["VpcId"])
    assert (group["IpPermissions"], group["IpPermissionsEgress"]) == ([], [])
    (flow_log,) = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])[
        "FlowLogs"
    ]
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    assert flow_log["LogDestination"].endswith(":log-group:/tenantml/demo/vpc-flow-logs")
    assert s3.get_bucket_logging(Bucket=DATA_BUCKET)["LoggingEnabled"] == {
        "TargetBucket": LOGS_BUCKET,
        "TargetPrefix": "data/",
    }

    # when
    destroy(state, aws)

    # then
    assert (
        ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["FlowLogs"] == []
    )
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
