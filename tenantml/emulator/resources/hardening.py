"""Handlers for what the policy pack asks of every stack (TM-VPC-001, TM-VPC-002, TM-S3-005).

- ``aws_default_security_group`` adopts the VPC's default group, as the provider does: every rule
  the configuration does not declare is revoked, the declared ones are authorised; destroying it
  leaves the group (AWS cannot delete a default group).
- ``aws_flow_log`` creates a VPC flow log through EC2 (moto records it; nothing is delivered).
- ``aws_s3_bucket_logging`` turns on S3 server access logging to the target bucket.
"""

from __future__ import annotations

from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    ignore_missing,
    sync_tags,
)
from tenantml.emulator.resources.network import _authorize_inline

_GROUP_GONE = ("InvalidGroup.NotFound", "InvalidPermission.NotFound", "InvalidVpcID.NotFound")


def _default_group(ec2: Any, vpc_id: str) -> dict[str, Any]:
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    return group


def _adopt_default_group(ctx: HandlerContext, config: Config) -> dict[str, Any]:
    """Revoke every rule of the default group, then authorise the configured ones."""
    ec2 = ctx.client("ec2")
    group = _default_group(ec2, config["vpc_id"])
    group_id = group["GroupId"]
    with ignore_missing(*_GROUP_GONE):
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=group["IpPermissions"])
        if group.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=group["IpPermissionsEgress"])
    _authorize_inline(ec2, group_id, config)
    return group


def create_default_security_group(ctx: HandlerContext, config: Config) -> Attributes:
    group = _adopt_default_group(ctx, config)
    group_id = group["GroupId"]
    tags = ctx.tags(config)
    if tags:
        ctx.client("ec2").create_tags(
            Resources=[group_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    return {
        "id": group_id,
        "arn": ctx.arn("ec2", f"security-group/{group_id}"),
        "name": "default",
        "owner_id": ctx.account_id,
        "tags_all": tags,
    }


def update_default_security_group(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    _adopt_default_group(ctx, new)
    ec2 = ctx.client("ec2")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: ec2.create_tags(
            Resources=[attributes["id"]], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
        ),
        untag=lambda keys: ec2.delete_tags(Resources=[attributes["id"]], Tags=[{"Key": k} for k in keys]),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def forget_default_security_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    """The provider only removes the group from the state: a default group cannot be deleted."""


def create_flow_log(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "ResourceIds": [config["vpc_id"]],
        "ResourceType": "VPC",
        "TrafficType": config.get("traffic_type", "ALL"),
        "LogDestinationType": config.get("log_destination_type", "cloud-watch-logs"),
    }
    if config.get("log_destination"):
        kwargs["LogDestination"] = config["log_destination"]
    if config.get("log_group_name"):
        kwargs["LogGroupName"] = config["log_group_name"]
    if config.get("iam_role_arn"):
        kwargs["DeliverLogsPermissionArn"] = config["iam_role_arn"]
    if config.get("max_aggregation_interval"):
        kwargs["MaxAggregationInterval"] = int(config["max_aggregation_interval"])
    if config.get("log_format"):
        kwargs["LogFormat"] = config["log_format"]
    tags = ctx.tags(config)
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "vpc-flow-log", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    response = ctx.client("ec2").create_flow_logs(**kwargs)
    if response.get("Unsuccessful"):
        error = response["Unsuccessful"][0].get("Error", {})
        raise ValueError(f"flow log for {config['vpc_id']} not created: {error.get('Message', error)}")
    (flow_log_id,) = response["FlowLogIds"]
    return {"id": flow_log_id, "arn": ctx.arn("ec2", f"vpc-flow-log/{flow_log_id}"), "tags_all": tags}


def update_flow_log(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    """Only tags change in place: every other argument forces a new flow log."""
    ec2 = ctx.client("ec2")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: ec2.create_tags(
            Resources=[attributes["id"]], Tags=[{"Key": k, "Value": v} for k, v in t.items()]
        ),
        untag=lambda keys: ec2.delete_tags(Resources=[attributes["id"]], Tags=[{"Key": k} for k in keys]),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_flow_log(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("InvalidFlowLogId.NotFound"):
        ctx.client("ec2").delete_flow_logs(FlowLogIds=[attributes["id"]])


def put_bucket_logging(ctx: HandlerContext, config: Config) -> Attributes:
    ctx.client("s3").put_bucket_logging(
        Bucket=config["bucket"],
        BucketLoggingStatus={
            "LoggingEnabled": {
                "TargetBucket": config["target_bucket"],
                "TargetPrefix": config.get("target_prefix", ""),
            }
        },
    )
    return {"id": config["bucket"]}


def update_bucket_logging(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    return put_bucket_logging(ctx, new)


def delete_bucket_logging(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NoSuchBucket"):
        ctx.client("s3").put_bucket_logging(Bucket=config["bucket"], BucketLoggingStatus={})


HANDLERS = [
    Handler(
        "aws_default_security_group",
        create=create_default_security_group,
        update=update_default_security_group,
        delete=forget_default_security_group,
        exports=frozenset({"id", "arn", "name", "owner_id", "tags_all"}),
    ),
    Handler(
        "aws_flow_log",
        create=create_flow_log,
        update=update_flow_log,
        delete=delete_flow_log,
        exports=frozenset({"id", "arn", "tags_all"}),
    ),
    Handler(
        "aws_s3_bucket_logging",
        create=put_bucket_logging,
        update=update_bucket_logging,
        delete=delete_bucket_logging,
    ),
]

__all__ = ["HANDLERS"]
