"""Refresh reads for many resources of one type at once: one list call instead of one call each.

A plan refreshes every resource of the state, and most of its time went to the emulator's
per-request cost (a connection, signing, dispatch) times some 270 requests. For the types a
stack holds many of, the API can answer for all of them in one call (``DescribeAlarms`` takes
100 names, ``ListRoles`` lists every role, EC2 describes filter on many ids); a batch reader asks
that call and builds each resource's :class:`Observed` with the single reader's own builder, so
both reads agree (``tests/functional/emulator/test_batch_reads.py`` compares them).

``read_batch(ctx, items) -> observations`` takes ``(config, attributes)`` pairs of one type and
one context and returns, in order, what the single reader would. An item without the id the
batch looks up (a create that a killed apply never recorded) goes to the single reader.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tenantml.emulator.resources import reads
from tenantml.emulator.resources.base import Attributes, Config, HandlerContext, Observed

Item = tuple[Config, Attributes]
BatchReader = Callable[[HandlerContext, Sequence[Item]], list["Observed | None"]]
#: the key one item is looked up by (None: read it alone)
_Key = Callable[[Config, Attributes], "str | None"]
#: key -> what the API said about it, for the keys asked (absent: the resource does not exist)
_Fetch = Callable[[HandlerContext, list[str]], Mapping[str, Any]]
_Build = Callable[[HandlerContext, Config, Attributes, Any], "Observed | None"]


def _batched(single: reads.Reader, key: _Key, fetch: _Fetch, build: _Build) -> BatchReader:
    def read(ctx: HandlerContext, items: Sequence[Item]) -> list[Observed | None]:
        keys = [key(config, attributes) for config, attributes in items]
        wanted = sorted({k for k in keys if k is not None})
        found = fetch(ctx, wanted) if wanted else {}
        return [
            single(ctx, config, attributes)
            if k is None
            else (build(ctx, config, attributes, found[k]) if k in found else None)
            for (config, attributes), k in zip(items, keys, strict=True)
        ]

    return read


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- IAM ------------------------------------------------------------------------------------


def _roles(ctx: HandlerContext) -> Iterable[dict[str, Any]]:
    """Every role of the account with its inline policy names and attached policies, in one call
    (``GetAccountAuthorizationDetails``) instead of a ``GetRolePolicy``/``ListAttachedRolePolicies``
    per resource."""
    return _pages(ctx.client("iam"), "get_account_authorization_details", "RoleDetailList", Filter=["Role"])


def _role_name(config: Config, attributes: Attributes) -> str | None:
    return attributes.get("name") or config.get("name") or None


def _fetch_roles(ctx: HandlerContext, names: list[str]) -> Mapping[str, Any]:
    # ListRoles: a third of the authorization details' size (no policy documents)
    wanted = set(names)
    return {
        r["RoleName"]: r for r in _pages(ctx.client("iam"), "list_roles", "Roles") if r["RoleName"] in wanted
    }


# a role name holds no "/" or ":" (IAM allows only [\w+=,.@-]), so "<role>:<policy>" keys are unique


def _role_policy_key(config: Config, attributes: Attributes) -> str | None:
    return f"{config['role']}:{config['name']}" if config.get("name") else None


def _fetch_role_policies(ctx: HandlerContext, keys: list[str]) -> Mapping[str, Any]:
    found = {f"{r['RoleName']}:{p['PolicyName']}" for r in _roles(ctx) for p in r.get("RolePolicyList", [])}
    return {k: True for k in keys if k in found}


def _attachment_key(config: Config, attributes: Attributes) -> str | None:
    return f"{config['role']}/{config['policy_arn']}"


def _fetch_attachments(ctx: HandlerContext, keys: list[str]) -> Mapping[str, Any]:
    found = {
        f"{r['RoleName']}/{p['PolicyArn']}" for r in _roles(ctx) for p in r.get("AttachedManagedPolicies", [])
    }
    return {k: True for k in keys if k in found}


# --- CloudWatch -----------------------------------------------------------------------------


def _alarm_name(config: Config, attributes: Attributes) -> str | None:
    return attributes.get("id") or config["alarm_name"]


def _fetch_alarms(ctx: HandlerContext, names: list[str]) -> Mapping[str, Any]:
    cloudwatch = ctx.client("cloudwatch")
    return {
        alarm["AlarmName"]: alarm
        for chunk in _chunks(names, 100)  # DescribeAlarms takes at most 100 names
        for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms", AlarmNames=chunk)
    }


def _log_group_name(config: Config, attributes: Attributes) -> str | None:
    return attributes.get("name") or config.get("name") or None


def _fetch_log_groups(ctx: HandlerContext, names: list[str]) -> Mapping[str, Any]:
    # the names' common prefix keeps other tenants' and the jobs' log groups out of the listing
    prefix = os.path.commonprefix(names)
    kwargs = {"logGroupNamePrefix": prefix} if prefix else {}
    wanted = set(names)
    return {
        g["logGroupName"]: g
        for g in _pages(ctx.client("logs"), "describe_log_groups", "logGroups", **kwargs)
        if g["logGroupName"] in wanted
    }


# --- EC2 ------------------------------------------------------------------------------------


def _recorded_id(config: Config, attributes: Attributes) -> str | None:
    return attributes.get("id") or None


def _fetch_ec2(operation: str, key: str, id_key: str, id_filter: str) -> _Fetch:
    """EC2 objects by id through a filter: unlike ``<Type>Ids``, a filter does not fail the whole
    call with ``...NotFound`` when one of them was deleted."""

    def fetch(ctx: HandlerContext, ids: list[str]) -> Mapping[str, Any]:
        ec2 = ctx.client("ec2")
        return {
            item[id_key]: item
            for chunk in _chunks(ids, 200)  # EC2 takes at most 200 values per filter
            for item in _pages(ec2, operation, key, Filters=[{"Name": id_filter, "Values": chunk}])
        }

    return fetch


_fetch_route_tables = _fetch_ec2("describe_route_tables", "RouteTables", "RouteTableId", "route-table-id")


def _table_of(config: Config, attributes: Attributes) -> str | None:
    return config["route_table_id"]


# --- Lambda, SNS, EKS ----------------------------------------------------------------------


def _recorded_function_name(config: Config, attributes: Attributes) -> str | None:
    # adopting (no attributes) builds every attribute from the function: the single read does that
    return str(config["function_name"]) if attributes else None


def _fetch_functions(ctx: HandlerContext, names: list[str]) -> Mapping[str, Any]:
    found: dict[str, Any] = {}
    for function in _pages(ctx.client("lambda"), "list_functions", "Functions"):
        found[function["FunctionName"]] = found[function["FunctionArn"]] = function
    return {n: found[n] for n in names if n in found}


def _topic_of(config: Config, attributes: Attributes) -> str | None:
    return config["topic_arn"]


def _fetch_subscriptions(ctx: HandlerContext, topics: list[str]) -> Mapping[str, Any]:
    """One ``ListSubscriptions`` instead of one ``ListSubscriptionsByTopic`` per subscription."""
    by_topic: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    for subscription in _pages(ctx.client("sns"), "list_subscriptions", "Subscriptions"):
        if subscription["TopicArn"] in by_topic:
            by_topic[subscription["TopicArn"]].append(subscription)
    return by_topic


def _recorded_cluster(config: Config, attributes: Attributes) -> str | None:
    return str(config["cluster_name"]) if attributes else None


def _fetch_clusters(ctx: HandlerContext, names: list[str]) -> Mapping[str, Any]:
    """One ``DescribeCluster`` per cluster for all of its (recorded-only) access entries."""
    eks = ctx.client("eks")
    found = {name: reads._get(lambda n=name: eks.describe_cluster(name=n)) for name in names}
    return {name: cluster for name, cluster in found.items() if reads.cluster_lives(cluster)}


def _recorded_with_cluster(single: reads.Reader) -> BatchReader:
    # an access entry or policy association exists while its cluster does, as the state records it
    return _batched(
        single,
        _recorded_cluster,
        _fetch_clusters,
        lambda ctx, config, attributes, _: Observed(dict(attributes)),
    )


BATCH_READERS: Mapping[str, BatchReader] = {
    "aws_iam_role": _batched(
        reads.read_role,
        _role_name,
        _fetch_roles,
        lambda ctx, config, attributes, role: reads.role_observed(ctx, config, role),
    ),
    "aws_iam_role_policy": _batched(
        reads.read_role_policy,
        _role_policy_key,
        _fetch_role_policies,
        lambda ctx, config, attributes, _: Observed(
            {"id": f"{config['role']}:{config['name']}", "name": config["name"]}
        ),
    ),
    "aws_iam_role_policy_attachment": _batched(
        reads.read_role_policy_attachment,
        _attachment_key,
        _fetch_attachments,
        lambda ctx, config, attributes, _: Observed({"id": f"{config['role']}/{config['policy_arn']}"}),
    ),
    "aws_cloudwatch_metric_alarm": _batched(
        reads.read_alarm,
        _alarm_name,
        _fetch_alarms,
        lambda ctx, config, attributes, alarm: reads.alarm_observed(ctx, config, alarm),
    ),
    "aws_cloudwatch_log_group": _batched(
        reads.read_log_group,
        _log_group_name,
        _fetch_log_groups,
        lambda ctx, config, attributes, group: reads.log_group_observed(ctx, config, group),
    ),
    "aws_subnet": _batched(
        reads.read_subnet,
        _recorded_id,
        _fetch_ec2("describe_subnets", "Subnets", "SubnetId", "subnet-id"),
        lambda ctx, config, attributes, _: Observed(dict(attributes)),
    ),
    "aws_route_table": _batched(
        reads.read_route_table,
        _recorded_id,
        _fetch_route_tables,
        lambda ctx, config, attributes, table: reads.route_table_observed(ctx, config, table),
    ),
    "aws_route": _batched(
        reads.read_route,
        _table_of,
        _fetch_route_tables,
        lambda ctx, config, attributes, table: reads.route_in(config, table),
    ),
    "aws_route_table_association": _batched(
        reads.read_route_table_association,
        _table_of,
        _fetch_route_tables,
        lambda ctx, config, attributes, table: reads.association_in(config, table),
    ),
    "aws_lambda_function": _batched(
        reads.read_function,
        _recorded_function_name,
        _fetch_functions,
        lambda ctx, config, attributes, function: reads.recorded_function(config, attributes, function),
    ),
    "aws_sns_topic_subscription": _batched(
        reads.read_subscription,
        _topic_of,
        _fetch_subscriptions,
        lambda ctx, config, attributes, subscriptions: reads.subscription_in(
            ctx, config, attributes, subscriptions
        ),
    ),
    "aws_eks_access_entry": _recorded_with_cluster(reads.READERS["aws_eks_access_entry"]),
    "aws_eks_access_policy_association": _recorded_with_cluster(
        reads.READERS["aws_eks_access_policy_association"]
    ),
}

__all__ = ["BATCH_READERS", "BatchReader", "Item"]
