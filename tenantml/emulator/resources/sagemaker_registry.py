"""SageMaker model package groups (the model registry's containers)."""

from __future__ import annotations

from typing import Any

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
    # the pipelines are not stack resources, so the emulator deletes them first (nothing may
    # be left behind on a laptop, and a re-applied group must not name a stale champion).
    # moto lacks both calls; the emulator adds them (moto_internals.add_model_package_deletion).
    name = attributes["id"]
    sagemaker = ctx.client("sagemaker")
    with ignore_missing("ValidationException"):  # the group is already gone (the emulator was reset)
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=name):
            for package in page.get("ModelPackageSummaryList", []):
                with ignore_missing("ValidationException"):
                    sagemaker.delete_model_package(ModelPackageName=package["ModelPackageArn"])
        sagemaker.delete_model_package_group(ModelPackageGroupName=name)


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
