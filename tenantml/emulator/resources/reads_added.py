"""Readers for the resource types added to the example stacks after :mod:`.reads` was written.

The same contract as :mod:`.reads` (refresh, and adopting a crashed create): locate the resource by
the ids in ``attributes`` when the state has them, else by the identity its configuration names,
and return what ``create`` would have returned, or ``None`` when it does not exist. They are a module
of their own so that each family's readers stay next to the shared helpers they use; the handler
table attaches :data:`READERS` with those of :mod:`.reads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantml.emulator.resources import eks_access, iam
from tenantml.emulator.resources.base import Attributes, Config, HandlerContext, Observed
from tenantml.emulator.resources.reads import Reader, _claimed, _ec2_filters, _get, _one, _tags_of

# --- EC2: the default security group, flow logs, VPC endpoints ------------------------------


def read_default_security_group(
    ctx: HandlerContext, config: Config, attributes: Attributes
) -> Observed | None:
    # the VPC's own group: it exists exactly while the VPC does (a default group cannot be deleted)
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        found = _get(lambda: ec2.describe_security_groups(GroupIds=[attributes["id"]]))
    else:
        filters = [
            {"Name": "vpc-id", "Values": [config["vpc_id"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
        found = _get(lambda: ec2.describe_security_groups(Filters=filters))
    group = _one(found, "SecurityGroups")
    if group is None:
        return None
    group_id = group["GroupId"]
    return Observed(
        {
            "id": group_id,
            "arn": ctx.arn("ec2", f"security-group/{group_id}"),
            "name": "default",
            "owner_id": ctx.account_id,
            "tags_all": ctx.tags(config),
        }
    )


def _unclaimed(ctx: HandlerContext, config: Config, items: list[dict[str, Any]], id_key: str) -> dict | None:
    """The first of ``items`` (already filtered by the tags the create set) no other resource holds.

    moto answers these describes without their tags, so the tag filter is the server's, not
    :func:`~.reads._adoptable`'s exact comparison.
    """
    taken = _claimed.get()
    wanted = {k: str(v) for k, v in ctx.tags(config).items()}
    found = [i for i in items if i[id_key] not in taken and (not i.get("Tags") or _tags_of(i) == wanted)]
    return found[0] if found else None


def read_flow_log(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        found = _get(lambda: ec2.describe_flow_logs(FlowLogIds=[attributes["id"]]))
        flow_log = _one(found, "FlowLogs")
    else:
        # AWS names flow logs itself: the one of this VPC, this traffic type, with the create's tags
        filters = _ec2_filters(
            ctx, config, resource_id=config["vpc_id"], traffic_type=config.get("traffic_type", "ALL")
        )
        flow_log = _unclaimed(ctx, config, ec2.describe_flow_logs(Filter=filters)["FlowLogs"], "FlowLogId")
    if flow_log is None:
        return None
    flow_log_id = flow_log["FlowLogId"]
    return Observed(
        {
            "id": flow_log_id,
            "arn": ctx.arn("ec2", f"vpc-flow-log/{flow_log_id}"),
            "tags_all": ctx.tags(config),
        }
    )


_ENDPOINT_GONE = frozenset({"deleting", "deleted", "rejected", "failed", "expired"})


def read_vpc_endpoint(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        found = _get(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[attributes["id"]]))
        candidates = (found or {}).get("VpcEndpoints", [])
    else:
        # moto filters endpoints by neither VPC nor service: those are matched here, the tags by the server
        candidates = [
            e
            for e in ec2.describe_vpc_endpoints(Filters=_ec2_filters(ctx, config))["VpcEndpoints"]
            if e.get("VpcId") == config["vpc_id"] and e.get("ServiceName") == config["service_name"]
        ]
    live = [e for e in candidates if str(e.get("State", "available")).lower() not in _ENDPOINT_GONE]
    endpoint = live[0] if attributes.get("id") and live else _unclaimed(ctx, config, live, "VpcEndpointId")
    if endpoint is None:
        return None
    endpoint_id = endpoint["VpcEndpointId"]
    return Observed(
        {
            "id": endpoint_id,
            "arn": ctx.arn("ec2", f"vpc-endpoint/{endpoint_id}"),
            "owner_id": ctx.account_id,
            "state": endpoint.get("State", "available"),
            "tags_all": ctx.tags(config),
        }
    )


# --- IAM: service-linked roles --------------------------------------------------------------


def read_service_linked_role(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    client = ctx.client("iam")
    if attributes.get("name"):
        found = _get(lambda: client.get_role(RoleName=attributes["name"]))
        role = found["Role"] if found else None
    else:
        # AWS names the role from the service: the one under the service's path with this suffix
        service = config["aws_service_name"]
        suffix = config.get("custom_suffix")
        role = None
        for page in client.get_paginator("list_roles").paginate(PathPrefix=f"/aws-service-role/{service}/"):
            for candidate in page["Roles"]:
                name = candidate["RoleName"]
                if (suffix and name.endswith(f"_{suffix}")) or (not suffix and "_" not in name):
                    role = candidate
                    break
            if role:
                break
    if role is None:
        return None
    return Observed(
        {
            "id": role["Arn"],
            "arn": role["Arn"],
            "name": role["RoleName"],
            "path": role["Path"],
            "unique_id": role["RoleId"],
            "create_date": iam._iso(role["CreateDate"]),
            "tags_all": ctx.tags(config),
        }
    )


# --- Elastic Load Balancing v2 --------------------------------------------------------------


def read_load_balancer(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    elbv2 = ctx.client("elbv2")
    if attributes.get("arn"):
        found = _get(lambda: elbv2.describe_load_balancers(LoadBalancerArns=[attributes["arn"]]))
    elif config.get("name"):
        found = _get(lambda: elbv2.describe_load_balancers(Names=[config["name"]]))
    else:
        return None  # a generated name: nothing names it before its create answered
    balancer = _one(found, "LoadBalancers")
    if balancer is None or (balancer.get("State") or {}).get("Code") == "failed":
        return None
    arn = balancer["LoadBalancerArn"]
    return Observed(
        {
            "id": arn,
            "arn": arn,
            "arn_suffix": arn.split(":loadbalancer/", 1)[-1],
            "name": balancer["LoadBalancerName"],
            "dns_name": balancer["DNSName"],
            "zone_id": balancer.get("CanonicalHostedZoneId", ""),
            "vpc_id": balancer.get("VpcId", ""),
            "tags_all": ctx.tags(config),
        }
    )


def read_target_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    elbv2 = ctx.client("elbv2")
    if attributes.get("arn"):
        found = _get(lambda: elbv2.describe_target_groups(TargetGroupArns=[attributes["arn"]]))
    elif config.get("name"):
        found = _get(lambda: elbv2.describe_target_groups(Names=[config["name"]]))
    else:
        return None  # a generated name: nothing names it before its create answered
    group = _one(found, "TargetGroups")
    if group is None:
        return None
    arn = group["TargetGroupArn"]
    return Observed(
        {
            "id": arn,
            "arn": arn,
            "arn_suffix": arn.split(":", 5)[-1],
            "name": group["TargetGroupName"],
            "tags_all": ctx.tags(config),
        }
    )


def read_listener(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    elbv2 = ctx.client("elbv2")
    if attributes.get("arn"):
        listener = _one(_get(lambda: elbv2.describe_listeners(ListenerArns=[attributes["arn"]])), "Listeners")
    else:
        # a load balancer has one listener per port
        found = _get(lambda: elbv2.describe_listeners(LoadBalancerArn=config["load_balancer_arn"]))
        port = int(config["port"])
        listener = next((x for x in (found or {}).get("Listeners", []) if x.get("Port") == port), None)
    if listener is None:
        return None
    arn = listener["ListenerArn"]
    return Observed({"id": arn, "arn": arn, "tags_all": ctx.tags(config)})


# --- S3 server access logging ---------------------------------------------------------------


def read_bucket_logging(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("s3").get_bucket_logging(Bucket=config["bucket"]))
    # the bucket answers without logging once it is turned off: then the resource is gone
    if found is None or not found.get("LoggingEnabled"):
        return None
    return Observed({"id": config["bucket"]})


# --- EKS access entries (recorded only) -----------------------------------------------------


def _recorded(create: Any) -> Reader:
    """A record-only EKS resource: it exists while its cluster does, as the state recorded it.

    Without attributes (a create never recorded) it is what ``create`` returns: that only checks
    what AWS would (the cluster, the principal) and makes the record, so calling it changes nothing.
    """

    def read(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
        cluster = _get(lambda: ctx.client("eks").describe_cluster(name=config["cluster_name"]))
        if cluster is None or cluster["cluster"].get("status") == "DELETING":
            return None  # EKS deletes a cluster's access entries with it
        if attributes:
            return Observed(dict(attributes))
        recorded = _get(lambda: create(ctx, config))
        return Observed(recorded) if recorded is not None else None

    return read


READERS: Mapping[str, Reader] = {
    "aws_default_security_group": read_default_security_group,
    "aws_flow_log": read_flow_log,
    "aws_vpc_endpoint": read_vpc_endpoint,
    "aws_iam_service_linked_role": read_service_linked_role,
    "aws_lb": read_load_balancer,
    "aws_lb_target_group": read_target_group,
    "aws_lb_listener": read_listener,
    "aws_s3_bucket_logging": read_bucket_logging,
    "aws_eks_access_entry": _recorded(eks_access.create_access_entry),
    "aws_eks_access_policy_association": _recorded(eks_access.create_policy_association),
}

__all__ = ["READERS"]
