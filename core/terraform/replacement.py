"""Which argument changes make Terraform destroy and re-create a resource: one table per type.

Terraform replaces a resource when an argument marked ``ForceNew`` (SDKv2) or
``RequiresReplace`` (plugin framework) changes, or when the provider's plan customisation
forces it for a particular change; every other change is an in-place update. The provider's
JSON schema does not carry that flag, so this table transcribes it from the AWS provider 6.x
source and documentation ("Forces new resource"), and from the Kubernetes provider for
``kubernetes_*`` objects. The emulator's plan and the preview both read it, so ``tenantml plan``
and ``tenantml preview`` cannot disagree about a change.

Entries are argument paths without list indices: ``vpc_config.subnet_ids`` matches a change at
``vpc_config[0].subnet_ids[1]``, and an entry matches every change at or below it. :data:`ALL`
means every argument except ``tags`` (an immutable resource). A :class:`ForcesNewWhen` entry
replaces only for the changes its condition accepts (the provider's ``CustomizeDiff`` /
``ModifyPlan`` rules, e.g. a VPC's tenancy may go from dedicated to default in place).

A type missing from the table is not silently an update: :func:`is_known_type` says so, the
preview flags the resource and the emulator's plan notes it.

Where the two earlier tables disagreed, the provider decides:

* ``aws_dynamodb_table``: ``local_secondary_index`` forces a new table; ``attribute`` and
  ``global_secondary_index`` are updated in place (UpdateTable creates and deletes GSIs).
* ``aws_vpc_security_group_{egress,ingress}_rule``: only ``security_group_id`` is
  RequiresReplace; ports, protocol, description and the source are changed in place with
  ModifySecurityGroupRules, unless the kind of source changes (``cidr_ipv4`` to
  ``referenced_security_group_id``, ...), which the resource's ModifyPlan replaces.
* ``aws_eks_node_group.ami_type`` and ``aws_cloudwatch_log_group.log_group_class``: ForceNew.
* ``aws_vpc.instance_tenancy``: replaced, except from ``dedicated`` to ``default``
  (ModifyVpcTenancy only allows that direction).
* ``aws_route``: the destinations are ``destination_cidr_block``,
  ``destination_ipv6_cidr_block`` and ``destination_prefix_list_id``; ``cidr_block`` is a key
  of ``aws_route_table``'s inline ``route`` block, not an argument of ``aws_route``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.terraform.expressions import ABSENT, UNKNOWN

ALL = "*"


@dataclass(frozen=True)
class ForcesNewWhen:
    """An argument whose change replaces the resource only when ``condition(before, after)``."""

    path: str
    condition: Callable[[Any, Any], bool]
    #: the provider's rule, for the reader
    rule: str


Entry = str | ForcesNewWhen


def _unset(value: Any) -> bool:
    return value is ABSENT or value is None or value == "" or value == []


def _source_kind_changes(before: Any, after: Any) -> bool:
    """A rule's source argument set or unset: the kind of source changes."""
    return after is not UNKNOWN and _unset(before) != _unset(after)


def _not_dedicated_to_default(before: Any, after: Any) -> bool:
    return not (before == "dedicated" and after == "default")


def _removed(before: Any, after: Any) -> bool:
    return not _unset(before) and _unset(after)


_RULE_SOURCES = tuple(
    ForcesNewWhen(source, _source_kind_changes, "ModifyPlan: the kind of source cannot change in place")
    for source in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id")
)

