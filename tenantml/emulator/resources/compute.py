"""Compute: EKS clusters and node groups, EC2 launch templates and Auto Scaling groups."""

from __future__ import annotations

import base64
import time
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
    pascal,
    sync_tags,
    unique_name,
)
from tenantml.emulator.resources.network import tag_specifications

# --- EKS cluster ----------------------------------------------------------------------------


def _cluster_vpc_config(config: Config) -> dict[str, Any]:
    vpc = block(config, "vpc_config") or {}
    api: dict[str, Any] = {"subnetIds": list(vpc.get("subnet_ids") or [])}
    if vpc.get("security_group_ids"):
        api["securityGroupIds"] = list(vpc["security_group_ids"])
    for arg, key in (
        ("endpoint_private_access", "endpointPrivateAccess"),
        ("endpoint_public_access", "endpointPublicAccess"),
    ):
        if vpc.get(arg) is not None:
            api[key] = bool(vpc[arg])
    if vpc.get("public_access_cidrs"):
        api["publicAccessCidrs"] = list(vpc["public_access_cidrs"])
    return api


def _cluster_logging(config: Config) -> dict[str, Any]:
    types = list(config.get("enabled_cluster_log_types") or [])
    return {"clusterLogging": [{"types": types, "enabled": True}]} if types else {"clusterLogging": []}


def _cluster_attributes(ctx: HandlerContext, cluster: dict[str, Any], config: Config) -> Attributes:
    vpc = cluster.get("resourcesVpcConfig") or {}
    issuer = ((cluster.get("identity") or {}).get("oidc") or {}).get("issuer")
    if not issuer:
        # moto always returns an issuer today; keep the provider's shape if it ever does not
        issuer = f"https://oidc.eks.{ctx.region}.amazonaws.com/id/{cluster['name'].upper()[:32]}"
    return {
        "id": cluster["name"],
        "name": cluster["name"],
        "arn": cluster["arn"],
        "endpoint": cluster.get("endpoint"),
        "version": cluster.get("version") or config.get("version"),
        "platform_version": cluster.get("platformVersion"),
        "status": cluster.get("status", "ACTIVE"),
        "cluster_id": cluster.get("id"),
        "created_at": str(cluster.get("createdAt", "")),
        # the provider exposes these nested blocks as lists: identity[0].oidc[0].issuer
        "identity": [{"oidc": [{"issuer": issuer}]}],
        "certificate_authority": [{"data": (cluster.get("certificateAuthority") or {}).get("data")}],
        "vpc_config": [
            {
                **(block(config, "vpc_config") or {}),
                "cluster_security_group_id": vpc.get("clusterSecurityGroupId"),
                "vpc_id": vpc.get("vpcId"),
            }
        ],
        "tags_all": ctx.tags(config),
    }


def create_cluster(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "name": config["name"],
        "roleArn": config["role_arn"],
        "resourcesVpcConfig": _cluster_vpc_config(config),
        "logging": _cluster_logging(config),
    }
    if config.get("version"):
        kwargs["version"] = config["version"]
    access = block(config, "access_config")
    if access:
        kwargs["accessConfig"] = {
            key: access[arg]
            for arg, key in (
                ("authentication_mode", "authenticationMode"),
                ("bootstrap_cluster_creator_admin_permissions", "bootstrapClusterCreatorAdminPermissions"),
            )
            if access.get(arg) is not None
        }
    network = block(config, "kubernetes_network_config")
    if network:
        kwargs["kubernetesNetworkConfig"] = {
            pascal(k)[0].lower() + pascal(k)[1:]: v
            for k, v in network.items()
            if not isinstance(v, (dict, list))
        }
    encryption = blocks(config, "encryption_config")
    if encryption:
        kwargs["encryptionConfig"] = [
            {
                "resources": list(e.get("resources") or []),
                "provider": {"keyArn": (block(e, "provider") or {}).get("key_arn")},
            }
            for e in encryption
        ]
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = tags
    cluster = ctx.client("eks").create_cluster(**kwargs)["cluster"]
    return _cluster_attributes(ctx, cluster, config)


