"""S3: buckets and the per-concern bucket resources of provider 6.x."""

from __future__ import annotations

import json
from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    blocks,
    ignore_missing,
    tag_list,
    undo_on_error,
    unique_name,
)

_MISSING = (
    "NoSuchBucket",
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
    "OwnershipControlsNotFoundError",
)


def _bucket_attributes(ctx: HandlerContext, name: str, config: Config) -> Attributes:
    region = ctx.region
    return {
        "id": name,
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucket_domain_name": f"{name}.s3.amazonaws.com",
        "bucket_regional_domain_name": f"{name}.s3.{region}.amazonaws.com",
        "region": region,
        "tags_all": ctx.tags(config),
    }


def _put_bucket_tags(s3: Any, name: str, tags: dict[str, str]) -> None:
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
    else:
        with ignore_missing("NoSuchTagSet", "NoSuchBucket"):
            s3.delete_bucket_tagging(Bucket=name)


def create_bucket(ctx: HandlerContext, config: Config) -> Attributes:
    s3 = ctx.client("s3")
    name = unique_name(config, "bucket", "bucket_prefix")
    kwargs: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    if config.get("object_lock_enabled"):
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)
    with undo_on_error(lambda: s3.delete_bucket(Bucket=name)):
        _put_bucket_tags(s3, name, ctx.tags(config))
    return _bucket_attributes(ctx, name, config)


def update_bucket(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    # only tags and force_destroy can change in place; force_destroy is Terraform-side only
    if ctx.tags(old) != ctx.tags(new):
        _put_bucket_tags(ctx.client("s3"), attributes["bucket"], ctx.tags(new))
    return {**attributes, "tags_all": ctx.tags(new)}


def empty_bucket(s3: Any, name: str) -> None:
    """Delete every object version, delete marker and unfinished upload of a bucket."""
    paginator = s3.get_paginator("list_object_versions")
    checked_versioning = False
    for page in paginator.paginate(Bucket=name):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for kind in ("Versions", "DeleteMarkers")
            for item in page.get(kind, [])
        ]
        if doomed and not checked_versioning:
            checked_versioning = True
            # moto 5.2.5 fails (HTTP 500) deleting a version by id from a bucket whose
            # versioning is Suspended (as aws_s3_bucket_versioning leaves it when destroyed)
            # if the key has a delete marker; with versioning on again it deletes correctly
            if s3.get_bucket_versioning(Bucket=name).get("Status") == "Suspended":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])


def delete_bucket(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # The emulator always empties a bucket before deleting it (all versions too), whatever
    # ``force_destroy`` says: `tenantml down` must leave nothing behind on a laptop.
    s3 = ctx.client("s3")
    name = attributes["bucket"]
    with ignore_missing("NoSuchBucket"):
        empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)


def _sub_id(ctx: HandlerContext, config: Config) -> Attributes:
    bucket = config["bucket"]
    owner = config.get("expected_bucket_owner")
    return {"id": f"{bucket},{owner}" if owner else bucket}


def _owner(config: Config) -> dict[str, Any]:
    owner = config.get("expected_bucket_owner")
    return {"ExpectedBucketOwner": owner} if owner else {}


# --- versioning -----------------------------------------------------------------------------


def put_versioning(ctx: HandlerContext, config: Config) -> Attributes:
    settings = block(config, "versioning_configuration") or {}
    status = settings.get("status", "Enabled")
    if status == "Disabled":  # only a new bucket can be "Disabled"; AWS has no such status to set
        return _sub_id(ctx, config)
    ctx.client("s3").put_bucket_versioning(
        Bucket=config["bucket"], VersioningConfiguration={"Status": status}, **_owner(config)
    )
    return _sub_id(ctx, config)