#: resource type -> arguments whose change forces a replacement
REPLACEMENT_ATTRIBUTES: dict[str, tuple[Entry, ...]] = {
    # --- storage
    "aws_s3_bucket": ("bucket", "bucket_prefix", "object_lock_enabled"),
    "aws_s3_bucket_versioning": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_server_side_encryption_configuration": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_public_access_block": ("bucket",),
    "aws_s3_bucket_ownership_controls": ("bucket",),
    "aws_s3_bucket_policy": ("bucket",),
    "aws_s3_bucket_lifecycle_configuration": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_notification": ("bucket",),
    "aws_s3_bucket_logging": ("bucket", "expected_bucket_owner"),
    "aws_dynamodb_table": ("name", "hash_key", "range_key", "local_secondary_index"),
    # the Glue Data Catalog: a database or table is renamed only by making a new one; the rest is UpdateDatabase/UpdateTable
    "aws_glue_catalog_database": ("name", "catalog_id"),
    "aws_glue_catalog_table": ("name", "database_name", "catalog_id"),
    # --- keys
    "aws_kms_key": (
        "customer_master_key_spec",
        "key_usage",
        "multi_region",
        "custom_key_store_id",
        "xks_key_id",
    ),
    "aws_kms_alias": ("name", "name_prefix"),
    # --- streaming, alerting, queues
    "aws_kinesis_stream": ("name",),
    "aws_sfn_state_machine": ("name", "name_prefix", "type"),
    "aws_sns_topic": ("name", "name_prefix", "fifo_topic"),
    "aws_sns_topic_subscription": ("topic_arn", "protocol", "endpoint"),
    "aws_sns_topic_policy": ("arn",),
    "aws_sqs_queue": ("name", "name_prefix", "fifo_queue"),
    "aws_sqs_queue_policy": ("queue_url",),
    "aws_cloudwatch_log_group": ("name", "name_prefix", "log_group_class"),
    "aws_cloudwatch_metric_alarm": ("alarm_name",),
    "aws_cloudwatch_dashboard": ("dashboard_name",),
    "aws_cloudwatch_event_rule": ("name", "name_prefix", "event_bus_name"),
    "aws_cloudwatch_event_target": ("rule", "target_id", "event_bus_name"),
    # --- Lambda
    "aws_lambda_function": ("function_name", "package_type"),
    "aws_lambda_permission": (ALL,),
    # a layer version is immutable: any change publishes a new version (skip_destroy aside)
    "aws_lambda_layer_version": (ALL,),
    "aws_lambda_event_source_mapping": (
        "event_source_arn",
        "starting_position",
        "starting_position_timestamp",
        "topics",
        "queues",
        "self_managed_event_source",
        "amazon_managed_kafka_event_source_config",
    ),
    "aws_lambda_function_event_invoke_config": ("function_name", "qualifier"),
    # --- IAM
    "aws_iam_role": ("name", "name_prefix", "path"),
    "aws_iam_role_policy": ("name", "name_prefix", "role"),
    "aws_iam_policy": ("name", "name_prefix", "path", "description"),
    # its only arguments, role and policy_arn, are both ForceNew
    "aws_iam_role_policy_attachment": (ALL,),
    "aws_iam_instance_profile": ("name", "name_prefix", "path"),
    "aws_iam_openid_connect_provider": ("url",),
    "aws_iam_service_linked_role": ("aws_service_name", "custom_suffix"),
    # --- network
    "aws_vpc": (
        "cidr_block",
        "ipv4_ipam_pool_id",
        "ipv4_netmask_length",
        ForcesNewWhen(
            "instance_tenancy",
            _not_dedicated_to_default,
            "CustomizeDiff: only dedicated -> default is modified in place",
        ),
    ),
    "aws_subnet": ("vpc_id", "cidr_block", "availability_zone", "availability_zone_id", "outpost_arn"),
    "aws_internet_gateway": (),
    "aws_eip": (
        "domain",
        "address",
        "network_border_group",
        "public_ipv4_pool",
        "customer_owned_ipv4_pool",
        "ipam_pool_id",
    ),
    "aws_nat_gateway": ("allocation_id", "subnet_id", "connectivity_type", "private_ip"),
    "aws_route_table": ("vpc_id",),
    "aws_route": (
        "route_table_id",
        "destination_cidr_block",
        "destination_ipv6_cidr_block",
        "destination_prefix_list_id",
    ),
    "aws_route_table_association": ("subnet_id", "gateway_id"),
    "aws_vpc_endpoint": (
        "vpc_id",
        "service_name",
        "vpc_endpoint_type",
        "service_region",
        "resource_configuration_arn",
        "service_network_arn",
    ),
    "aws_security_group": ("name", "name_prefix", "description", "vpc_id"),
    "aws_default_security_group": ("vpc_id",),
    "aws_vpc_security_group_egress_rule": ("security_group_id", *_RULE_SOURCES),
    "aws_vpc_security_group_ingress_rule": ("security_group_id", *_RULE_SOURCES),
    "aws_flow_log": (
        "vpc_id",
        "subnet_id",
        "eni_id",
        "transit_gateway_id",
        "transit_gateway_attachment_id",
        "traffic_type",
        "log_destination",
        "log_destination_type",
        "log_format",
        "iam_role_arn",
        "deliver_cross_account_role",
        "max_aggregation_interval",
        "destination_options",
    ),
    # --- compute
    "aws_eks_cluster": (
        "name",
        "role_arn",
        "bootstrap_self_managed_addons",
        "access_config.bootstrap_cluster_creator_admin_permissions",
        "kubernetes_network_config.service_ipv4_cidr",
        "kubernetes_network_config.ip_family",
        "outpost_config",
        "remote_network_config",
        ForcesNewWhen("encryption_config", _removed, "CustomizeDiff: envelope encryption cannot be disabled"),
    ),
    "aws_eks_node_group": (
        "cluster_name",
        "node_group_name",
        "node_group_name_prefix",
        "node_role_arn",
        "subnet_ids",
        "instance_types",
        "capacity_type",
        "disk_size",
        "remote_access",
        "ami_type",
        "launch_template.id",
        "launch_template.name",
    ),
    "aws_eks_access_entry": ("cluster_name", "principal_arn", "type"),
    # no update function in the provider: every argument forces a new association
    "aws_eks_access_policy_association": (ALL,),
    "aws_launch_template": ("name", "name_prefix"),
    "aws_autoscaling_group": ("name", "name_prefix"),
    # --- load balancing (elbv2)
    "aws_lb": ("name", "name_prefix", "internal", "load_balancer_type", "customer_owned_ipv4_pool"),
    "aws_lb_target_group": (
        "name",
        "name_prefix",
        "port",
        "protocol",
        "protocol_version",
        "target_type",
        "vpc_id",
        "ip_address_type",
    ),
    "aws_lb_listener": ("load_balancer_arn",),
    # --- registry and serving (SageMaker models and endpoint configurations are immutable)
    "aws_sagemaker_model_package_group": ("model_package_group_name", "model_package_group_description"),
    "aws_sagemaker_model": (ALL,),
    "aws_sagemaker_endpoint_configuration": (ALL,),
    "aws_sagemaker_endpoint": ("name",),
    # --- serving images
    "aws_ecr_repository": ("name", "encryption_configuration"),
    "aws_ecr_lifecycle_policy": ("repository",),
    # --- Kubernetes (hashicorp/kubernetes): an object's name and namespace identify it
    "kubernetes_namespace_v1": ("metadata.name",),
    "kubernetes_service_account_v1": ("metadata.name", "metadata.namespace"),
    "kubernetes_deployment_v1": ("metadata.name", "metadata.namespace"),
    "kubernetes_service_v1": ("metadata.name", "metadata.namespace"),
    "kubernetes_horizontal_pod_autoscaler_v2": ("metadata.name", "metadata.namespace"),
    "kubernetes_pod_disruption_budget_v1": ("metadata.name", "metadata.namespace"),
}