def update_cluster(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    eks = ctx.client("eks")
    name = attributes["name"]
    result = dict(attributes)
    if changed(old, new, "vpc_config", "enabled_cluster_log_types"):
        cluster = eks.update_cluster_config(
            name=name, resourcesVpcConfig=_cluster_vpc_config(new), logging=_cluster_logging(new)
        )["cluster"]
        result = {
            **_cluster_attributes(ctx, cluster, new),
            **{k: v for k, v in result.items() if k == "identity"},
        }
    if changed(old, new, "version"):
        # moto has no UpdateClusterVersion: the new version is recorded locally, which is
        # what the control plane would report once the upgrade finished
        result["version"] = new.get("version")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: eks.tag_resource(resourceArn=attributes["arn"], tags=t),
        untag=lambda keys: eks.untag_resource(resourceArn=attributes["arn"], tagKeys=keys),
    )
    result["tags_all"] = ctx.tags(new)
    return result


def delete_cluster(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("eks").delete_cluster(name=attributes["name"])


# --- EKS node group -------------------------------------------------------------------------


def _scaling(config: Config) -> dict[str, int]:
    scaling = block(config, "scaling_config") or {}
    return {
        "minSize": int(scaling.get("min_size", 1)),
        "maxSize": int(scaling.get("max_size", 1)),
        "desiredSize": int(scaling.get("desired_size", scaling.get("min_size", 1))),
    }


def _taints(config: Config) -> list[dict[str, str]]:
    return [
        {"key": t["key"], "value": t.get("value", ""), "effect": t["effect"]} for t in blocks(config, "taint")
    ]


def create_node_group(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config, "node_group_name", "node_group_name_prefix")
    kwargs: dict[str, Any] = {
        "clusterName": config["cluster_name"],
        "nodegroupName": name,
        "nodeRole": config["node_role_arn"],
        "subnets": list(config["subnet_ids"]),
        "scalingConfig": _scaling(config),
    }
    for arg, key in (
        ("ami_type", "amiType"),
        ("capacity_type", "capacityType"),
        ("version", "version"),
        ("release_version", "releaseVersion"),
    ):
        if config.get(arg):
            kwargs[key] = config[arg]
    if config.get("instance_types"):
        kwargs["instanceTypes"] = list(config["instance_types"])
    if config.get("disk_size"):
        kwargs["diskSize"] = int(config["disk_size"])
    if config.get("labels"):
        kwargs["labels"] = dict(config["labels"])
    if _taints(config):
        kwargs["taints"] = _taints(config)
    template = block(config, "launch_template")
    if template:
        kwargs["launchTemplate"] = {
            k: str(template[a])
            for a, k in (("id", "id"), ("name", "name"), ("version", "version"))
            if template.get(a)
        }
    update = block(config, "update_config")
    if update:
        kwargs["updateConfig"] = {
            pascal(k)[0].lower() + pascal(k)[1:]: int(v) for k, v in update.items() if v is not None
        }
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = tags
    group = ctx.client("eks").create_nodegroup(**kwargs)["nodegroup"]
    return {
        "id": f"{config['cluster_name']}:{name}",
        "node_group_name": name,
        "arn": group["nodegroupArn"],
        "status": group.get("status", "ACTIVE"),
        "version": group.get("version") or config.get("version"),
        "release_version": group.get("releaseVersion") or config.get("release_version"),
        "resources": [
            {
                "autoscaling_groups": [
                    {"name": g["name"]} for g in (group.get("resources") or {}).get("autoScalingGroups", [])
                ],
                "remote_access_security_group_id": (group.get("resources") or {}).get(
                    "remoteAccessSecurityGroup"
                ),
            }
        ],
        "tags_all": tags,
    }


def update_node_group(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    eks = ctx.client("eks")
    cluster, name = new["cluster_name"], attributes["node_group_name"]
    kwargs: dict[str, Any] = {}
    if changed(old, new, "scaling_config"):
        kwargs["scalingConfig"] = _scaling(new)
    if changed(old, new, "labels"):
        old_labels, new_labels = old.get("labels") or {}, new.get("labels") or {}
        kwargs["labels"] = {
            "addOrUpdateLabels": {k: v for k, v in new_labels.items() if old_labels.get(k) != v},
            "removeLabels": [k for k in old_labels if k not in new_labels],
        }
    if changed(old, new, "taint"):
        kwargs["taints"] = {
            "addOrUpdateTaints": _taints(new),
            "removeTaints": [t for t in _taints(old) if t not in _taints(new)],
        }
    if kwargs:
        eks.update_nodegroup_config(clusterName=cluster, nodegroupName=name, **kwargs)
    result = dict(attributes)
    if changed(old, new, "version", "release_version", "launch_template"):
        # moto has no UpdateNodegroupVersion: record what the rollout would end with
        result["version"] = new.get("version") or attributes.get("version")
        result["release_version"] = new.get("release_version") or attributes.get("release_version")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: eks.tag_resource(resourceArn=attributes["arn"], tags=t),
        untag=lambda keys: eks.untag_resource(resourceArn=attributes["arn"], tagKeys=keys),
    )
    result["tags_all"] = ctx.tags(new)
    return result


def delete_node_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("eks").delete_nodegroup(
            clusterName=config["cluster_name"], nodegroupName=attributes["node_group_name"]
        )


# --- launch templates -----------------------------------------------------------------------

#: blocks that appear at most once and become an object in LaunchTemplateData
_SINGLE_BLOCKS = frozenset(
    {
        "iam_instance_profile",
        "metadata_options",
        "monitoring",
        "ebs",
        "credit_specification",
        "cpu_options",
        "enclave_options",
        "hibernation_options",
        "maintenance_options",
        "private_dns_name_options",
        "placement",
        "instance_market_options",
        "spot_options",
        "capacity_reservation_specification",
        "instance_requirements",
    }
)
#: provider argument -> LaunchTemplateData key where the plain PascalCase is not the API's
_RENAMES = {
    "vpc_security_group_ids": "SecurityGroupIds",
    "security_group_names": "SecurityGroups",
    "tag_specifications": "TagSpecifications",
    "http_put_response_hop_limit": "HttpPutResponseHopLimit",
    "http_protocol_ipv6": "HttpProtocolIpv6",
    "kms_key_id": "KmsKeyId",
    "iops": "Iops",
}
#: arguments of aws_launch_template that are not part of LaunchTemplateData
_TEMPLATE_ONLY = frozenset(
    {"name", "name_prefix", "description", "tags", "update_default_version", "default_version"}
)


def _api_value(key: str, value: Any) -> Any:
    if key == "tags" and isinstance(value, dict):
        return [{"Key": k, "Value": str(v)} for k, v in value.items()]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = [_api_data(v) for v in value]
        return items[0] if key in _SINGLE_BLOCKS else items
    if isinstance(value, dict):
        return _api_data(value)
    if key in ("ebs_optimized", "encrypted", "delete_on_termination") and isinstance(value, str):
        return value == "true"
    return value


def _api_data(config: Config) -> dict[str, Any]:
    """Provider launch template arguments -> EC2 ``LaunchTemplateData`` (snake_case -> PascalCase)."""
    data: dict[str, Any] = {}
    for key, value in config.items():
        if value is None or value == [] or value == "":
            continue
        data[_RENAMES.get(key, pascal(key))] = _api_value(key, value)
    return data


def _template_data(config: Config) -> dict[str, Any]:
    data = _api_data({k: v for k, v in config.items() if k not in _TEMPLATE_ONLY})
    profile = data.get("IamInstanceProfile")
    if isinstance(profile, dict):
        data["IamInstanceProfile"] = {k: v for k, v in profile.items() if k in ("Arn", "Name")}
    user_data = data.get("UserData")
    if isinstance(user_data, str):
        try:
            base64.b64decode(user_data, validate=True)
        except ValueError:
            data["UserData"] = base64.b64encode(user_data.encode()).decode()
    return data


def create_launch_template(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config)
    kwargs: dict[str, Any] = {"LaunchTemplateName": name, "LaunchTemplateData": _template_data(config)}
    if config.get("description"):
        kwargs["VersionDescription"] = config["description"]
    template = ctx.client("ec2").create_launch_template(
        **kwargs, **tag_specifications(ctx, config, "launch-template")
    )["LaunchTemplate"]
    template_id = template["LaunchTemplateId"]
    return {
        "id": template_id,
        "name": name,
        "arn": ctx.arn("ec2", f"launch-template/{template_id}"),
        "latest_version": int(template.get("LatestVersionNumber", 1)),
        "default_version": int(template.get("DefaultVersionNumber", 1)),
        "tags_all": ctx.tags(config),
    }


def update_launch_template(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    from tenantml.emulator.resources.network import update_ec2_tags

    ec2 = ctx.client("ec2")
    result = dict(attributes)
    if _template_data(old) != _template_data(new) or changed(old, new, "description"):
        version = ec2.create_launch_template_version(
            LaunchTemplateId=attributes["id"],
            LaunchTemplateData=_template_data(new),
            VersionDescription=new.get("description") or "",
        )["LaunchTemplateVersion"]["VersionNumber"]
        result["latest_version"] = int(version)
        if new.get("update_default_version"):
            ec2.modify_launch_template(LaunchTemplateId=attributes["id"], DefaultVersion=str(version))
            result["default_version"] = int(version)
    result["tags_all"] = update_ec2_tags(ctx, old, new, attributes["id"])
    return result


def delete_launch_template(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException"):
        ctx.client("ec2").delete_launch_template(LaunchTemplateId=attributes["id"])


# --- Auto Scaling groups --------------------------------------------------------------------


def _template_spec(template: dict[str, Any], id_key: str = "id", name_key: str = "name") -> dict[str, str]:
    spec = {}
    if template.get(id_key):
        spec["LaunchTemplateId"] = template[id_key]
    elif template.get(name_key):
        spec["LaunchTemplateName"] = template[name_key]
    spec["Version"] = str(template.get("version") or "$Default")
    return spec


def _asg_kwargs(config: Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"MinSize": int(config["min_size"]), "MaxSize": int(config["max_size"])}
    if config.get("desired_capacity") is not None:
        kwargs["DesiredCapacity"] = int(config["desired_capacity"])
    template = block(config, "launch_template")
    if template:
        kwargs["LaunchTemplate"] = _template_spec(template)
    mixed = block(config, "mixed_instances_policy")
    if mixed:
        lt = block(mixed, "launch_template") or {}
        policy: dict[str, Any] = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": _template_spec(
                    block(lt, "launch_template_specification") or {},
                    "launch_template_id",
                    "launch_template_name",
                ),
                "Overrides": [
                    {
                        k: str(v)
                        for k, v in (
                            ("InstanceType", o.get("instance_type")),
                            ("WeightedCapacity", o.get("weighted_capacity")),
                        )
                        if v
                    }
                    for o in blocks(lt, "override")
                ],
            }
        }
        distribution = block(mixed, "instances_distribution")
        if distribution:
            policy["InstancesDistribution"] = {pascal(k): v for k, v in distribution.items() if v is not None}
        kwargs["MixedInstancesPolicy"] = policy
    if config.get("vpc_zone_identifier"):
        kwargs["VPCZoneIdentifier"] = ",".join(config["vpc_zone_identifier"])
    for arg, key in (
        ("health_check_type", "HealthCheckType"),
        ("default_cooldown", "DefaultCooldown"),
        ("health_check_grace_period", "HealthCheckGracePeriod"),
        ("capacity_rebalance", "CapacityRebalance"),
        ("max_instance_lifetime", "MaxInstanceLifetime"),
        ("service_linked_role_arn", "ServiceLinkedRoleARN"),
        ("protect_from_scale_in", "NewInstancesProtectedFromScaleIn"),
    ):
        if config.get(arg) is not None:
            kwargs[key] = config[arg]
    if config.get("termination_policies"):
        kwargs["TerminationPolicies"] = list(config["termination_policies"])
    return kwargs