def delete_versioning(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # like the provider: versioning cannot be removed from a bucket, only suspended
    with ignore_missing(*_MISSING):
        ctx.client("s3").put_bucket_versioning(
            Bucket=config["bucket"], VersioningConfiguration={"Status": "Suspended"}
        )


# --- server-side encryption -----------------------------------------------------------------


def put_encryption(ctx: HandlerContext, config: Config) -> Attributes:
    rules = []
    for rule in blocks(config, "rule"):
        api_rule: dict[str, Any] = {}
        default = block(rule, "apply_server_side_encryption_by_default")
        if default:
            by_default = {"SSEAlgorithm": default["sse_algorithm"]}
            if default.get("kms_master_key_id"):
                by_default["KMSMasterKeyID"] = default["kms_master_key_id"]
            api_rule["ApplyServerSideEncryptionByDefault"] = by_default
        if rule.get("bucket_key_enabled") is not None:
            api_rule["BucketKeyEnabled"] = bool(rule["bucket_key_enabled"])
        rules.append(api_rule)
    ctx.client("s3").put_bucket_encryption(
        Bucket=config["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}, **_owner(config)
    )
    return _sub_id(ctx, config)


def delete_encryption(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").delete_bucket_encryption(Bucket=config["bucket"])


# --- public access block --------------------------------------------------------------------

_PAB = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def put_public_access_block(ctx: HandlerContext, config: Config) -> Attributes:
    settings = {
        "BlockPublicAcls": bool(config.get("block_public_acls", False)),
        "BlockPublicPolicy": bool(config.get("block_public_policy", False)),
        "IgnorePublicAcls": bool(config.get("ignore_public_acls", False)),
        "RestrictPublicBuckets": bool(config.get("restrict_public_buckets", False)),
    }
    ctx.client("s3").put_public_access_block(Bucket=config["bucket"], PublicAccessBlockConfiguration=settings)
    return _sub_id(ctx, config)


def delete_public_access_block(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").delete_public_access_block(Bucket=config["bucket"])


# --- bucket policy --------------------------------------------------------------------------


def put_policy(ctx: HandlerContext, config: Config) -> Attributes:
    policy = config["policy"]
    if not isinstance(policy, str):
        policy = json.dumps(policy)
    ctx.client("s3").put_bucket_policy(Bucket=config["bucket"], Policy=policy)
    return {"id": config["bucket"]}


def delete_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").delete_bucket_policy(Bucket=config["bucket"])


# --- lifecycle ------------------------------------------------------------------------------


def _lifecycle_filter(rule: dict[str, Any]) -> dict[str, Any]:
    flt = block(rule, "filter")
    if flt is None:
        return {"Prefix": rule.get("prefix", "")} if "prefix" in rule else {"Prefix": ""}
    out: dict[str, Any] = {}
    and_block = block(flt, "and")
    tag = block(flt, "tag")
    if and_block:
        inner: dict[str, Any] = {}
        if and_block.get("prefix") is not None:
            inner["Prefix"] = and_block["prefix"]
        if and_block.get("tags"):
            inner["Tags"] = tag_list(and_block["tags"])
        for key, api in (
            ("object_size_greater_than", "ObjectSizeGreaterThan"),
            ("object_size_less_than", "ObjectSizeLessThan"),
        ):
            if and_block.get(key) is not None:
                inner[api] = int(and_block[key])
        out["And"] = inner
    elif tag:
        out["Tag"] = {"Key": tag["key"], "Value": tag["value"]}
    elif flt.get("object_size_greater_than") is not None:
        out["ObjectSizeGreaterThan"] = int(flt["object_size_greater_than"])
    elif flt.get("object_size_less_than") is not None:
        out["ObjectSizeLessThan"] = int(flt["object_size_less_than"])
    else:
        out["Prefix"] = flt.get("prefix", "")
    return out


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "ID": rule["id"],
        "Status": rule.get("status", "Enabled"),
        "Filter": _lifecycle_filter(rule),
    }
    expiration = block(rule, "expiration")
    if expiration:
        exp: dict[str, Any] = {}
        if expiration.get("days") is not None:
            exp["Days"] = int(expiration["days"])
        if expiration.get("date"):
            exp["Date"] = expiration["date"]
        if expiration.get("expired_object_delete_marker") is not None:
            exp["ExpiredObjectDeleteMarker"] = bool(expiration["expired_object_delete_marker"])
        api["Expiration"] = exp
    noncurrent = block(rule, "noncurrent_version_expiration")
    if noncurrent:
        nce: dict[str, Any] = {"NoncurrentDays": int(noncurrent["noncurrent_days"])}
        if noncurrent.get("newer_noncurrent_versions") is not None:
            nce["NewerNoncurrentVersions"] = int(noncurrent["newer_noncurrent_versions"])
        api["NoncurrentVersionExpiration"] = nce
    transitions = []
    for transition in blocks(rule, "transition"):
        item: dict[str, Any] = {"StorageClass": transition["storage_class"]}
        if transition.get("days") is not None:
            item["Days"] = int(transition["days"])
        if transition.get("date"):
            item["Date"] = transition["date"]
        transitions.append(item)
    if transitions:
        api["Transitions"] = transitions
    nc_transitions = []
    for transition in blocks(rule, "noncurrent_version_transition"):
        item = {
            "StorageClass": transition["storage_class"],
            "NoncurrentDays": int(transition.get("noncurrent_days", 0)),
        }
        if transition.get("newer_noncurrent_versions") is not None:
            item["NewerNoncurrentVersions"] = int(transition["newer_noncurrent_versions"])
        nc_transitions.append(item)
    if nc_transitions:
        api["NoncurrentVersionTransitions"] = nc_transitions
    abort = block(rule, "abort_incomplete_multipart_upload")
    if abort:
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(abort["days_after_initiation"])}
    return api


def put_lifecycle(ctx: HandlerContext, config: Config) -> Attributes:
    rules = [_lifecycle_rule(rule) for rule in blocks(config, "rule")]
    ctx.client("s3").put_bucket_lifecycle_configuration(
        Bucket=config["bucket"], LifecycleConfiguration={"Rules": rules}, **_owner(config)
    )
    return _sub_id(ctx, config)


def delete_lifecycle(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").delete_bucket_lifecycle(Bucket=config["bucket"])


# --- ownership controls ---------------------------------------------------------------------


def put_ownership(ctx: HandlerContext, config: Config) -> Attributes:
    rule = block(config, "rule") or {}
    ctx.client("s3").put_bucket_ownership_controls(
        Bucket=config["bucket"],
        OwnershipControls={
            "Rules": [{"ObjectOwnership": rule.get("object_ownership", "BucketOwnerEnforced")}]
        },
    )
    return {"id": config["bucket"]}


def delete_ownership(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").delete_bucket_ownership_controls(Bucket=config["bucket"])


# --- notifications --------------------------------------------------------------------------


def _filter_rules(item: dict[str, Any]) -> dict[str, Any]:
    rules = []
    if item.get("filter_prefix"):
        rules.append({"Name": "prefix", "Value": item["filter_prefix"]})
    if item.get("filter_suffix"):
        rules.append({"Name": "suffix", "Value": item["filter_suffix"]})
    return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}


def put_notification(ctx: HandlerContext, config: Config) -> Attributes:
    notification: dict[str, Any] = {}
    for block_name, api_name, arn_key, api_arn in (
        ("lambda_function", "LambdaFunctionConfigurations", "lambda_function_arn", "LambdaFunctionArn"),
        ("queue", "QueueConfigurations", "queue_arn", "QueueArn"),
        ("topic", "TopicConfigurations", "topic_arn", "TopicArn"),
    ):
        items = []
        for item in blocks(config, block_name):
            api = {api_arn: item[arn_key], "Events": list(item["events"]), **_filter_rules(item)}
            if item.get("id"):
                api["Id"] = item["id"]
            items.append(api)
        if items:
            notification[api_name] = items
    if config.get("eventbridge"):
        notification["EventBridgeConfiguration"] = {}
    ctx.client("s3").put_bucket_notification_configuration(
        Bucket=config["bucket"], NotificationConfiguration=notification
    )
    return {"id": config["bucket"]}


def delete_notification(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("s3").put_bucket_notification_configuration(
            Bucket=config["bucket"], NotificationConfiguration={}
        )


def _put_as_update(put: Any) -> Any:
    """Sub-resources whose whole configuration is one PUT update by putting again."""

    def update(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
        return {**attributes, **put(ctx, new)}

    return update


_BUCKET_EXPORTS = frozenset({"arn", "bucket", "bucket_domain_name", "bucket_regional_domain_name", "region"})

HANDLERS = [
    Handler(
        "aws_s3_bucket",
        create=create_bucket,
        update=update_bucket,
        delete=delete_bucket,
        exports=_BUCKET_EXPORTS,
    ),
    Handler(
        "aws_s3_bucket_versioning",
        create=put_versioning,
        update=_put_as_update(put_versioning),
        delete=delete_versioning,
    ),
    Handler(
        "aws_s3_bucket_server_side_encryption_configuration",
        create=put_encryption,
        update=_put_as_update(put_encryption),
        delete=delete_encryption,
    ),
    Handler(
        "aws_s3_bucket_public_access_block",
        create=put_public_access_block,
        update=_put_as_update(put_public_access_block),
        delete=delete_public_access_block,
    ),
    Handler(
        "aws_s3_bucket_policy",
        create=put_policy,
        update=_put_as_update(put_policy),
        delete=delete_policy,
    ),
    Handler(
        "aws_s3_bucket_lifecycle_configuration",
        create=put_lifecycle,
        update=_put_as_update(put_lifecycle),
        delete=delete_lifecycle,
    ),
    Handler(
        "aws_s3_bucket_ownership_controls",
        create=put_ownership,
        update=_put_as_update(put_ownership),
        delete=delete_ownership,
    ),
    Handler(
        "aws_s3_bucket_notification",
        create=put_notification,
        update=_put_as_update(put_notification),
        delete=delete_notification,
    ),
]

__all__ = ["HANDLERS", "empty_bucket"]
