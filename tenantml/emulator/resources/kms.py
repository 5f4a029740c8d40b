"""KMS: customer managed keys and their aliases."""

from __future__ import annotations

from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    changed,
    ignore_missing,
    sync_tags,
    tag_list,
    undo_on_error,
    unique_name,
)


def _key_attributes(ctx: HandlerContext, metadata: dict[str, Any], config: Config) -> Attributes:
    return {
        "id": metadata["KeyId"],
        "key_id": metadata["KeyId"],
        "arn": metadata["Arn"],
        "tags_all": ctx.tags(config),
    }


def _set_rotation(kms: Any, key_id: str, config: Config) -> None:
    if config.get("enable_key_rotation"):
        period = config.get("rotation_period_in_days")
        kms.enable_key_rotation(KeyId=key_id, **({"RotationPeriodInDays": int(period)} if period else {}))
    else:
        kms.disable_key_rotation(KeyId=key_id)


def create_key(ctx: HandlerContext, config: Config) -> Attributes:
    kms = ctx.client("kms")
    kwargs: dict[str, Any] = {
        "KeyUsage": config.get("key_usage", "ENCRYPT_DECRYPT"),
        "KeySpec": config.get("customer_master_key_spec", "SYMMETRIC_DEFAULT"),
        "MultiRegion": bool(config.get("multi_region", False)),
    }
    if config.get("description") is not None:
        kwargs["Description"] = config["description"]
    if config.get("policy"):
        kwargs["Policy"] = config["policy"]
    if config.get("bypass_policy_lockout_safety_check"):
        kwargs["BypassPolicyLockoutSafetyCheck"] = True
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags, "TagKey", "TagValue")
    metadata = kms.create_key(**kwargs)["KeyMetadata"]
    key_id = metadata["KeyId"]
    with undo_on_error(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)):
        if config.get("enable_key_rotation"):
            _set_rotation(kms, key_id, config)
        if config.get("is_enabled") is False:
            kms.disable_key(KeyId=key_id)
    return _key_attributes(ctx, metadata, config)


def update_key(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    kms = ctx.client("kms")
    key_id = attributes["key_id"]
    if changed(old, new, "description"):
        kms.update_key_description(KeyId=key_id, Description=new.get("description") or "")
    if changed(old, new, "policy") and new.get("policy"):
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=new["policy"])
    if changed(old, new, "enable_key_rotation", "rotation_period_in_days"):
        _set_rotation(kms, key_id, new)
    if changed(old, new, "is_enabled"):
        (kms.disable_key if new.get("is_enabled") is False else kms.enable_key)(KeyId=key_id)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: kms.tag_resource(KeyId=key_id, Tags=tag_list(t, "TagKey", "TagValue")),
        untag=lambda keys: kms.untag_resource(KeyId=key_id, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_key(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # Like AWS (and Terraform), a key is scheduled for deletion, not erased: it stays listed
    # as PendingDeletion for the window (7-30 days) and can no longer be used.
    window = int(config.get("deletion_window_in_days") or 30)
    with ignore_missing("NotFoundException", "KMSInvalidStateException"):
        ctx.client("kms").schedule_key_deletion(KeyId=attributes["key_id"], PendingWindowInDays=window)


def create_alias(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config, "name", "name_prefix")
    if not name.startswith("alias/"):
        name = f"alias/{name}"
    kms = ctx.client("kms")
    kms.create_alias(AliasName=name, TargetKeyId=config["target_key_id"])
    target = kms.describe_key(KeyId=config["target_key_id"])["KeyMetadata"]["Arn"]
    return {"id": name, "name": name, "arn": ctx.arn("kms", name), "target_key_arn": target}


def update_alias(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    kms = ctx.client("kms")
    kms.update_alias(AliasName=attributes["name"], TargetKeyId=new["target_key_id"])
    target = kms.describe_key(KeyId=new["target_key_id"])["KeyMetadata"]["Arn"]
    return {**attributes, "target_key_arn": target}


def delete_alias(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NotFoundException"):
        ctx.client("kms").delete_alias(AliasName=attributes["name"])


HANDLERS = [
    Handler(
        "aws_kms_key",
        create=create_key,
        update=update_key,
        delete=delete_key,
        exports=frozenset({"arn", "key_id"}),
    ),
    Handler(
        "aws_kms_alias",
        create=create_alias,
        update=update_alias,
        delete=delete_alias,
        exports=frozenset({"arn", "name", "target_key_arn"}),
    ),
]

__all__ = ["HANDLERS"]