def _asg_tags(name: str, config: Config) -> list[dict[str, Any]]:
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": t["key"],
            "Value": str(t["value"]),
            "PropagateAtLaunch": str(t.get("propagate_at_launch", False)).lower() == "true",
        }
        for t in blocks(config, "tag")
    ]


def create_autoscaling_group(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config)
    kwargs = _asg_kwargs(config)
    if "MixedInstancesPolicy" in kwargs:
        kwargs.pop("LaunchTemplate", None)
    tags = _asg_tags(name, config)
    if tags:
        kwargs["Tags"] = tags
    if config.get("target_group_arns"):
        kwargs["TargetGroupARNs"] = list(config["target_group_arns"])
    autoscaling = ctx.client("autoscaling")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, **kwargs)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {
        "id": name,
        "name": name,
        "arn": group.get("AutoScalingGroupARN")
        or ctx.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}"),
        "availability_zones": sorted(group.get("AvailabilityZones", [])),
    }


def update_autoscaling_group(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    autoscaling = ctx.client("autoscaling")
    name = attributes["name"]
    kwargs = _asg_kwargs(new)
    if "MixedInstancesPolicy" in kwargs:
        kwargs.pop("LaunchTemplate", None)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **kwargs)
    if changed(old, new, "target_group_arns"):
        before, after = set(old.get("target_group_arns") or []), set(new.get("target_group_arns") or [])
        if before - after:
            autoscaling.detach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(before - after)
            )
        if after - before:
            autoscaling.attach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(after - before)
            )
    if changed(old, new, "tag"):
        new_tags = _asg_tags(name, new)
        gone = [t for t in _asg_tags(name, old) if t["Key"] not in {n["Key"] for n in new_tags}]
        if gone:
            autoscaling.delete_tags(Tags=gone)
        if new_tags:
            autoscaling.create_or_update_tags(Tags=new_tags)
    return attributes