#: arguments that never force a replacement, even on immutable types
_NEVER = ("tags", "tags_all")
_INDEX = re.compile(r"\[[^\]]*\]")


def normalize(path: str) -> str:
    """``vpc_config[0].subnet_ids[1]`` -> ``vpc_config.subnet_ids``."""
    return _INDEX.sub("", path)


def entry_path(entry: Entry) -> str:
    return entry.path if isinstance(entry, ForcesNewWhen) else entry


def is_known_type(resource_type: str) -> bool:
    return resource_type in REPLACEMENT_ATTRIBUTES


def replacement_entries(resource_type: str) -> tuple[Entry, ...]:
    return REPLACEMENT_ATTRIBUTES.get(resource_type, ())


def forces_replacement(resource_type: str, path: str, before: Any = ABSENT, after: Any = ABSENT) -> bool:
    """True when changing the argument at ``path`` from ``before`` to ``after`` replaces a ``resource_type``.

    ``before``/``after`` matter only for conditional entries; without them a conditional
    entry is taken to force (the cautious answer).
    """
    plain = normalize(path)
    if plain.split(".", 1)[0] in _NEVER:
        return False
    for entry in replacement_entries(resource_type):
        name = entry_path(entry)
        if name != ALL and plain != name and not plain.startswith(name + "."):
            continue
        conditional = isinstance(entry, ForcesNewWhen) and (before is not ABSENT or after is not ABSENT)
        if conditional and not entry.condition(before, after):  # type: ignore[union-attr]
            continue
        return True
    return False


__all__ = [
    "ALL",
    "REPLACEMENT_ATTRIBUTES",
    "Entry",
    "ForcesNewWhen",
    "entry_path",
    "forces_replacement",
    "is_known_type",
    "normalize",
    "replacement_entries",
]
