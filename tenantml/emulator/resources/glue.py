"""The Glue Data Catalog: databases and tables (the feature store's offline catalog).

Ids and ARNs as the provider writes them: a database is ``<catalog id>:<name>`` and
``arn:aws:glue:<region>:<account>:database/<name>``; a table is ``<catalog id>:<database>:<name>``
and ``...:table/<database>/<name>``. The catalog id is the account's.
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
    ignore_missing,
    sync_tags,
)


def database_attributes(ctx: HandlerContext, config: Config) -> Attributes:
    catalog = config.get("catalog_id") or ctx.account_id
    name = config["name"]
    return {
        "id": f"{catalog}:{name}",
        "name": name,
        "catalog_id": catalog,
        "arn": ctx.arn("glue", f"database/{name}"),
        "tags_all": ctx.tags(config),
    }


def _database_input(config: Config) -> dict[str, Any]:
    found: dict[str, Any] = {"Name": config["name"]}
    if config.get("description"):
        found["Description"] = config["description"]
    if config.get("location_uri"):
        found["LocationUri"] = config["location_uri"]
    if config.get("parameters"):
        found["Parameters"] = dict(config["parameters"])
    return found


def create_database(ctx: HandlerContext, config: Config) -> Attributes:
    attributes = database_attributes(ctx, config)
    kwargs: dict[str, Any] = {"DatabaseInput": _database_input(config)}
    if attributes["tags_all"]:
        kwargs["Tags"] = dict(attributes["tags_all"])
    ctx.client("glue").create_database(**kwargs)
    return attributes


def update_database(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    glue = ctx.client("glue")
    if _database_input(old) != _database_input(new):
        glue.update_database(Name=attributes["name"], DatabaseInput=_database_input(new))
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: glue.tag_resource(ResourceArn=attributes["arn"], TagsToAdd=t),
        untag=lambda keys: glue.untag_resource(ResourceArn=attributes["arn"], TagsToRemove=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_database(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("EntityNotFoundException"):
        ctx.client("glue").delete_database(Name=attributes["name"])


def table_attributes(ctx: HandlerContext, config: Config) -> Attributes:
    catalog = config.get("catalog_id") or ctx.account_id
    database, name = config["database_name"], config["name"]
    return {
        "id": f"{catalog}:{database}:{name}",
        "name": name,
        "database_name": database,
        "catalog_id": catalog,
        "arn": ctx.arn("glue", f"table/{database}/{name}"),
    }


def _columns(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in items:
        column = {"Name": item["name"], "Type": item.get("type", "string")}
        if item.get("comment"):
            column["Comment"] = item["comment"]
        found.append(column)
    return found


def table_input(config: Config) -> dict[str, Any]:
    """``TableInput`` from the resource's arguments (the parts our stacks and the provider use)."""
    found: dict[str, Any] = {"Name": config["name"]}
    for arg, key in (("description", "Description"), ("table_type", "TableType"), ("owner", "Owner")):
        if config.get(arg):
            found[key] = config[arg]
    if config.get("parameters"):
        found["Parameters"] = dict(config["parameters"])
    partition_keys = blocks(config, "partition_keys")
    if partition_keys:
        found["PartitionKeys"] = _columns(partition_keys)
    storage = block(config, "storage_descriptor")
    if storage:
        descriptor: dict[str, Any] = {"Columns": _columns(blocks(storage, "columns"))}
        for arg, key in (
            ("location", "Location"),
            ("input_format", "InputFormat"),
            ("output_format", "OutputFormat"),
        ):
            if storage.get(arg):
                descriptor[key] = storage[arg]
        if storage.get("compressed") is not None:
            descriptor["Compressed"] = bool(storage["compressed"])
        serde = block(storage, "ser_de_info")
        if serde:
            descriptor["SerdeInfo"] = {
                key: value
                for key, value in (
                    ("Name", serde.get("name")),
                    ("SerializationLibrary", serde.get("serialization_library")),
                    ("Parameters", dict(serde.get("parameters") or {}) or None),
                )
                if value
            }
        found["StorageDescriptor"] = descriptor
    return found


def create_table(ctx: HandlerContext, config: Config) -> Attributes:
    ctx.client("glue").create_table(DatabaseName=config["database_name"], TableInput=table_input(config))
    return table_attributes(ctx, config)


def update_table(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    if table_input(old) != table_input(new):
        ctx.client("glue").update_table(DatabaseName=attributes["database_name"], TableInput=table_input(new))
    return dict(attributes)


def delete_table(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("EntityNotFoundException"):
        ctx.client("glue").delete_table(DatabaseName=attributes["database_name"], Name=attributes["name"])


HANDLERS = [
    Handler(
        "aws_glue_catalog_database",
        create=create_database,
        update=update_database,
        delete=delete_database,
        exports=frozenset({"arn", "name", "catalog_id"}),
    ),
    Handler(
        "aws_glue_catalog_table",
        create=create_table,
        update=update_table,
        delete=delete_table,
        exports=frozenset({"arn", "name", "database_name", "catalog_id"}),
    ),
]

__all__ = ["HANDLERS", "database_attributes", "table_attributes", "table_input"]