def delete_autoscaling_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # ForceDelete terminates the group's instances with it, as the provider's force_delete
    # does; without it AWS refuses while instances run, and nothing may be left behind
    autoscaling = ctx.client("autoscaling")
    with ignore_missing("ValidationError"):
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=attributes["name"], ForceDelete=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # moto deletes synchronously; real AWS would take a while
        if not autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[attributes["name"]])[
            "AutoScalingGroups"
        ]:
            return
        time.sleep(0.1)


HANDLERS = [
    Handler(
        "aws_eks_cluster",
        create=create_cluster,
        update=update_cluster,
        delete=delete_cluster,
        exports=frozenset(
            {
                "arn",
                "name",
                "endpoint",
                "version",
                "platform_version",
                "status",
                "cluster_id",
                "created_at",
                "identity",
                "certificate_authority",
                "vpc_config",
            }
        ),
        volatile=frozenset({"version", "platform_version", "vpc_config", "status"}),
    ),
    Handler(
        "aws_eks_node_group",
        create=create_node_group,
        update=update_node_group,
        delete=delete_node_group,
        exports=frozenset({"arn", "node_group_name", "status", "version", "release_version", "resources"}),
        volatile=frozenset({"version", "release_version", "status"}),
    ),
    Handler(
        "aws_launch_template",
        create=create_launch_template,
        update=update_launch_template,
        delete=delete_launch_template,
        exports=frozenset({"arn", "name", "latest_version", "default_version"}),
        volatile=frozenset({"latest_version", "default_version"}),
    ),
    Handler(
        "aws_autoscaling_group",
        create=create_autoscaling_group,
        update=update_autoscaling_group,
        delete=delete_autoscaling_group,
        exports=frozenset({"arn", "name", "availability_zones"}),
    ),
]

__all__ = ["HANDLERS"]
