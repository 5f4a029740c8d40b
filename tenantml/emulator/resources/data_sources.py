"""Data sources: values read while planning (``data.<type>.<name>``), never created.

Only the ones the stacks read: who the caller is, the partition, the region and its zones, and
the EKS cluster token the Kubernetes provider would use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenantml.emulator.resources.base import Attributes, Config, HandlerContext, blocks

Read = Callable[[HandlerContext, Config], Attributes]


@dataclass(frozen=True)
class DataSourceHandler:
    type: str
    read: Read
    exports: frozenset[str]


def read_caller_identity(ctx: HandlerContext, config: Config) -> Attributes:
    identity = ctx.client("sts").get_caller_identity()
    return {
        "id": identity["Account"],
        "account_id": identity["Account"],
        "arn": identity["Arn"],
        "user_id": identity["UserId"],
    }


def read_partition(ctx: HandlerContext, config: Config) -> Attributes:
    # the emulator is one commercial-partition account; a GovCloud or China region keeps its partition
    partition = (
        "aws-us-gov"
        if ctx.region.startswith("us-gov-")
        else "aws-cn"
        if ctx.region.startswith("cn-")
        else "aws"
    )
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {
        "id": partition,
        "partition": partition,
        "dns_suffix": suffix,
        "reverse_dns_prefix": ".".join(reversed(suffix.split("."))),
    }


def read_region(ctx: HandlerContext, config: Config) -> Attributes:
    region = config.get("region") or config.get("name") or ctx.region
    return {
        "id": region,
        "name": region,
        "region": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
        "description": region,
    }


#: ``filter`` names of ``aws_availability_zones`` that moto ignores, matched here on the response
_ZONE_FIELDS = {"opt-in-status": "OptInStatus"}


def read_availability_zones(ctx: HandlerContext, config: Config) -> Attributes:
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": [config.get("state", "available")]}]
    )["AvailabilityZones"]
    for wanted in blocks(config, "filter"):
        field = _ZONE_FIELDS.get(wanted.get("name", ""))
        if field:
            # moto's zones carry no opt-in status: all of them are standard zones
            zones = [z for z in zones if z.get(field, "opt-in-not-required") in wanted.get("values", [])]
    zones = sorted(zones, key=lambda z: z["ZoneName"])
    return {
        "id": ctx.region,
        "names": [z["ZoneName"] for z in zones],
        "zone_ids": [z["ZoneId"] for z in zones],
        "group_names": sorted({z.get("GroupName", ctx.region) for z in zones}),
    }


def read_eks_cluster_auth(ctx: HandlerContext, config: Config) -> Attributes:
    # the token authenticates the Kubernetes provider, which the emulator never calls (moto runs
    # no Kubernetes API server): an empty token, never a fake credential
    return {"id": config["name"], "name": config["name"], "token": ""}


DATA_SOURCES = {
    handler.type: handler
    for handler in (
        DataSourceHandler(
            "aws_caller_identity", read_caller_identity, frozenset({"id", "account_id", "arn", "user_id"})
        ),
        DataSourceHandler(
            "aws_partition",
            read_partition,
            frozenset({"id", "partition", "dns_suffix", "reverse_dns_prefix"}),
        ),
        DataSourceHandler(
            "aws_region", read_region, frozenset({"id", "name", "region", "endpoint", "description"})
        ),
        DataSourceHandler("aws_eks_cluster_auth", read_eks_cluster_auth, frozenset({"id", "name", "token"})),
        DataSourceHandler(
            "aws_availability_zones",
            read_availability_zones,
            frozenset({"id", "names", "zone_ids", "group_names"}),
        ),
    )
}

__all__ = ["DATA_SOURCES", "DataSourceHandler"]
