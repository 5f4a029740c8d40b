"""VPC endpoints (the S3 gateway endpoint of a tenant's network) on the emulator's EC2."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    error_code,
    ignore_missing,
)
from tenantml.emulator.resources.network import tag_specifications, update_ec2_tags

_GONE = ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")


def create_vpc_endpoint(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "VpcId": config["vpc_id"],
        "ServiceName": config["service_name"],
        "VpcEndpointType": config.get("vpc_endpoint_type", "Gateway"),
    }
    for arg, api in (
        ("route_table_ids", "RouteTableIds"),
        ("subnet_ids", "SubnetIds"),
        ("security_group_ids", "SecurityGroupIds"),
    ):
        if config.get(arg):
            kwargs[api] = list(config[arg])
    if config.get("policy"):
        kwargs["PolicyDocument"] = config["policy"]
    endpoint = ctx.client("ec2").create_vpc_endpoint(
        **kwargs, **tag_specifications(ctx, config, "vpc-endpoint")
    )["VpcEndpoint"]
    return {
        "id": endpoint["VpcEndpointId"],
        "arn": ctx.arn("ec2", f"vpc-endpoint/{endpoint['VpcEndpointId']}"),
        "owner_id": ctx.account_id,
        "state": endpoint.get("State", "available"),
        "tags_all": ctx.tags(config),
    }


def update_vpc_endpoint(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    kwargs: dict[str, Any] = {}
    before, after = set(old.get("route_table_ids") or ()), set(new.get("route_table_ids") or ())
    if after - before:
        kwargs["AddRouteTableIds"] = sorted(after - before)
    if before - after:
        kwargs["RemoveRouteTableIds"] = sorted(before - after)
    if old.get("policy") != new.get("policy"):
        if new.get("policy"):
            kwargs["PolicyDocument"] = new["policy"]
        else:
            kwargs["ResetPolicy"] = True
    if kwargs:
        ec2 = ctx.client("ec2")
        prefix_lists = _prefix_list_routes(ec2, attributes["id"], kwargs.get("RemoveRouteTableIds", []))
        ec2.modify_vpc_endpoint(VpcEndpointId=attributes["id"], **kwargs)
        # AWS drops the endpoint's route from a removed table; moto 5 keeps it: drop it here
        for table_id, prefix_list_id in prefix_lists:
            with ignore_missing("InvalidRoute.NotFound"):
                ec2.delete_route(RouteTableId=table_id, DestinationPrefixListId=prefix_list_id)
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}


def _prefix_list_routes(ec2: Any, endpoint_id: str, table_ids: list[str]) -> list[tuple[str, str]]:
    """(route table, prefix list) of the endpoint's routes in ``table_ids``."""
    if not table_ids:
        return []
    return [
        (table["RouteTableId"], route["DestinationPrefixListId"])
        for table in ec2.describe_route_tables(RouteTableIds=table_ids)["RouteTables"]
        for route in table.get("Routes", [])
        if route.get("GatewayId") == endpoint_id and route.get("DestinationPrefixListId")
    ]


def delete_vpc_endpoint(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    ec2 = ctx.client("ec2")
    with ignore_missing(*_GONE):
        try:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[attributes["id"]])
        except ClientError as err:
            # moto 5 adds no route for a table added by ModifyVpcEndpoint, then fails the delete on the
            # missing route: detach the tables (moto only forgets them) and delete again
            if error_code(err) != "InvalidRoute.NotFound":
                raise
            (endpoint,) = ec2.describe_vpc_endpoints(VpcEndpointIds=[attributes["id"]])["VpcEndpoints"]
            ec2.modify_vpc_endpoint(
                VpcEndpointId=attributes["id"], RemoveRouteTableIds=endpoint["RouteTableIds"]
            )
            ec2.delete_vpc_endpoints(VpcEndpointIds=[attributes["id"]])


HANDLERS = [
    Handler(
        "aws_vpc_endpoint",
        create=create_vpc_endpoint,
        update=update_vpc_endpoint,
        delete=delete_vpc_endpoint,
        exports=frozenset({"arn", "owner_id", "state"}),
    ),
]

__all__ = ["HANDLERS"]
