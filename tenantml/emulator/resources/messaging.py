"""Kinesis streams, SNS topics and subscriptions, SQS queues."""

from __future__ import annotations

import json
from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    bool_str,
    changed,
    ignore_missing,
    sync_tags,
    undo_on_error,
    unique_name,
)

# --- Kinesis --------------------------------------------------------------------------------


def _stream_mode(config: Config) -> str:
    return (block(config, "stream_mode_details") or {}).get("stream_mode", "PROVISIONED")


def create_stream(ctx: HandlerContext, config: Config) -> Attributes:
    kinesis = ctx.client("kinesis")
    name = config["name"]
    mode = _stream_mode(config)
    kwargs: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        kwargs["ShardCount"] = int(config.get("shard_count", 1))
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tags
    kinesis.create_stream(**kwargs)
    with undo_on_error(lambda: kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)):
        retention = int(config.get("retention_period", 24))
        if retention > 24:
            kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=retention)
        if config.get("encryption_type", "NONE") == "KMS":
            kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=config["kms_key_id"])
        if config.get("shard_level_metrics"):
            kinesis.enable_enhanced_monitoring(
                StreamName=name, ShardLevelMetrics=list(config["shard_level_metrics"])
            )
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return {"id": summary["StreamARN"], "arn": summary["StreamARN"], "name": name, "tags_all": tags}


