"""Elastic Load Balancing v2: application load balancers, target groups and listeners (moto's elbv2).

moto records them faithfully but routes no traffic and runs no health checks; the emulator's
serving runs on 127.0.0.1 instead, so these handlers only make the stack apply and plan as on AWS.
"""

from __future__ import annotations

from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    blocks,
    changed,
    ignore_missing,
    sync_tags,
    tag_list,
    unique_name,
)

#: load balancer attributes the provider sets from arguments, as ELB names them
_LB_ATTRIBUTES = {
    "drop_invalid_header_fields": "routing.http.drop_invalid_header_fields.enabled",
    "idle_timeout": "idle_timeout.timeout_seconds",
    "enable_deletion_protection": "deletion_protection.enabled",
    "enable_http2": "routing.http2.enabled",
}


def _attribute_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _tagging(ctx: HandlerContext, arn: str, old: Config, new: Config) -> None:
    elbv2 = ctx.client("elbv2")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: elbv2.add_tags(ResourceArns=[arn], Tags=tag_list(t)),
        untag=lambda keys: elbv2.remove_tags(ResourceArns=[arn], TagKeys=keys),
    )


def _set_lb_attributes(ctx: HandlerContext, arn: str, config: Config) -> None:
    values = [
        {"Key": key, "Value": _attribute_value(config[arg])}
        for arg, key in _LB_ATTRIBUTES.items()
        if config.get(arg) is not None
    ]
    if values:
        ctx.client("elbv2").modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=values)


def create_load_balancer(ctx: HandlerContext, config: Config) -> Attributes:
    elbv2 = ctx.client("elbv2")
    name = unique_name(config)
    kwargs: dict[str, Any] = {
        "Name": name,
        "Subnets": list(config.get("subnets") or []),
        "SecurityGroups": list(config.get("security_groups") or []),
        "Scheme": "internal" if config.get("internal") else "internet-facing",
        "Type": config.get("load_balancer_type", "application"),
        "IpAddressType": config.get("ip_address_type", "ipv4"),
    }
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    balancer = elbv2.create_load_balancer(**kwargs)["LoadBalancers"][0]
    arn = balancer["LoadBalancerArn"]
    _set_lb_attributes(ctx, arn, config)
    return {
        "id": arn,
        "arn": arn,
        "arn_suffix": arn.split(":loadbalancer/", 1)[-1],
        "name": name,
        "dns_name": balancer["DNSName"],
        "zone_id": balancer.get("CanonicalHostedZoneId", ""),
        "vpc_id": balancer.get("VpcId", ""),
        "tags_all": tags,
    }


def update_load_balancer(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    elbv2 = ctx.client("elbv2")
    arn = attributes["arn"]
    if changed(old, new, "security_groups"):
        elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=list(new.get("security_groups") or []))
    if changed(old, new, "subnets"):
        elbv2.set_subnets(LoadBalancerArn=arn, Subnets=list(new.get("subnets") or []))
    if changed(old, new, *_LB_ATTRIBUTES):
        _set_lb_attributes(ctx, arn, new)
    _tagging(ctx, arn, old, new)
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_load_balancer(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("LoadBalancerNotFound"):
        ctx.client("elbv2").delete_load_balancer(LoadBalancerArn=attributes["arn"])


def _health_check(config: Config) -> dict[str, Any]:
    check = block(config, "health_check") or {}
    kwargs: dict[str, Any] = {}
    for arg, key in (
        ("protocol", "HealthCheckProtocol"),
        ("port", "HealthCheckPort"),
        ("path", "HealthCheckPath"),
        ("interval", "HealthCheckIntervalSeconds"),
        ("timeout", "HealthCheckTimeoutSeconds"),
        ("healthy_threshold", "HealthyThresholdCount"),
        ("unhealthy_threshold", "UnhealthyThresholdCount"),
    ):
        if check.get(arg) is not None:
            kwargs[key] = int(check[arg]) if key.endswith(("Seconds", "Count")) else str(check[arg])
    if check.get("enabled") is not None:
        kwargs["HealthCheckEnabled"] = check["enabled"] in (True, "true")
    if check.get("matcher"):
        kwargs["Matcher"] = {"HttpCode": str(check["matcher"])}
    return kwargs


def create_target_group(ctx: HandlerContext, config: Config) -> Attributes:
    elbv2 = ctx.client("elbv2")
    name = unique_name(config)
    kwargs: dict[str, Any] = {
        "Name": name,
        "Protocol": config.get("protocol", "HTTP"),
        "Port": int(config["port"]),
        "VpcId": config["vpc_id"],
        "TargetType": config.get("target_type", "instance"),
        **_health_check(config),
    }
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    group = elbv2.create_target_group(**kwargs)["TargetGroups"][0]
    arn = group["TargetGroupArn"]
    if config.get("deregistration_delay") is not None:
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(config["deregistration_delay"])}
            ],
        )
    return {
        "id": arn,
        "arn": arn,
        "arn_suffix": arn.split(":", 5)[-1],
        "name": name,
        "tags_all": tags,
    }


