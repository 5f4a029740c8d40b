"""Which argument changes make Terraform destroy and re-create a resource, per resource type.

Terraform replaces a resource when an argument marked ``ForceNew`` (SDKv2) or
``RequiresReplace`` (plugin framework) changes; every other change is an in-place update. The
provider's JSON schema does not carry that flag, so the table below transcribes it from the
AWS provider (6.x) documentation, where such arguments read "Forces new resource" (and from
the provider source where the documentation is silent). It covers every resource type the
constructs in ``infra/`` synthesize, plus a few common data-bearing types.

Paths are argument paths without list indices: ``vpc_config.subnet_ids`` matches a change at
``vpc_config[0].subnet_ids[1]``. :data:`ALL` means every argument except ``tags`` (the
resource is immutable). A type that is not in the table is treated as updatable and flagged in
the report, so a missing entry shows rather than hides.

A reference also forces replacement: when an argument listed here refers to a resource that is
itself replaced (``bucket = "${aws_s3_bucket.data.id}"``), its new value is unknown until apply
and Terraform plans a replacement. See ``tenantml.preview.diff``.
"""

from __future__ import annotations

import re

ALL = "*"

#: resource type -> arguments whose change forces a replacement
REPLACEMENT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    # --- storage
    "aws_s3_bucket": ("bucket", "bucket_prefix", "object_lock_enabled"),
    "aws_s3_bucket_versioning": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_server_side_encryption_configuration": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_public_access_block": ("bucket",),
    "aws_s3_bucket_ownership_controls": ("bucket",),
    "aws_s3_bucket_policy": ("bucket",),
    "aws_s3_bucket_lifecycle_configuration": ("bucket", "expected_bucket_owner"),
    "aws_s3_bucket_notification": ("bucket",),
    "aws_dynamodb_table": ("name", "hash_key", "range_key"),
    # --- keys
    "aws_kms_key": ("customer_master_key_spec", "key_usage", "multi_region", "custom_key_store_id", "xks_key_id"),
    "aws_kms_alias": ("name", "name_prefix"),
    # --- streaming, alerting, queues
    "aws_kinesis_stream": ("name",),
    "aws_sns_topic": ("name", "name_prefix", "fifo_topic"),
    "aws_sns_topic_subscription": ("topic_arn", "protocol", "endpoint"),
    "aws_sns_topic_policy": ("arn",),
    "aws_sqs_queue": ("name", "name_prefix", "fifo_queue"),
    "aws_sqs_queue_policy": ("queue_url",),
    "aws_cloudwatch_log_group": ("name", "name_prefix"),
    "aws_cloudwatch_metric_alarm": ("alarm_name",),
    "aws_cloudwatch_dashboard": ("dashboard_name",),
    # --- Lambda
    "aws_lambda_function": ("function_name", "package_type"),
    "aws_lambda_permission": (ALL,),
    "aws_lambda_event_source_mapping": (
        "event_source_arn", "starting_position", "starting_position_timestamp", "topics", "queues",
        "self_managed_event_source", "amazon_managed_kafka_event_source_config",
    ),
    "aws_lambda_function_event_invoke_config": ("function_name", "qualifier"),
    # --- IAM
    "aws_iam_role": ("name", "name_prefix", "path"),
    "aws_iam_role_policy": ("name", "name_prefix", "role"),
    "aws_iam_policy": ("name", "name_prefix", "path", "description"),
    "aws_iam_role_policy_attachment": ("role", "policy_arn"),
    "aws_iam_instance_profile": ("name", "name_prefix", "path"),
    "aws_iam_openid_connect_provider": ("url",),
    # --- network
    "aws_vpc": ("cidr_block", "ipv4_ipam_pool_id", "ipv4_netmask_length"),
    "aws_subnet": ("vpc_id", "cidr_block", "availability_zone", "availability_zone_id", "outpost_arn"),
    "aws_internet_gateway": (),
    "aws_eip": ("domain", "address", "network_border_group", "public_ipv4_pool", "customer_owned_ipv4_pool", "ipam_pool_id"),
    "aws_nat_gateway": ("allocation_id", "subnet_id", "connectivity_type", "private_ip"),
    "aws_route_table": ("vpc_id",),
    "aws_route": ("route_table_id", "destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id"),
    "aws_route_table_association": ("subnet_id", "gateway_id"),
    "aws_security_group": ("name", "name_prefix", "description", "vpc_id"),
    "aws_vpc_security_group_egress_rule": ("security_group_id",),
    "aws_vpc_security_group_ingress_rule": ("security_group_id",),
    "aws_flow_log": (
        "vpc_id", "subnet_id", "eni_id", "transit_gateway_id", "transit_gateway_attachment_id", "traffic_type",
        "log_destination", "log_destination_type", "log_format", "iam_role_arn", "deliver_cross_account_role",
        "max_aggregation_interval", "destination_options",
    ),
    # --- compute
    "aws_eks_cluster": (
        "name", "role_arn", "vpc_config.subnet_ids", "vpc_config.security_group_ids",
        "kubernetes_network_config.service_ipv4_cidr", "kubernetes_network_config.ip_family",
        "access_config.bootstrap_cluster_creator_admin_permissions", "outpost_config",
    ),
    "aws_eks_node_group": (
        "cluster_name", "node_group_name", "node_group_name_prefix", "node_role_arn", "subnet_ids",
        "instance_types", "capacity_type", "disk_size", "remote_access",
    ),
    "aws_eks_access_entry": ("cluster_name", "principal_arn", "type"),
    "aws_launch_template": ("name", "name_prefix"),
    "aws_autoscaling_group": ("name", "name_prefix"),
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


def is_known_type(resource_type: str) -> bool:
    return resource_type in REPLACEMENT_ATTRIBUTES


def forces_replacement(resource_type: str, path: str) -> bool:
    """True when changing the argument at ``path`` makes Terraform replace a ``resource_type``."""
    entries = REPLACEMENT_ATTRIBUTES.get(resource_type, ())
    plain = normalize(path)
    if plain.split(".", 1)[0] in _NEVER:
        return False
    return any(e == ALL or plain == e or plain.startswith(e + ".") for e in entries)
