"""DynamoDB tables."""

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
    undo_on_error,
)


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _throughput(config: Config) -> dict[str, Any]:
    if config.get("billing_mode", "PROVISIONED") == "PAY_PER_REQUEST":
        return {}
    return {
        "ProvisionedThroughput": {
            "ReadCapacityUnits": int(config.get("read_capacity", 1)),
            "WriteCapacityUnits": int(config.get("write_capacity", 1)),
        }
    }


def _projection(index: dict[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.get("projection_type", "ALL")}
    if index.get("non_key_attributes"):
        projection["NonKeyAttributes"] = list(index["non_key_attributes"])
    return projection


def _global_index(index: dict[str, Any], config: Config) -> dict[str, Any]:
    return {
        "IndexName": index["name"],
        "KeySchema": _key_schema(index["hash_key"], index.get("range_key")),
        "Projection": _projection(index),
        **_throughput(
            {**config, **{k: v for k, v in index.items() if k in ("read_capacity", "write_capacity")}}
        ),
    }


def _attribute_definitions(config: Config) -> list[dict[str, str]]:
    return [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in blocks(config, "attribute")]


def _sse(config: Config) -> dict[str, Any]:
    """``SSESpecification``: KMS with the given key, or (disabled) DynamoDB's own key."""
    sse = block(config, "server_side_encryption") or {}
    if not sse.get("enabled"):
        return {"Enabled": False}
    return {
        "Enabled": True,
        "SSEType": "KMS",
        **({"KMSMasterKeyId": sse["kms_key_arn"]} if sse.get("kms_key_arn") else {}),
    }


def create_table(ctx: HandlerContext, config: Config) -> Attributes:
    dynamodb = ctx.client("dynamodb")
    name = config["name"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": _attribute_definitions(config),
        "KeySchema": _key_schema(config["hash_key"], config.get("range_key")),
        "BillingMode": config.get("billing_mode", "PROVISIONED"),
        **_throughput(config),
    }
    gsis = [_global_index(g, config) for g in blocks(config, "global_secondary_index")]
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {
            "IndexName": i["name"],
            "KeySchema": _key_schema(config["hash_key"], i["range_key"]),
            "Projection": _projection(i),
        }
        for i in blocks(config, "local_secondary_index")
    ]
    if lsis:
        kwargs["LocalSecondaryIndexes"] = lsis
    if config.get("stream_enabled"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": config.get("stream_view_type", "NEW_AND_OLD_IMAGES"),
        }
    sse = _sse(config)
    if sse["Enabled"]:
        kwargs["SSESpecification"] = sse
    if config.get("table_class"):
        kwargs["TableClass"] = config["table_class"]
    if config.get("deletion_protection_enabled"):
        kwargs["DeletionProtectionEnabled"] = True
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    with undo_on_error(lambda: dynamodb.delete_table(TableName=name)):
        _set_extras(dynamodb, name, {}, config)
    return {
        "id": name,
        "name": name,
        "arn": table["TableArn"],
        "stream_arn": table.get("LatestStreamArn"),
        "stream_label": table.get("LatestStreamLabel"),
        "tags_all": tags,
    }


def _set_extras(dynamodb: Any, name: str, old: Config, new: Config) -> None:
    """Point-in-time recovery and TTL, which CreateTable cannot set."""
    if (block(old, "point_in_time_recovery") or {}).get("enabled", False) != (
        block(new, "point_in_time_recovery") or {}
    ).get("enabled", False):
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": bool(
                    (block(new, "point_in_time_recovery") or {}).get("enabled")
                )
            },
        )
    old_ttl, new_ttl = block(old, "ttl") or {}, block(new, "ttl") or {}
    if old_ttl != new_ttl and (new_ttl.get("enabled") or old_ttl.get("enabled")):
        attribute = new_ttl.get("attribute_name") or old_ttl.get("attribute_name")
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": bool(new_ttl.get("enabled")), "AttributeName": attribute},
        )


def _index_updates(old: Config, new: Config) -> list[dict[str, Any]]:
    """GlobalSecondaryIndexUpdates taking the table's GSIs from ``old`` to ``new``.

    An index whose definition changed is deleted and created again (DynamoDB cannot change
    an index's keys or projection), as the provider does.
    """
    before = {g["name"]: g for g in blocks(old, "global_secondary_index")}
    after = {g["name"]: g for g in blocks(new, "global_secondary_index")}
    updates: list[dict[str, Any]] = [
        {"Delete": {"IndexName": name}} for name in before if before[name] != after.get(name)
    ]
    for name, index in after.items():
        if before.get(name) != index:
            updates.append({"Create": _global_index(index, new)})
    return updates


def update_table(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    dynamodb = ctx.client("dynamodb")
    name = attributes["name"]
    kwargs: dict[str, Any] = {}
    if changed(old, new, "billing_mode", "read_capacity", "write_capacity"):
        kwargs.update({"BillingMode": new.get("billing_mode", "PROVISIONED"), **_throughput(new)})
    if changed(old, new, "stream_enabled", "stream_view_type"):
        spec: dict[str, Any] = {"StreamEnabled": bool(new.get("stream_enabled"))}
        if new.get("stream_enabled"):
            spec["StreamViewType"] = new.get("stream_view_type", "NEW_AND_OLD_IMAGES")
        kwargs["StreamSpecification"] = spec
    if changed(old, new, "deletion_protection_enabled"):
        kwargs["DeletionProtectionEnabled"] = bool(new.get("deletion_protection_enabled"))
    if _sse(old) != _sse(new):  # the key changes in place (UpdateTable), as the provider does
        kwargs["SSESpecification"] = _sse(new)
    if changed(old, new, "table_class") and new.get("table_class"):
        kwargs["TableClass"] = new["table_class"]
    index_updates = _index_updates(old, new)
    if index_updates:
        # attribute definitions and GSIs change in place (UpdateTable), as the provider does
        kwargs["AttributeDefinitions"] = _attribute_definitions(new)
        kwargs["GlobalSecondaryIndexUpdates"] = index_updates
    result = dict(attributes)
    if kwargs:
        table = dynamodb.update_table(TableName=name, **kwargs)["TableDescription"]
        result["stream_arn"] = table.get("LatestStreamArn")
        result["stream_label"] = table.get("LatestStreamLabel")
    _set_extras(dynamodb, name, old, new)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: dynamodb.tag_resource(ResourceArn=attributes["arn"], Tags=tag_list(t)),
        untag=lambda keys: dynamodb.untag_resource(ResourceArn=attributes["arn"], TagKeys=keys),
    )
    result["tags_all"] = ctx.tags(new)
    return result


def delete_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # a table with deletion protection is refused, as on AWS: turn the protection off first
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("dynamodb").delete_table(TableName=attributes["name"])


HANDLERS = [
    Handler(
        "aws_dynamodb_table",
        create=create_table,
        update=update_table,
        delete=delete_table,
        exports=frozenset({"arn", "name", "stream_arn", "stream_label"}),
    ),
]

__all__ = ["HANDLERS"]
