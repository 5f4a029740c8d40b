"""EC2 networking: VPC, subnets, gateways, elastic IPs, routes, security groups and rules."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable
from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    blocks,
    changed,
    ignore_missing,
    sync_tags,
    tag_list,
    undo_on_error,
    unique_name,
)

_GONE = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidAllocationID.NotFound",
    "NatGatewayNotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidRoute.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "Gateway.NotAttached",
)


def tag_specifications(ctx: HandlerContext, config: Config, resource_type: str) -> dict[str, Any]:
    tags = ctx.tags(config)
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tag_list(tags)}]} if tags else {}


def update_ec2_tags(ctx: HandlerContext, old: Config, new: Config, resource_id: str) -> dict[str, str]:
    ec2 = ctx.client("ec2")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: ec2.create_tags(Resources=[resource_id], Tags=tag_list(t)),
        untag=lambda keys: ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in keys]),
    )
    return ctx.tags(new)


def _tags_only_update(
    id_key: str = "id",
) -> Callable[[HandlerContext, Config, Config, Attributes], Attributes]:
    def update(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
        return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes[id_key])}

    return update


# --- VPC ------------------------------------------------------------------------------------


def _set_vpc_dns(ec2: Any, vpc_id: str, config: Config, old: Config | None = None) -> None:
    for arg, api, default in (
        ("enable_dns_support", "EnableDnsSupport", True),
        ("enable_dns_hostnames", "EnableDnsHostnames", False),
    ):
        value = bool(config.get(arg, default))
        before = default if old is None else bool(old.get(arg, default))
        if value != before:
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{api: {"Value": value}})


def create_vpc(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    vpc = ec2.create_vpc(
        CidrBlock=config["cidr_block"],
        InstanceTenancy=config.get("instance_tenancy", "default"),
        AmazonProvidedIpv6CidrBlock=bool(config.get("assign_generated_ipv6_cidr_block", False)),
        **tag_specifications(ctx, config, "vpc"),
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    with undo_on_error(lambda: ec2.delete_vpc(VpcId=vpc_id)):
        _set_vpc_dns(ec2, vpc_id, config)
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
        main_rt = ec2.describe_route_tables(
            Filters=[*filters, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"]
        default_sg = ec2.describe_security_groups(
            Filters=[*filters, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        acls = ec2.describe_network_acls(Filters=[*filters, {"Name": "default", "Values": ["true"]}])[
            "NetworkAcls"
        ]
    main_rt_id = main_rt[0]["RouteTableId"] if main_rt else None
    return {
        "id": vpc_id,
        "arn": ctx.arn("ec2", f"vpc/{vpc_id}"),
        "cidr_block": vpc["CidrBlock"],
        "owner_id": vpc.get("OwnerId", ctx.account_id),
        "main_route_table_id": main_rt_id,
        "default_route_table_id": main_rt_id,
        "default_security_group_id": default_sg[0]["GroupId"] if default_sg else None,
        "default_network_acl_id": acls[0]["NetworkAclId"] if acls else None,
        "dhcp_options_id": vpc.get("DhcpOptionsId"),
        "tags_all": ctx.tags(config),
    }


def update_vpc(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    ec2 = ctx.client("ec2")
    tenancy = new.get("instance_tenancy") or "default"
    if (old.get("instance_tenancy") or "default") != tenancy:
        # only dedicated -> default reaches here; the other direction is a replacement
        ec2.modify_vpc_tenancy(VpcId=attributes["id"], InstanceTenancy=tenancy)
    _set_vpc_dns(ec2, attributes["id"], new, old)
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}


def delete_vpc(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_vpc(VpcId=attributes["id"])


# --- subnets --------------------------------------------------------------------------------


def create_subnet(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    kwargs: dict[str, Any] = {"VpcId": config["vpc_id"], "CidrBlock": config["cidr_block"]}
    if config.get("availability_zone"):
        kwargs["AvailabilityZone"] = config["availability_zone"]
    elif config.get("availability_zone_id"):
        kwargs["AvailabilityZoneId"] = config["availability_zone_id"]
    subnet = ec2.create_subnet(**kwargs, **tag_specifications(ctx, config, "subnet"))["Subnet"]
    subnet_id = subnet["SubnetId"]
    with undo_on_error(lambda: ec2.delete_subnet(SubnetId=subnet_id)):
        if config.get("map_public_ip_on_launch"):
            ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    return {
        "id": subnet_id,
        "arn": subnet.get("SubnetArn") or ctx.arn("ec2", f"subnet/{subnet_id}"),
        "availability_zone": subnet["AvailabilityZone"],
        "availability_zone_id": subnet.get("AvailabilityZoneId"),
        "cidr_block": subnet["CidrBlock"],
        "vpc_id": subnet["VpcId"],
        "owner_id": subnet.get("OwnerId", ctx.account_id),
        "tags_all": ctx.tags(config),
    }


def update_subnet(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    if changed(old, new, "map_public_ip_on_launch"):
        ctx.client("ec2").modify_subnet_attribute(
            SubnetId=attributes["id"], MapPublicIpOnLaunch={"Value": bool(new.get("map_public_ip_on_launch"))}
        )
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}


def delete_subnet(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_subnet(SubnetId=attributes["id"])


# --- internet gateway -----------------------------------------------------------------------


def create_internet_gateway(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    igw_id = ec2.create_internet_gateway(**tag_specifications(ctx, config, "internet-gateway"))[
        "InternetGateway"
    ]["InternetGatewayId"]
    with undo_on_error(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id)):
        if config.get("vpc_id"):
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=config["vpc_id"])
    return {
        "id": igw_id,
        "arn": ctx.arn("ec2", f"internet-gateway/{igw_id}"),
        "owner_id": ctx.account_id,
        "tags_all": ctx.tags(config),
    }


def update_internet_gateway(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    ec2 = ctx.client("ec2")
    if changed(old, new, "vpc_id"):
        if old.get("vpc_id"):
            with ignore_missing(*_GONE):
                ec2.detach_internet_gateway(InternetGatewayId=attributes["id"], VpcId=old["vpc_id"])
        if new.get("vpc_id"):
            ec2.attach_internet_gateway(InternetGatewayId=attributes["id"], VpcId=new["vpc_id"])
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}


def delete_internet_gateway(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    ec2 = ctx.client("ec2")
    with ignore_missing(*_GONE):
        if config.get("vpc_id"):
            with ignore_missing(*_GONE):
                ec2.detach_internet_gateway(InternetGatewayId=attributes["id"], VpcId=config["vpc_id"])
        ec2.delete_internet_gateway(InternetGatewayId=attributes["id"])


# --- elastic IPs ----------------------------------------------------------------------------


def create_eip(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    kwargs: dict[str, Any] = {"Domain": config.get("domain", "vpc")}
    if config.get("network_border_group"):
        kwargs["NetworkBorderGroup"] = config["network_border_group"]
    address = ec2.allocate_address(**kwargs, **tag_specifications(ctx, config, "elastic-ip"))
    allocation_id = address["AllocationId"]
    public_ip = address["PublicIp"]
    return {
        "id": allocation_id,
        "allocation_id": allocation_id,
        "public_ip": public_ip,
        "public_dns": f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com",
        "domain": address.get("Domain", "vpc"),
        "arn": ctx.arn("ec2", f"elastic-ip/{allocation_id}"),
        "tags_all": ctx.tags(config),
    }


def delete_eip(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").release_address(AllocationId=attributes["allocation_id"])


# --- NAT gateway ----------------------------------------------------------------------------


def create_nat_gateway(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "SubnetId": config["subnet_id"],
        "ConnectivityType": config.get("connectivity_type", "public"),
    }
    if config.get("allocation_id"):
        kwargs["AllocationId"] = config["allocation_id"]
    if config.get("private_ip"):
        kwargs["PrivateIpAddress"] = config["private_ip"]
    nat = ctx.client("ec2").create_nat_gateway(**kwargs, **tag_specifications(ctx, config, "natgateway"))[
        "NatGateway"
    ]
    address = (nat.get("NatGatewayAddresses") or [{}])[0]
    return {
        "id": nat["NatGatewayId"],
        "public_ip": address.get("PublicIp"),
        "private_ip": address.get("PrivateIp"),
        "network_interface_id": address.get("NetworkInterfaceId"),
        "association_id": address.get("AssociationId"),
        "tags_all": ctx.tags(config),
    }


def delete_nat_gateway(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_nat_gateway(NatGatewayId=attributes["id"])


# --- route tables, routes and associations --------------------------------------------------

_ROUTE_TARGETS = {
    "gateway_id": "GatewayId",
    "nat_gateway_id": "NatGatewayId",
    "transit_gateway_id": "TransitGatewayId",
    "vpc_peering_connection_id": "VpcPeeringConnectionId",
    "network_interface_id": "NetworkInterfaceId",
    "egress_only_gateway_id": "EgressOnlyInternetGatewayId",
    "vpc_endpoint_id": "VpcEndpointId",
    "carrier_gateway_id": "CarrierGatewayId",
    "local_gateway_id": "LocalGatewayId",
    "core_network_arn": "CoreNetworkArn",
}
_ROUTE_DESTINATIONS = {
    "destination_cidr_block": "DestinationCidrBlock",
    "cidr_block": "DestinationCidrBlock",  # the inline ``route`` block of aws_route_table
    "destination_ipv6_cidr_block": "DestinationIpv6CidrBlock",
    "ipv6_cidr_block": "DestinationIpv6CidrBlock",
    "destination_prefix_list_id": "DestinationPrefixListId",
}


def _route_kwargs(route: Config) -> dict[str, Any]:
    kwargs = {api: route[arg] for arg, api in _ROUTE_DESTINATIONS.items() if route.get(arg)}
    kwargs.update({api: route[arg] for arg, api in _ROUTE_TARGETS.items() if route.get(arg)})
    return kwargs


def _destination(route: Config) -> dict[str, Any]:
    return {api: route[arg] for arg, api in _ROUTE_DESTINATIONS.items() if route.get(arg)}


def create_route_table(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    table_id = ec2.create_route_table(
        VpcId=config["vpc_id"], **tag_specifications(ctx, config, "route-table")
    )["RouteTable"]["RouteTableId"]
    with undo_on_error(lambda: ec2.delete_route_table(RouteTableId=table_id)):
        for route in blocks(config, "route"):
            ec2.create_route(RouteTableId=table_id, **_route_kwargs(route))
    return {
        "id": table_id,
        "arn": ctx.arn("ec2", f"route-table/{table_id}"),
        "owner_id": ctx.account_id,
        "tags_all": ctx.tags(config),
    }


def update_route_table(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    ec2 = ctx.client("ec2")
    if changed(old, new, "route"):
        for route in blocks(old, "route"):
            with ignore_missing(*_GONE):
                ec2.delete_route(RouteTableId=attributes["id"], **_destination(route))
        for route in blocks(new, "route"):
            ec2.create_route(RouteTableId=attributes["id"], **_route_kwargs(route))
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}


def delete_route_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_route_table(RouteTableId=attributes["id"])


def create_route(ctx: HandlerContext, config: Config) -> Attributes:
    ctx.client("ec2").create_route(RouteTableId=config["route_table_id"], **_route_kwargs(config))
    destination = next(iter(_destination(config).values()), "")
    # the provider's id: "r-" + route table id + a CRC-32 of the destination
    return {
        "id": f"r-{config['route_table_id']}{zlib.crc32(destination.encode())}",
        "state": "active",
        "origin": "CreateRoute",
    }


def update_route(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    ctx.client("ec2").replace_route(RouteTableId=new["route_table_id"], **_route_kwargs(new))
    return attributes


def delete_route(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_route(RouteTableId=config["route_table_id"], **_destination(config))


def associate_route_table(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs = {"RouteTableId": config["route_table_id"]}
    if config.get("subnet_id"):
        kwargs["SubnetId"] = config["subnet_id"]
    if config.get("gateway_id"):
        kwargs["GatewayId"] = config["gateway_id"]
    association_id = ctx.client("ec2").associate_route_table(**kwargs)["AssociationId"]
    return {"id": association_id}


def update_route_table_association(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    association_id = ctx.client("ec2").replace_route_table_association(
        AssociationId=attributes["id"], RouteTableId=new["route_table_id"]
    )["NewAssociationId"]
    return {**attributes, "id": association_id}


def disassociate_route_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").disassociate_route_table(AssociationId=attributes["id"])


# --- security groups ------------------------------------------------------------------------


#: the arguments of a standalone rule that ModifySecurityGroupRules changes in place
_RULE_ARGUMENTS = (
    "ip_protocol",
    "from_port",
    "to_port",
    "cidr_ipv4",
    "cidr_ipv6",
    "prefix_list_id",
    "referenced_security_group_id",
    "description",
)


def _rule_request(rule: Config) -> dict[str, Any]:
    """A standalone rule as the SecurityGroupRuleRequest of ModifySecurityGroupRules."""
    protocol = str(rule.get("ip_protocol", "-1"))
    request: dict[str, Any] = {"IpProtocol": "-1" if protocol in ("all", "-1") else protocol}
    for arg, api in (
        ("cidr_ipv4", "CidrIpv4"),
        ("cidr_ipv6", "CidrIpv6"),
        ("prefix_list_id", "PrefixListId"),
        ("referenced_security_group_id", "ReferencedGroupId"),
        ("description", "Description"),
    ):
        if rule.get(arg):
            request[api] = rule[arg]
    if request["IpProtocol"] != "-1":
        request["FromPort"] = int(rule.get("from_port", 0))
        request["ToPort"] = int(rule.get("to_port", 0))
    return request


def _permission(rule: Config) -> dict[str, Any]:
    """An inline ``ingress``/``egress`` block or a standalone rule as an EC2 IpPermission."""
    protocol = str(rule.get("protocol", rule.get("ip_protocol", "-1")))
    protocol = "-1" if protocol in ("all", "-1") else protocol
    permission: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        permission["FromPort"] = int(rule.get("from_port", 0))
        permission["ToPort"] = int(rule.get("to_port", 0))
    description = {"Description": rule["description"]} if rule.get("description") else {}
    cidrs = rule.get("cidr_blocks") or ([rule["cidr_ipv4"]] if rule.get("cidr_ipv4") else [])
    ipv6 = rule.get("ipv6_cidr_blocks") or ([rule["cidr_ipv6"]] if rule.get("cidr_ipv6") else [])
    groups = rule.get("security_groups") or (
        [rule["referenced_security_group_id"]] if rule.get("referenced_security_group_id") else []
    )
    prefixes = rule.get("prefix_list_ids") or ([rule["prefix_list_id"]] if rule.get("prefix_list_id") else [])
    if cidrs:
        permission["IpRanges"] = [{"CidrIp": c, **description} for c in cidrs]
    if ipv6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": c, **description} for c in ipv6]
    if groups:
        permission["UserIdGroupPairs"] = [{"GroupId": g, **description} for g in groups]
    if prefixes:
        permission["PrefixListIds"] = [{"PrefixListId": p, **description} for p in prefixes]
    return permission


def _authorize_inline(ec2: Any, group_id: str, config: Config) -> None:
    ingress = [_permission(r) for r in blocks(config, "ingress")]
    egress = [_permission(r) for r in blocks(config, "egress")]
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ingress)
    if egress:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=egress)


_ALLOW_ALL_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def create_security_group(ctx: HandlerContext, config: Config) -> Attributes:
    ec2 = ctx.client("ec2")
    name = unique_name(config)
    kwargs: dict[str, Any] = {
        "GroupName": name,
        "Description": config.get("description", "Managed by Terraform"),
    }
    if config.get("vpc_id"):
        kwargs["VpcId"] = config["vpc_id"]
    group_id = ec2.create_security_group(**kwargs, **tag_specifications(ctx, config, "security-group"))[
        "GroupId"
    ]
    with undo_on_error(lambda: ec2.delete_security_group(GroupId=group_id)):
        if config.get("vpc_id"):
            # like the provider: remove AWS's default allow-all egress rule; rules are explicit
            with ignore_missing(*_GONE):
                ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[_ALLOW_ALL_EGRESS])
        _authorize_inline(ec2, group_id, config)
    return {
        "id": group_id,
        "arn": ctx.arn("ec2", f"security-group/{group_id}"),
        "name": name,
        "owner_id": ctx.account_id,
        "tags_all": ctx.tags(config),
    }


def update_security_group(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    ec2 = ctx.client("ec2")
    group_id = attributes["id"]
    if changed(old, new, "ingress"):
        old_rules = [_permission(r) for r in blocks(old, "ingress")]
        if old_rules:
            with ignore_missing(*_GONE):
                ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=old_rules)
        if blocks(new, "ingress"):
            ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[_permission(r) for r in blocks(new, "ingress")]
            )
    if changed(old, new, "egress"):
        old_rules = [_permission(r) for r in blocks(old, "egress")]
        if old_rules:
            with ignore_missing(*_GONE):
                ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=old_rules)
        if blocks(new, "egress"):
            ec2.authorize_security_group_egress(
                GroupId=group_id, IpPermissions=[_permission(r) for r in blocks(new, "egress")]
            )
    return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, group_id)}


def delete_security_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_GONE):
        ctx.client("ec2").delete_security_group(GroupId=attributes["id"])


def _rule_handlers(direction: str) -> Handler:
    authorize = f"authorize_security_group_{direction}"
    revoke = f"revoke_security_group_{direction}"

    def create(ctx: HandlerContext, config: Config) -> Attributes:
        ec2 = ctx.client("ec2")
        response = getattr(ec2, authorize)(
            GroupId=config["security_group_id"],
            IpPermissions=[_permission(config)],
            **tag_specifications(ctx, config, "security-group-rule"),
        )
        rules = response.get("SecurityGroupRules") or []
        # moto returns the rule ids; should an emulator not, a local id keeps the state usable
        # (deletes then revoke by permission instead of by id)
        rule_id = rules[0]["SecurityGroupRuleId"] if rules else f"sgr-local{uuid.uuid4().hex[:12]}"
        return {
            "id": rule_id,
            "security_group_rule_id": rule_id,
            "arn": ctx.arn("ec2", f"security-group-rule/{rule_id}"),
            "tags_all": ctx.tags(config),
        }

    def delete(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
        ec2 = ctx.client("ec2")
        with ignore_missing(*_GONE):
            if attributes["id"].startswith("sgr-local"):
                getattr(ec2, revoke)(GroupId=config["security_group_id"], IpPermissions=[_permission(config)])
            else:
                getattr(ec2, revoke)(
                    GroupId=config["security_group_id"], SecurityGroupRuleIds=[attributes["id"]]
                )

    def update(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
        if any(old.get(arg) != new.get(arg) for arg in _RULE_ARGUMENTS):
            # the provider keeps the rule's id and changes it with ModifySecurityGroupRules
            ctx.client("ec2").modify_security_group_rules(
                GroupId=new["security_group_id"],
                SecurityGroupRules=[
                    {"SecurityGroupRuleId": attributes["id"], "SecurityGroupRule": _rule_request(new)}
                ],
            )
        return {**attributes, "tags_all": update_ec2_tags(ctx, old, new, attributes["id"])}

    return Handler(
        f"aws_vpc_security_group_{direction}_rule",
        create=create,
        update=update,
        delete=delete,
        exports=frozenset({"arn", "security_group_rule_id"}),
    )


HANDLERS = [
    Handler(
        "aws_vpc",
        create=create_vpc,
        update=update_vpc,
        delete=delete_vpc,
        exports=frozenset(
            {
                "arn",
                "cidr_block",
                "owner_id",
                "main_route_table_id",
                "default_route_table_id",
                "default_security_group_id",
                "default_network_acl_id",
                "dhcp_options_id",
            }
        ),
    ),
    Handler(
        "aws_subnet",
        create=create_subnet,
        update=update_subnet,
        delete=delete_subnet,
        exports=frozenset(
            {"arn", "availability_zone", "availability_zone_id", "cidr_block", "vpc_id", "owner_id"}
        ),
    ),
    Handler(
        "aws_internet_gateway",
        create=create_internet_gateway,
        update=update_internet_gateway,
        delete=delete_internet_gateway,
        exports=frozenset({"arn", "owner_id"}),
    ),
    Handler(
        "aws_eip",
        create=create_eip,
        update=_tags_only_update(),
        delete=delete_eip,
        exports=frozenset({"allocation_id", "public_ip", "public_dns", "domain", "arn"}),
    ),
    Handler(
        "aws_nat_gateway",
        create=create_nat_gateway,
        update=_tags_only_update(),
        delete=delete_nat_gateway,
        exports=frozenset({"public_ip", "private_ip", "network_interface_id", "association_id"}),
    ),
    Handler(
        "aws_route_table",
        create=create_route_table,
        update=update_route_table,
        delete=delete_route_table,
        exports=frozenset({"arn", "owner_id"}),
    ),
    Handler(
        "aws_route",
        create=create_route,
        update=update_route,
        delete=delete_route,
        exports=frozenset({"state", "origin"}),
    ),
    Handler(
        "aws_route_table_association",
        create=associate_route_table,
        update=update_route_table_association,
        delete=disassociate_route_table,
    ),
    Handler(
        "aws_security_group",
        create=create_security_group,
        update=update_security_group,
        delete=delete_security_group,
        exports=frozenset({"arn", "name", "owner_id"}),
    ),
    _rule_handlers("egress"),
    _rule_handlers("ingress"),
]

__all__ = ["HANDLERS", "tag_specifications", "update_ec2_tags"]
