"""How each resource type is read back from the emulator: refresh, and adopting a crashed create.

``read(ctx, config, attributes)`` returns an :class:`~tenantml.emulator.resources.base.Observed`
(what ``create`` would have returned, and the arguments it could see as they are now) or
``None`` when the resource does not exist. It locates the resource by the ids in
``attributes`` when the state has them, and otherwise (a create whose result a killed apply
never recorded) by the identity its configuration names: a name, a parent and a key, or, for
EC2 objects AWS names itself, the parent, the CIDR and the tags the create set. Each read is
one or two calls; refresh runs them in parallel.

The readers live in this module, one row per type in :data:`READERS`, and are attached to the
handler table in :mod:`tenantml.emulator.resources`.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from botocore.exceptions import ClientError

from tenantml.emulator.resources import (
    compute,
    eks_access,
    glue,
    iam,
    kms,
    kubernetes,
    lambda_,
    network,
    s3,
    step_functions,
)
from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    HandlerContext,
    Observed,
    error_code,
)

Reader = Callable[[HandlerContext, Config, Attributes], Observed | None]

#: ids the state already holds: an object located by its tags alone (two route tables of one VPC
#: may carry the same tags) is never one of them
_claimed: ContextVar[frozenset[str]] = ContextVar("claimed", default=frozenset())


@contextmanager
def claimed(ids: frozenset[str]) -> Iterator[None]:
    """While adopting: ``ids`` belong to other resources of the state, so no read returns them."""
    token = _claimed.set(ids)
    try:
        yield
    finally:
        _claimed.reset(token)


#: error codes (and suffixes) that mean "no such resource"
_MISSING_CODES = frozenset(
    {
        "NoSuchEntity",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFoundException",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NotFound",
        "404",
        "NoSuchBucketPolicy",
        "NoSuchLifecycleConfiguration",
        "NoSuchPublicAccessBlockConfiguration",
        "OwnershipControlsNotFoundError",
        "ServerSideEncryptionConfigurationNotFoundError",
        "RepositoryNotFoundException",
        "LifecyclePolicyNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ValidationException",
        "InvalidParameter",
        "StateMachineDoesNotExist",
        "EntityNotFoundException",
    }
)


def _missing(err: ClientError) -> bool:
    code = error_code(err)
    return code in _MISSING_CODES or code.endswith(("NotFound", ".NotFound", "NotFoundException"))


def _get(call: Callable[[], Any]) -> Any | None:
    """The response of a describe/get call, or ``None`` when it says the resource does not exist."""
    try:
        return call()
    except ClientError as err:
        if _missing(err):
            return None
        raise


def _seen(config: Config, observed: Mapping[str, Any]) -> dict[str, Any]:
    """The observed arguments that the configuration sets (unset ones take defaults we do not model)."""
    return {k: v for k, v in observed.items() if k in config and config[k] is not None}


def _tags_of(item: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def _adoptable(
    ctx: HandlerContext,
    config: Config,
    items: list[dict[str, Any]],
    id_key: str,
    *,
    tags_may_be_missing: bool = False,
) -> dict | None:
    """The one object the create would have made: exactly its tags, not claimed by another resource.

    ``tags_may_be_missing``: moto answers some describes (flow logs, VPC endpoints) without the tags,
    after filtering by them on the server; an item without tags is then taken as matching.
    """
    wanted = {k: str(v) for k, v in ctx.tags(config).items()}
    taken = _claimed.get()
    found = [
        i
        for i in items
        if i[id_key] not in taken and (_tags_of(i) == wanted or (tags_may_be_missing and not i.get("Tags")))
    ]
    return found[0] if found else None


def _ec2_filters(ctx: HandlerContext, config: Config, **filters: str) -> list[dict[str, Any]]:
    found = [{"Name": name.replace("_", "-"), "Values": [value]} for name, value in filters.items()]
    found += [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in ctx.tags(config).items()]
    return found


# --- S3 -------------------------------------------------------------------------------------


def read_bucket(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("bucket") or config.get("bucket")
    if not name or _get(lambda: ctx.client("s3").head_bucket(Bucket=name)) is None:
        return None
    return Observed(s3._bucket_attributes(ctx, name, config))


def _bucket_part(get: str) -> Reader:
    """A per-concern bucket resource: exists while its ``get_bucket_*`` answers."""

    def read(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
        if _get(lambda: getattr(ctx.client("s3"), get)(Bucket=config["bucket"])) is None:
            return None
        return Observed(s3._sub_id(ctx, config))

    return read


def read_versioning(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("s3").get_bucket_versioning(Bucket=config["bucket"]))
    if found is None or (found.get("Status") is None and _wants_versioning(config)):
        return None  # the bucket is gone, or versioning was never turned on
    return Observed(s3._sub_id(ctx, config))


def _wants_versioning(config: Config) -> bool:
    settings = s3.block(config, "versioning_configuration") or {}
    return settings.get("status", "Enabled") != "Disabled"


def read_notification(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("s3").get_bucket_notification_configuration(Bucket=config["bucket"]))
    if found is None:
        return None
    configured = any(found.get(k) for k in found if k.endswith("Configurations"))
    wanted = any(config.get(k) for k in ("lambda_function", "queue", "topic", "eventbridge"))
    return Observed(s3._sub_id(ctx, config)) if configured or not wanted else None


# --- KMS ------------------------------------------------------------------------------------


def read_key(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    client = ctx.client("kms")
    if attributes.get("key_id"):
        found = _get(lambda: client.describe_key(KeyId=attributes["key_id"]))
        metadata = found["KeyMetadata"] if found else None
        if metadata is None or metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
            return None
        return Observed(kms._key_attributes(ctx, metadata, config))
    # AWS names keys itself: the key is the usable one with this description and these tags
    wanted = {k: str(v) for k, v in ctx.tags(config).items()}
    for page in client.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            metadata = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if metadata.get("KeyManager") != "CUSTOMER" or metadata.get("KeyState") not in (
                "Enabled",
                "Disabled",
            ):
                continue
            if (metadata.get("Description") or "") != (config.get("description") or ""):
                continue
            tags = client.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            if {t["TagKey"]: t["TagValue"] for t in tags} == wanted:
                return Observed(kms._key_attributes(ctx, metadata, config))
    return None


def read_alias(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    if not name:
        return None
    name = name if name.startswith("alias/") else f"alias/{name}"
    for page in ctx.client("kms").get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == name and alias.get("TargetKeyId"):
                target = ctx.client("kms").describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]
                return Observed(
                    {"id": name, "name": name, "arn": ctx.arn("kms", name), "target_key_arn": target},
                )
    return None


# --- IAM ------------------------------------------------------------------------------------


def read_role(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    found = _get(lambda: ctx.client("iam").get_role(RoleName=name)) if name else None
    if found is None:
        return None
    role = found["Role"]
    return Observed(
        {
            "id": name,
            "name": name,
            "arn": role["Arn"],
            "unique_id": role["RoleId"],
            "create_date": iam._iso(role["CreateDate"]),
            "tags_all": ctx.tags(config),
        }
    )


def read_role_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = config.get("name")
    found = _get(lambda: ctx.client("iam").get_role_policy(RoleName=config["role"], PolicyName=name))
    return Observed({"id": f"{config['role']}:{name}", "name": name}) if found else None


def read_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    arn = attributes.get("arn") or ctx.arn(
        "iam", f"policy{config.get('path', '/')}{config.get('name')}", region=False
    )
    found = _get(lambda: ctx.client("iam").get_policy(PolicyArn=arn))
    if found is None:
        return None
    policy = found["Policy"]
    return Observed(
        {
            "id": policy["Arn"],
            "arn": policy["Arn"],
            "name": policy["PolicyName"],
            "policy_id": policy["PolicyId"],
            "attachment_count": attributes.get("attachment_count", 0),
            "tags_all": ctx.tags(config),
        }
    )


def read_role_policy_attachment(
    ctx: HandlerContext, config: Config, attributes: Attributes
) -> Observed | None:
    found = _get(lambda: ctx.client("iam").list_attached_role_policies(RoleName=config["role"]))
    arns = {p["PolicyArn"] for p in (found or {}).get("AttachedPolicies", [])}
    if config["policy_arn"] not in arns:
        return None
    return Observed({"id": f"{config['role']}/{config['policy_arn']}"})


def read_instance_profile(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    found = _get(lambda: ctx.client("iam").get_instance_profile(InstanceProfileName=name)) if name else None
    if found is None:
        return None
    profile = found["InstanceProfile"]
    return Observed(
        {
            "id": name,
            "name": name,
            "arn": profile["Arn"],
            "unique_id": profile["InstanceProfileId"],
            "create_date": iam._iso(profile["CreateDate"]),
            "tags_all": ctx.tags(config),
        }
    )


def read_oidc_provider(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    url = str(config["url"]).removeprefix("https://")
    arn = attributes.get("arn") or ctx.arn("iam", f"oidc-provider/{url}", region=False)
    if _get(lambda: ctx.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)) is None:
        return None
    return Observed({"id": arn, "arn": arn, "url": url, "tags_all": ctx.tags(config)})


# --- messaging ------------------------------------------------------------------------------


def read_stream(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = config["name"]
    found = _get(lambda: ctx.client("kinesis").describe_stream_summary(StreamName=name))
    if found is None or found["StreamDescriptionSummary"].get("StreamStatus") == "DELETING":
        return None
    summary = found["StreamDescriptionSummary"]
    return Observed(
        {"id": summary["StreamARN"], "arn": summary["StreamARN"], "name": name, "tags_all": ctx.tags(config)},
        _seen(config, {"retention_period": summary.get("RetentionPeriodHours")}),
    )


def read_topic(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    if not name:
        return None
    if config.get("fifo_topic") and not name.endswith(".fifo"):
        name += ".fifo"
    arn = attributes.get("arn") or ctx.arn("sns", name)
    if _get(lambda: ctx.client("sns").get_topic_attributes(TopicArn=arn)) is None:
        return None
    return Observed(
        {"id": arn, "arn": arn, "name": name, "owner": ctx.account_id, "tags_all": ctx.tags(config)}
    )


def read_subscription(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("sns").list_subscriptions_by_topic(TopicArn=config["topic_arn"]))
    for subscription in (found or {}).get("Subscriptions", []):
        if attributes.get("arn"):
            if subscription["SubscriptionArn"] != attributes["arn"]:
                continue
        elif (subscription["Protocol"], subscription["Endpoint"]) != (config["protocol"], config["endpoint"]):
            continue
        arn = subscription["SubscriptionArn"]
        pending = config["protocol"] in ("email", "email-json", "http", "https") and not config.get(
            "endpoint_auto_confirms"
        )
        return Observed({"id": arn, "arn": arn, "owner_id": ctx.account_id, "pending_confirmation": pending})
    return None


def read_queue(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    sqs = ctx.client("sqs")
    url = attributes.get("url")
    if not url:
        name = config.get("name")
        if not name:
            return None
        if config.get("fifo_queue") and not name.endswith(".fifo"):
            name += ".fifo"
        found = _get(lambda: sqs.get_queue_url(QueueName=name))
        if found is None:
            return None
        url = found["QueueUrl"]
    found = _get(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))
    if found is None:
        return None
    api = found["Attributes"]
    observed = {
        arg: int(api[key])
        for arg, key in (
            ("visibility_timeout_seconds", "VisibilityTimeout"),
            ("message_retention_seconds", "MessageRetentionPeriod"),
            ("delay_seconds", "DelaySeconds"),
            ("receive_wait_time_seconds", "ReceiveMessageWaitTimeSeconds"),
        )
        if key in api
    }
    name = url.rsplit("/", 1)[-1]
    return Observed(
        {"id": url, "url": url, "arn": api["QueueArn"], "name": name, "tags_all": ctx.tags(config)},
        _seen(config, observed),
    )


# --- CloudWatch -----------------------------------------------------------------------------


def read_alarm(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("id") or config["alarm_name"]
    found = ctx.client("cloudwatch").describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    if not found:
        return None
    alarm = found[0]
    observed = {
        "threshold": alarm.get("Threshold"),
        "evaluation_periods": alarm.get("EvaluationPeriods"),
        "comparison_operator": alarm.get("ComparisonOperator"),
    }
    return Observed(
        {"id": name, "arn": alarm["AlarmArn"], "tags_all": ctx.tags(config)}, _seen(config, observed)
    )


def read_log_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    if not name:
        return None
    groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        return None
    return Observed(
        {"id": name, "name": name, "arn": ctx.arn("logs", f"log-group:{name}"), "tags_all": ctx.tags(config)},
        _seen(config, {"retention_in_days": group.get("retentionInDays")}),
    )


# --- Lambda ---------------------------------------------------------------------------------


def read_function(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = config["function_name"]
    found = _get(lambda: ctx.client("lambda").get_function_configuration(FunctionName=name))
    if found is None:
        return None
    if attributes:
        return Observed(dict(attributes), _seen(config, {"timeout": found.get("Timeout")}))
    return Observed(lambda_._function_attributes(ctx, found, config, lambda_._code(ctx, config)[1]))


def read_layer_version(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    """By the recorded version; when adopting, the newest version holding this very zip."""
    client = ctx.client("lambda")
    name = config["layer_name"]
    if attributes.get("version"):
        found = _get(
            lambda: client.get_layer_version(LayerName=name, VersionNumber=int(attributes["version"]))
        )
        return Observed(dict(attributes)) if found is not None else None
    path, data = lambda_._read_zip(ctx, {**config, "function_name": f"layer {name}"})
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    listed = _get(lambda: client.list_layer_versions(LayerName=name)) or {}
    for item in sorted(listed.get("LayerVersions", []), key=lambda v: -int(v["Version"])):
        number = int(item["Version"])
        found = _get(lambda n=number: client.get_layer_version(LayerName=name, VersionNumber=n))
        if found is not None and found["Content"].get("CodeSha256") == digest:
            return Observed(lambda_.layer_attributes(found, len(data), path))
    return None


def read_mapping(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    client = ctx.client("lambda")
    if attributes.get("uuid"):
        found = _get(lambda: client.get_event_source_mapping(UUID=attributes["uuid"]))
        return Observed(lambda_._mapping_attributes(ctx, found, config)) if found else None
    mappings = client.list_event_source_mappings(
        EventSourceArn=config["event_source_arn"], FunctionName=config["function_name"]
    ).get("EventSourceMappings", [])
    return Observed(lambda_._mapping_attributes(ctx, mappings[0], config)) if mappings else None


def read_permission(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    import json

    statement_id = attributes.get("statement_id") or config.get("statement_id")
    kwargs = {"FunctionName": config["function_name"]}
    if config.get("qualifier"):
        kwargs["Qualifier"] = config["qualifier"]
    found = _get(lambda: ctx.client("lambda").get_policy(**kwargs))
    statements = json.loads(found["Policy"]).get("Statement", []) if found else []
    if not statement_id or not any(s.get("Sid") == statement_id for s in statements):
        return None
    return Observed({"id": statement_id, "statement_id": statement_id})


def read_invoke_config(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    kwargs = {"FunctionName": config["function_name"]}
    if config.get("qualifier"):
        kwargs["Qualifier"] = config["qualifier"]
    if _get(lambda: ctx.client("lambda").get_function_event_invoke_config(**kwargs)) is None:
        return None
    qualifier = config.get("qualifier")
    return Observed(
        {"id": f"{config['function_name']}:{qualifier}" if qualifier else str(config["function_name"])}
    )


# --- SageMaker registry and ECR -------------------------------------------------------------


def read_model_package_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = config["model_package_group_name"]
    found = _get(lambda: ctx.client("sagemaker").describe_model_package_group(ModelPackageGroupName=name))
    if found is None:
        return None
    return Observed({"id": name, "arn": found["ModelPackageGroupArn"], "tags_all": ctx.tags(config)})


def read_repository(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = config["name"]
    found = _get(lambda: ctx.client("ecr").describe_repositories(repositoryNames=[name]))
    if not found or not found.get("repositories"):
        return None
    repository = found["repositories"][0]
    return Observed(
        {
            "id": name,
            "arn": repository["repositoryArn"],
            "registry_id": repository["registryId"],
            "repository_url": repository["repositoryUri"],
            "tags_all": ctx.tags(config),
        },
        _seen(config, {"image_tag_mutability": repository.get("imageTagMutability")}),
    )


def read_ecr_lifecycle_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("ecr").get_lifecycle_policy(repositoryName=config["repository"]))
    if found is None:
        return None
    return Observed({"id": config["repository"], "registry_id": found["registryId"]})


# --- compute --------------------------------------------------------------------------------


def read_launch_template(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        kwargs: dict[str, Any] = {"LaunchTemplateIds": [attributes["id"]]}
    elif config.get("name"):
        kwargs = {"LaunchTemplateNames": [config["name"]]}
    else:
        return None
    found = _get(lambda: ec2.describe_launch_templates(**kwargs))
    templates = (found or {}).get("LaunchTemplates", [])
    if not templates:
        return None
    template = templates[0]
    template_id = template["LaunchTemplateId"]
    return Observed(
        {
            "id": template_id,
            "name": template["LaunchTemplateName"],
            "arn": ctx.arn("ec2", f"launch-template/{template_id}"),
            "latest_version": int(template.get("LatestVersionNumber", 1)),
            "default_version": int(template.get("DefaultVersionNumber", 1)),
            "tags_all": ctx.tags(config),
        }
    )


def read_autoscaling_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    if not name:
        return None
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    if not groups:
        return None
    group = groups[0]
    return Observed(
        {
            "id": name,
            "name": name,
            "arn": group.get("AutoScalingGroupARN")
            or ctx.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}"),
            "availability_zones": sorted(group.get("AvailabilityZones", [])),
        },
        _seen(config, {"max_size": group.get("MaxSize"), "min_size": group.get("MinSize")}),
    )


def read_cluster(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("eks").describe_cluster(name=config["name"]))
    if found is None or found["cluster"].get("status") == "DELETING":
        return None
    return Observed(compute._cluster_attributes(ctx, found["cluster"], config))


def read_node_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    if attributes:
        name = str(attributes["id"]).split(":", 1)[1]
    else:
        name = config.get("node_group_name")
    if not name:
        return None
    found = _get(
        lambda: ctx.client("eks").describe_nodegroup(clusterName=config["cluster_name"], nodegroupName=name)
    )
    if found is None or found["nodegroup"].get("status") == "DELETING":
        return None
    if attributes:
        return Observed(dict(attributes))
    group = found["nodegroup"]
    resources = group.get("resources") or {}
    return Observed(
        {
            "id": f"{config['cluster_name']}:{name}",
            "node_group_name": name,
            "arn": group["nodegroupArn"],
            "status": group.get("status", "ACTIVE"),
            "version": group.get("version") or config.get("version"),
            "release_version": group.get("releaseVersion") or config.get("release_version"),
            "resources": [
                {
                    "autoscaling_groups": [
                        {"name": g["name"]} for g in resources.get("autoScalingGroups", [])
                    ],
                    "remote_access_security_group_id": resources.get("remoteAccessSecurityGroup"),
                }
            ],
            "tags_all": ctx.tags(config),
        }
    )


def read_kubernetes(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    # only recorded (moto runs no cluster): it exists exactly as far as the state says
    return Observed(dict(attributes) if attributes else kubernetes.record(ctx, config))


# --- network --------------------------------------------------------------------------------


def _one(found: Any, key: str) -> dict[str, Any] | None:
    items = (found or {}).get(key, [])
    return items[0] if items else None


def read_vpc(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        vpc = _one(_get(lambda: ec2.describe_vpcs(VpcIds=[attributes["id"]])), "Vpcs")
        return Observed(dict(attributes)) if vpc else None
    vpcs = ec2.describe_vpcs(Filters=_ec2_filters(ctx, config, cidr=config["cidr_block"]))["Vpcs"]
    vpc = _adoptable(ctx, config, vpcs, "VpcId")
    if vpc is None:
        return None
    vpc_id = vpc["VpcId"]
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
    main_rt = ec2.describe_route_tables(Filters=[*filters, {"Name": "association.main", "Values": ["true"]}])
    default_sg = ec2.describe_security_groups(
        Filters=[*filters, {"Name": "group-name", "Values": ["default"]}]
    )
    acls = ec2.describe_network_acls(Filters=[*filters, {"Name": "default", "Values": ["true"]}])
    main_rt_id = (_one(main_rt, "RouteTables") or {}).get("RouteTableId")
    return Observed(
        {
            "id": vpc_id,
            "arn": ctx.arn("ec2", f"vpc/{vpc_id}"),
            "cidr_block": vpc["CidrBlock"],
            "owner_id": vpc.get("OwnerId", ctx.account_id),
            "main_route_table_id": main_rt_id,
            "default_route_table_id": main_rt_id,
            "default_security_group_id": (_one(default_sg, "SecurityGroups") or {}).get("GroupId"),
            "default_network_acl_id": (_one(acls, "NetworkAcls") or {}).get("NetworkAclId"),
            "dhcp_options_id": vpc.get("DhcpOptionsId"),
            "tags_all": ctx.tags(config),
        }
    )


def read_subnet(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        subnet = _one(_get(lambda: ec2.describe_subnets(SubnetIds=[attributes["id"]])), "Subnets")
        return Observed(dict(attributes)) if subnet else None
    filters = [
        {"Name": "vpc-id", "Values": [config["vpc_id"]]},
        {"Name": "cidr-block", "Values": [config["cidr_block"]]},
    ]
    subnet = _one(ec2.describe_subnets(Filters=filters), "Subnets")
    if subnet is None:
        return None
    return Observed(
        {
            "id": subnet["SubnetId"],
            "arn": subnet.get("SubnetArn") or ctx.arn("ec2", f"subnet/{subnet['SubnetId']}"),
            "availability_zone": subnet["AvailabilityZone"],
            "availability_zone_id": subnet.get("AvailabilityZoneId"),
            "cidr_block": subnet["CidrBlock"],
            "vpc_id": subnet["VpcId"],
            "owner_id": subnet.get("OwnerId", ctx.account_id),
            "tags_all": ctx.tags(config),
        }
    )


def _ec2_tagged(
    ctx: HandlerContext, config: Config, attributes: Attributes, describe: str, key: str, **filters: str
) -> dict[str, Any] | None:
    """An EC2 object by its id in the state, or (adopting) by its parent and the tags its create set."""
    ec2 = ctx.client("ec2")
    singular = key[:-1]
    if attributes.get("id"):
        return _one(_get(lambda: getattr(ec2, describe)(**{f"{singular}Ids": [attributes["id"]]})), key)
    candidates = getattr(ec2, describe)(Filters=_ec2_filters(ctx, config, **filters))[key]
    return _adoptable(ctx, config, candidates, f"{singular}Id")


def read_internet_gateway(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    filters = {"attachment.vpc_id": config["vpc_id"]} if config.get("vpc_id") else {}
    found = _ec2_tagged(ctx, config, attributes, "describe_internet_gateways", "InternetGateways", **filters)
    if found is None:
        return None
    igw_id = found["InternetGatewayId"]
    return Observed(
        {
            "id": igw_id,
            "arn": ctx.arn("ec2", f"internet-gateway/{igw_id}"),
            "owner_id": ctx.account_id,
            "tags_all": ctx.tags(config),
        }
    )


def read_eip(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("allocation_id"):
        found = _get(lambda: ec2.describe_addresses(AllocationIds=[attributes["allocation_id"]]))
        address = _one(found, "Addresses")
    else:
        candidates = ec2.describe_addresses(Filters=_ec2_filters(ctx, config))["Addresses"]
        address = _adoptable(ctx, config, candidates, "AllocationId")
    if address is None:
        return None
    allocation_id, public_ip = address["AllocationId"], address["PublicIp"]
    return Observed(
        {
            "id": allocation_id,
            "allocation_id": allocation_id,
            "public_ip": public_ip,
            "public_dns": f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com",
            "domain": address.get("Domain", "vpc"),
            "arn": ctx.arn("ec2", f"elastic-ip/{allocation_id}"),
            "tags_all": ctx.tags(config),
        }
    )


def read_nat_gateway(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        found = _get(lambda: ec2.describe_nat_gateways(NatGatewayIds=[attributes["id"]]))
    else:
        found = ec2.describe_nat_gateways(Filter=_ec2_filters(ctx, config, subnet_id=config["subnet_id"]))
    nats = [n for n in (found or {}).get("NatGateways", []) if n.get("State") not in ("deleting", "deleted")]
    if not attributes.get("id"):
        nats = [n for n in [_adoptable(ctx, config, nats, "NatGatewayId")] if n]
    if not nats:
        return None
    nat = nats[0]
    address = (nat.get("NatGatewayAddresses") or [{}])[0]
    return Observed(
        {
            "id": nat["NatGatewayId"],
            "public_ip": address.get("PublicIp"),
            "private_ip": address.get("PrivateIp"),
            "network_interface_id": address.get("NetworkInterfaceId"),
            "association_id": address.get("AssociationId"),
            "tags_all": ctx.tags(config),
        }
    )


def read_route_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _ec2_tagged(
        ctx, config, attributes, "describe_route_tables", "RouteTables", vpc_id=config["vpc_id"]
    )
    if found is None:
        return None
    table_id = found["RouteTableId"]
    return Observed(
        {
            "id": table_id,
            "arn": ctx.arn("ec2", f"route-table/{table_id}"),
            "owner_id": ctx.account_id,
            "tags_all": ctx.tags(config),
        }
    )


def _route_table(ctx: HandlerContext, table_id: str) -> dict[str, Any] | None:
    return _one(
        _get(lambda: ctx.client("ec2").describe_route_tables(RouteTableIds=[table_id])), "RouteTables"
    )


def read_route(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    table = _route_table(ctx, config["route_table_id"])
    destination = network._destination(config)
    if table is None or not any(
        all(route.get(k) == v for k, v in destination.items()) for route in table.get("Routes", [])
    ):
        return None
    text = next(iter(destination.values()), "")
    return Observed(
        {
            "id": f"r-{config['route_table_id']}{zlib.crc32(text.encode())}",
            "state": "active",
            "origin": "CreateRoute",
        }
    )


def read_route_table_association(
    ctx: HandlerContext, config: Config, attributes: Attributes
) -> Observed | None:
    # located by what it associates, not by id: a replaced association gets a new id
    table = _route_table(ctx, config["route_table_id"])
    for association in (table or {}).get("Associations", []):
        if (config.get("subnet_id") and association.get("SubnetId") == config["subnet_id"]) or (
            config.get("gateway_id") and association.get("GatewayId") == config["gateway_id"]
        ):
            return Observed({"id": association["RouteTableAssociationId"]})
    return None


def read_security_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    ec2 = ctx.client("ec2")
    if attributes.get("id"):
        found = _get(lambda: ec2.describe_security_groups(GroupIds=[attributes["id"]]))
    elif config.get("name"):
        filters = [{"Name": "group-name", "Values": [config["name"]]}]
        if config.get("vpc_id"):
            filters.append({"Name": "vpc-id", "Values": [config["vpc_id"]]})
        found = ec2.describe_security_groups(Filters=filters)
    else:
        return None
    group = _one(found, "SecurityGroups")
    if group is None:
        return None
    group_id = group["GroupId"]
    return Observed(
        {
            "id": group_id,
            "arn": ctx.arn("ec2", f"security-group/{group_id}"),
            "name": group["GroupName"],
            "owner_id": ctx.account_id,
            "tags_all": ctx.tags(config),
        }
    )


def _read_rule(egress: bool) -> Reader:
    def read(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
        ec2 = ctx.client("ec2")
        filters = [{"Name": "group-id", "Values": [config["security_group_id"]]}]
        rules = _get(lambda: ec2.describe_security_group_rules(Filters=filters)) or {}
        wanted = network._rule_request(config)
        for rule in rules.get("SecurityGroupRules", []):
            if bool(rule.get("IsEgress")) != egress:
                continue
            if attributes.get("id"):
                match = rule["SecurityGroupRuleId"] == attributes["id"]
            else:
                match = all(
                    rule.get(k) == v
                    for k, v in wanted.items()
                    if k not in ("Description", "ReferencedGroupId")
                )
            if match:
                rule_id = rule["SecurityGroupRuleId"]
                return Observed(
                    {
                        "id": rule_id,
                        "security_group_rule_id": rule_id,
                        "arn": ctx.arn("ec2", f"security-group-rule/{rule_id}"),
                        "tags_all": ctx.tags(config),
                    }
                )
        return None

    return read


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
        flow_log = _adoptable(
            ctx,
            config,
            ec2.describe_flow_logs(Filter=filters)["FlowLogs"],
            "FlowLogId",
            tags_may_be_missing=True,
        )
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
    endpoint = (
        live[0]
        if attributes.get("id") and live
        else _adoptable(ctx, config, live, "VpcEndpointId", tags_may_be_missing=True)
    )
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


# --- Step Functions -------------------------------------------------------------------------


def read_state_machine(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    arn = attributes.get("arn")
    if not arn:
        if not config.get("name"):
            return None  # a name_prefix machine whose create was never recorded cannot be found
        arn = ctx.arn("states", f"stateMachine:{config['name']}")
    found = _get(lambda: ctx.client("stepfunctions").describe_state_machine(stateMachineArn=arn))
    if found is None or found.get("status") == "DELETING":
        return None
    observed = {"definition": found.get("definition"), "role_arn": found.get("roleArn")}
    return Observed(step_functions.machine_attributes(ctx, found, config), _seen(config, observed))


# --- the feature store: DynamoDB and the Glue Data Catalog -------------------------------------


def read_dynamodb_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config["name"]
    found = _get(lambda: ctx.client("dynamodb").describe_table(TableName=name))
    if found is None or found["Table"].get("TableStatus") == "DELETING":
        return None
    table = found["Table"]
    observed = {
        "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "deletion_protection_enabled": bool(table.get("DeletionProtectionEnabled")),
    }
    return Observed(
        {
            "id": name,
            "name": name,
            "arn": table["TableArn"],
            "stream_arn": table.get("LatestStreamArn"),
            "stream_label": table.get("LatestStreamLabel"),
            "tags_all": ctx.tags(config),
        },
        _seen(config, observed),
    )


def read_glue_database(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    found = _get(lambda: ctx.client("glue").get_database(Name=attributes.get("name") or config["name"]))
    if found is None:
        return None
    database = found["Database"]
    observed = {"description": database.get("Description"), "location_uri": database.get("LocationUri")}
    return Observed(glue.database_attributes(ctx, config), _seen(config, observed))


def read_glue_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    database = attributes.get("database_name") or config["database_name"]
    name = attributes.get("name") or config["name"]
    found = _get(lambda: ctx.client("glue").get_table(DatabaseName=database, Name=name))
    if found is None:
        return None
    table = found["Table"]
    observed = {"description": table.get("Description"), "table_type": table.get("TableType")}
    return Observed(glue.table_attributes(ctx, config), _seen(config, observed))


READERS: Mapping[str, Reader] = {
    "aws_s3_bucket": read_bucket,
    "aws_s3_bucket_versioning": read_versioning,
    "aws_s3_bucket_server_side_encryption_configuration": _bucket_part("get_bucket_encryption"),
    "aws_s3_bucket_public_access_block": _bucket_part("get_public_access_block"),
    "aws_s3_bucket_policy": _bucket_part("get_bucket_policy"),
    "aws_s3_bucket_lifecycle_configuration": _bucket_part("get_bucket_lifecycle_configuration"),
    "aws_s3_bucket_ownership_controls": _bucket_part("get_bucket_ownership_controls"),
    "aws_s3_bucket_notification": read_notification,
    "aws_kms_key": read_key,
    "aws_kms_alias": read_alias,
    "aws_iam_role": read_role,
    "aws_iam_role_policy": read_role_policy,
    "aws_iam_policy": read_policy,
    "aws_iam_role_policy_attachment": read_role_policy_attachment,
    "aws_iam_instance_profile": read_instance_profile,
    "aws_iam_openid_connect_provider": read_oidc_provider,
    "aws_kinesis_stream": read_stream,
    "aws_sns_topic": read_topic,
    "aws_sns_topic_subscription": read_subscription,
    "aws_sqs_queue": read_queue,
    "aws_cloudwatch_metric_alarm": read_alarm,
    "aws_cloudwatch_log_group": read_log_group,
    "aws_lambda_function": read_function,
    "aws_lambda_layer_version": read_layer_version,
    "aws_lambda_event_source_mapping": read_mapping,
    "aws_lambda_permission": read_permission,
    "aws_lambda_function_event_invoke_config": read_invoke_config,
    "aws_sagemaker_model_package_group": read_model_package_group,
    "aws_ecr_repository": read_repository,
    "aws_ecr_lifecycle_policy": read_ecr_lifecycle_policy,
    "aws_launch_template": read_launch_template,
    "aws_autoscaling_group": read_autoscaling_group,
    "aws_eks_cluster": read_cluster,
    "aws_eks_node_group": read_node_group,
    "aws_vpc": read_vpc,
    "aws_subnet": read_subnet,
    "aws_internet_gateway": read_internet_gateway,
    "aws_eip": read_eip,
    "aws_nat_gateway": read_nat_gateway,
    "aws_route_table": read_route_table,
    "aws_route": read_route,
    "aws_route_table_association": read_route_table_association,
    "aws_security_group": read_security_group,
    "aws_vpc_security_group_egress_rule": _read_rule(egress=True),
    "aws_vpc_security_group_ingress_rule": _read_rule(egress=False),
    **{t: read_kubernetes for t in kubernetes.TYPES},
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
    "aws_sfn_state_machine": read_state_machine,
    "aws_dynamodb_table": read_dynamodb_table,
    "aws_glue_catalog_database": read_glue_database,
    "aws_glue_catalog_table": read_glue_table,
}

__all__ = ["READERS", "Reader"]