def update_target_group(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    elbv2 = ctx.client("elbv2")
    arn = attributes["arn"]
    if changed(old, new, "health_check"):
        elbv2.modify_target_group(TargetGroupArn=arn, **_health_check(new))
    if changed(old, new, "deregistration_delay") and new.get("deregistration_delay") is not None:
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(new["deregistration_delay"])}
            ],
        )
    _tagging(ctx, arn, old, new)
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_target_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("TargetGroupNotFound"):
        ctx.client("elbv2").delete_target_group(TargetGroupArn=attributes["arn"])


def _actions(config: Config) -> list[dict[str, Any]]:
    found = []
    for i, action in enumerate(blocks(config, "default_action")):
        item: dict[str, Any] = {"Type": action["type"], "Order": int(action.get("order") or i + 1)}
        if action.get("target_group_arn"):
            item["TargetGroupArn"] = action["target_group_arn"]
        found.append(item)
    return found


def create_listener(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "LoadBalancerArn": config["load_balancer_arn"],
        "Protocol": config.get("protocol", "HTTP"),
        "Port": int(config["port"]),
        "DefaultActions": _actions(config),
    }
    if config.get("certificate_arn"):
        kwargs["Certificates"] = [{"CertificateArn": config["certificate_arn"]}]
    if config.get("ssl_policy"):
        kwargs["SslPolicy"] = config["ssl_policy"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    listener = ctx.client("elbv2").create_listener(**kwargs)["Listeners"][0]
    return {"id": listener["ListenerArn"], "arn": listener["ListenerArn"], "tags_all": tags}


def update_listener(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    if changed(old, new, "port", "protocol", "default_action", "certificate_arn", "ssl_policy"):
        kwargs: dict[str, Any] = {
            "ListenerArn": attributes["arn"],
            "Protocol": new.get("protocol", "HTTP"),
            "Port": int(new["port"]),
            "DefaultActions": _actions(new),
        }
        if new.get("certificate_arn"):
            kwargs["Certificates"] = [{"CertificateArn": new["certificate_arn"]}]
        ctx.client("elbv2").modify_listener(**kwargs)
    _tagging(ctx, attributes["arn"], old, new)
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_listener(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ListenerNotFound"):
        ctx.client("elbv2").delete_listener(ListenerArn=attributes["arn"])


HANDLERS = [
    Handler(
        "aws_lb",
        create=create_load_balancer,
        update=update_load_balancer,
        delete=delete_load_balancer,
        exports=frozenset({"arn", "arn_suffix", "name", "dns_name", "zone_id", "vpc_id"}),
    ),
    Handler(
        "aws_lb_target_group",
        create=create_target_group,
        update=update_target_group,
        delete=delete_target_group,
        exports=frozenset({"arn", "arn_suffix", "name"}),
    ),
    Handler(
        "aws_lb_listener",
        create=create_listener,
        update=update_listener,
        delete=delete_listener,
        exports=frozenset({"arn"}),
    ),
]

__all__ = ["HANDLERS"]
