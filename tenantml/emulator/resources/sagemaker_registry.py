"""SageMaker model package groups (the model registry's containers)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tenantml.emulator import moto_internals
from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    ignore_missing,
    sync_tags,
    tag_list,
)


def create_group(ctx: HandlerContext, config: Config) -> Attributes:
    name = config["model_package_group_name"]
    kwargs: dict[str, Any] = {"ModelPackageGroupName": name}
    if config.get("model_package_group_description"):
        kwargs["ModelPackageGroupDescription"] = config["model_package_group_description"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    arn = ctx.client("sagemaker").create_model_package_group(**kwargs)["ModelPackageGroupArn"]
    return {"id": name, "arn": arn, "tags_all": tags}


def update_group(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sagemaker = ctx.client("sagemaker")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: sagemaker.add_tags(ResourceArn=attributes["arn"], Tags=tag_list(t)),
        untag=lambda keys: sagemaker.delete_tags(ResourceArn=attributes["arn"], TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # AWS refuses to delete a group that still holds model versions; versions registered by
    # the pipelines are not stack resources, so the emulator deletes them too (nothing may
    # be left behind on a laptop). moto 5.2.5 has neither DeleteModelPackageGroup nor
    # DeleteModelPackage: with moto in this process they are removed from its backend
    # (moto_internals); against an external moto the API is tried, and a group it cannot
    # delete is left there (the emulator forgets it, as if deleted out of band).
    name = attributes["id"]
    if moto_internals.delete_model_package_group(ctx.session.endpoint, ctx.account_id, ctx.region, name):
        return
    sagemaker = ctx.client("sagemaker")
    try:
        with ignore_missing("ValidationException", "ResourceNotFound"):
            for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=name):
                for package in page.get("ModelPackageSummaryList", []):
                    sagemaker.delete_model_package(ModelPackageName=package["ModelPackageArn"])
            sagemaker.delete_model_package_group(ModelPackageGroupName=name)
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
            raise


HANDLERS = [
    Handler(
        "aws_sagemaker_model_package_group",
        create=create_group,
        update=update_group,
        delete=delete_group,
        exports=frozenset({"arn"}),
    ),
]

__all__ = ["HANDLERS"]