def update_stream(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    kinesis = ctx.client("kinesis")
    name = attributes["name"]
    if _stream_mode(old) != _stream_mode(new):
        kinesis.update_stream_mode(
            StreamARN=attributes["arn"], StreamModeDetails={"StreamMode": _stream_mode(new)}
        )
    if _stream_mode(new) == "PROVISIONED" and changed(old, new, "shard_count"):
        kinesis.update_shard_count(
            StreamName=name, TargetShardCount=int(new["shard_count"]), ScalingType="UNIFORM_SCALING"
        )
    old_retention, new_retention = int(old.get("retention_period", 24)), int(new.get("retention_period", 24))
    if new_retention > old_retention:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=new_retention)
    elif new_retention < old_retention:
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=new_retention)
    if changed(old, new, "encryption_type", "kms_key_id"):
        if old.get("encryption_type", "NONE") == "KMS":
            kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=old["kms_key_id"])
        if new.get("encryption_type", "NONE") == "KMS":
            kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=new["kms_key_id"])
    if changed(old, new, "shard_level_metrics"):
        removed = sorted(
            set(old.get("shard_level_metrics") or []) - set(new.get("shard_level_metrics") or [])
        )
        added = sorted(set(new.get("shard_level_metrics") or []) - set(old.get("shard_level_metrics") or []))
        if removed:
            kinesis.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=removed)
        if added:
            kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=added)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: kinesis.add_tags_to_stream(StreamName=name, Tags=t),
        untag=lambda keys: kinesis.remove_tags_from_stream(StreamName=name, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_stream(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("kinesis").delete_stream(StreamName=attributes["name"], EnforceConsumerDeletion=True)


# --- SNS ------------------------------------------------------------------------------------

#: provider argument -> SNS topic attribute
_TOPIC_ATTRIBUTES = {
    "display_name": "DisplayName",
    "policy": "Policy",
    "delivery_policy": "DeliveryPolicy",
    "kms_master_key_id": "KmsMasterKeyId",
    "signature_version": "SignatureVersion",
    "tracing_config": "TracingConfig",
    "content_based_deduplication": "ContentBasedDeduplication",
    "archive_policy": "ArchivePolicy",
}


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return bool_str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def create_topic(ctx: HandlerContext, config: Config) -> Attributes:
    sns = ctx.client("sns")
    name = unique_name(config)
    if config.get("fifo_topic") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {
        api: _attribute_text(config[arg])
        for arg, api in _TOPIC_ATTRIBUTES.items()
        if config.get(arg) is not None
    }
    if config.get("fifo_topic"):
        attributes["FifoTopic"] = "true"
    kwargs: dict[str, Any] = {"Name": name, "Attributes": attributes}
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    arn = sns.create_topic(**kwargs)["TopicArn"]
    return {"id": arn, "arn": arn, "name": name, "owner": ctx.account_id, "tags_all": tags}


def update_topic(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sns = ctx.client("sns")
    arn = attributes["arn"]
    for arg, api in _TOPIC_ATTRIBUTES.items():
        if changed(old, new, arg):
            value = new.get(arg)
            sns.set_topic_attributes(
                TopicArn=arn,
                AttributeName=api,
                AttributeValue="" if value is None else _attribute_text(value),
            )
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: sns.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
        untag=lambda keys: sns.untag_resource(ResourceArn=arn, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_topic(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NotFound", "NotFoundException"):
        ctx.client("sns").delete_topic(TopicArn=attributes["arn"])


_SUBSCRIPTION_ATTRIBUTES = {
    "raw_message_delivery": "RawMessageDelivery",
    "filter_policy": "FilterPolicy",
    "filter_policy_scope": "FilterPolicyScope",
    "redrive_policy": "RedrivePolicy",
    "delivery_policy": "DeliveryPolicy",
    "subscription_role_arn": "SubscriptionRoleArn",
    "replay_policy": "ReplayPolicy",
}


def create_subscription(ctx: HandlerContext, config: Config) -> Attributes:
    attributes = {
        api: _attribute_text(config[arg])
        for arg, api in _SUBSCRIPTION_ATTRIBUTES.items()
        if config.get(arg) not in (None, "", False)
    }
    arn = ctx.client("sns").subscribe(
        TopicArn=config["topic_arn"],
        Protocol=config["protocol"],
        Endpoint=config["endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    # email and http(s) endpoints need a human to confirm; nobody confirms in the emulator
    pending = config["protocol"] in ("email", "email-json", "http", "https") and not config.get(
        "endpoint_auto_confirms"
    )
    return {"id": arn, "arn": arn, "owner_id": ctx.account_id, "pending_confirmation": pending}


def update_subscription(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sns = ctx.client("sns")
    for arg, api in _SUBSCRIPTION_ATTRIBUTES.items():
        if changed(old, new, arg):
            value = new.get(arg)
            default = "false" if arg == "raw_message_delivery" else ""
            sns.set_subscription_attributes(
                SubscriptionArn=attributes["arn"],
                AttributeName=api,
                AttributeValue=default if value is None else _attribute_text(value),
            )
    return attributes


def delete_subscription(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NotFound", "NotFoundException", "InvalidParameter"):
        ctx.client("sns").unsubscribe(SubscriptionArn=attributes["arn"])


# --- SQS ------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = {
    "delay_seconds": "DelaySeconds",
    "max_message_size": "MaximumMessageSize",
    "message_retention_seconds": "MessageRetentionPeriod",
    "receive_wait_time_seconds": "ReceiveMessageWaitTimeSeconds",
    "visibility_timeout_seconds": "VisibilityTimeout",
    "policy": "Policy",
    "redrive_policy": "RedrivePolicy",
    "redrive_allow_policy": "RedriveAllowPolicy",
    "kms_master_key_id": "KmsMasterKeyId",
    "kms_data_key_reuse_period_seconds": "KmsDataKeyReusePeriodSeconds",
    "sqs_managed_sse_enabled": "SqsManagedSseEnabled",
    "content_based_deduplication": "ContentBasedDeduplication",
    "deduplication_scope": "DeduplicationScope",
    "fifo_throughput_limit": "FifoThroughputLimit",
}


def _queue_attributes(config: Config) -> dict[str, str]:
    attributes = {
        api: _attribute_text(config[arg])
        for arg, api in _QUEUE_ATTRIBUTES.items()
        if config.get(arg) is not None
    }
    if config.get("fifo_queue"):
        attributes["FifoQueue"] = "true"
    return attributes


def create_queue(ctx: HandlerContext, config: Config) -> Attributes:
    sqs = ctx.client("sqs")
    name = unique_name(config)
    if config.get("fifo_queue") and not name.endswith(".fifo"):
        name += ".fifo"
    kwargs: dict[str, Any] = {"QueueName": name, "Attributes": _queue_attributes(config)}
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = tags
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"id": url, "url": url, "arn": arn, "name": name, "tags_all": tags}


def update_queue(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sqs = ctx.client("sqs")
    url = attributes["url"]
    new_attributes = _queue_attributes(new)
    old_attributes = _queue_attributes(old)
    delta = {k: v for k, v in new_attributes.items() if old_attributes.get(k) != v}
    for key in old_attributes.keys() - new_attributes.keys():
        delta[key] = ""  # back to the default
    if delta:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=delta)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: sqs.tag_queue(QueueUrl=url, Tags=t),
        untag=lambda keys: sqs.untag_queue(QueueUrl=url, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_queue(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
        ctx.client("sqs").delete_queue(QueueUrl=attributes["url"])


HANDLERS = [
    Handler(
        "aws_kinesis_stream",
        create=create_stream,
        update=update_stream,
        delete=delete_stream,
        exports=frozenset({"arn", "name"}),
    ),
    Handler(
        "aws_sns_topic",
        create=create_topic,
        update=update_topic,
        delete=delete_topic,
        exports=frozenset({"arn", "name", "owner"}),
    ),
    Handler(
        "aws_sns_topic_subscription",
        create=create_subscription,
        update=update_subscription,
        delete=delete_subscription,
        exports=frozenset({"arn", "owner_id", "pending_confirmation"}),
    ),
    Handler(
        "aws_sqs_queue",
        create=create_queue,
        update=update_queue,
        delete=delete_queue,
        exports=frozenset({"arn", "name", "url"}),
    ),
]

__all__ = ["HANDLERS"]
