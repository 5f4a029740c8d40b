"""SageMaker models, endpoint configurations and endpoints, and the ECR image repository.

moto 5.2.5 records all of them but runs nothing: an endpoint is ``InService`` at once and
serves no traffic, and CreateEndpoint ignores ``DeploymentConfig`` (no blue/green, no
rollback). The deployment policy is kept in our state as configured; a change of endpoint
configuration is an in-place ``UpdateEndpoint`` as on AWS, which moto 5.2.5 does not
implement, so the emulator re-creates the endpoint record under the same name instead.
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
    pascal,
    sync_tags,
    tag_list,
    unique_name,
)

_MISSING = (
    "ValidationException",
    "ResourceNotFound",
    "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException",
)


def _container(config: Config) -> dict[str, Any]:
    container: dict[str, Any] = {}
    for key in ("image", "model_data_url", "model_package_name", "container_hostname", "mode"):
        if config.get(key):
            container[pascal(key)] = config[key]
    if config.get("environment"):
        container["Environment"] = dict(config["environment"])
    return container


def create_model(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config)
    kwargs: dict[str, Any] = {"ModelName": name, "ExecutionRoleArn": config["execution_role_arn"]}
    primary = block(config, "primary_container")
    if primary:
        kwargs["PrimaryContainer"] = _container(primary)
    containers = blocks(config, "container")
    if containers:
        kwargs["Containers"] = [_container(c) for c in containers]
    vpc = block(config, "vpc_config")
    if vpc:
        kwargs["VpcConfig"] = {
            "Subnets": list(vpc["subnets"]),
            "SecurityGroupIds": list(vpc["security_group_ids"]),
        }
    if config.get("enable_network_isolation"):
        kwargs["EnableNetworkIsolation"] = True
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    arn = ctx.client("sagemaker").create_model(**kwargs)["ModelArn"]
    return {"id": name, "name": name, "arn": arn, "tags_all": tags}


def delete_model(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("sagemaker").delete_model(ModelName=attributes["name"])


def create_endpoint_config(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config)
    variants = []
    for variant in blocks(config, "production_variants"):
        entry: dict[str, Any] = {
            "VariantName": variant.get("variant_name") or "variant-1",
            "ModelName": variant["model_name"],
        }
        for key in ("instance_type", "initial_instance_count", "initial_variant_weight", "volume_size_in_gb"):
            if variant.get(key) is not None:
                entry[pascal(key)] = variant[key]
        variants.append(entry)
    kwargs: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": variants}
    if config.get("kms_key_arn"):
        kwargs["KmsKeyId"] = config["kms_key_arn"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    arn = ctx.client("sagemaker").create_endpoint_config(**kwargs)["EndpointConfigArn"]
    return {"id": name, "name": name, "arn": arn, "tags_all": tags}


def delete_endpoint_config(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("sagemaker").delete_endpoint_config(EndpointConfigName=attributes["name"])


def create_endpoint(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config)
    sagemaker = ctx.client("sagemaker")
    tags = ctx.tags(config)
    kwargs: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config["endpoint_config_name"]}
    if tags:
        kwargs["Tags"] = tag_list(tags)
    # DeploymentConfig only matters for updates, which moto does not run: it stays in our state
    arn = sagemaker.create_endpoint(**kwargs)["EndpointArn"]
    return {"id": name, "name": name, "arn": arn, "tags_all": tags}


def update_endpoint(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sagemaker = ctx.client("sagemaker")
    if old.get("endpoint_config_name") != new.get("endpoint_config_name"):
        # AWS: UpdateEndpoint runs the blue/green deployment; moto 5.2.5 has no UpdateEndpoint
        with ignore_missing(*_MISSING):
            sagemaker.delete_endpoint(EndpointName=attributes["name"])
        return create_endpoint(ctx, new)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: sagemaker.add_tags(ResourceArn=attributes["arn"], Tags=tag_list(t)),
        untag=lambda keys: sagemaker.delete_tags(ResourceArn=attributes["arn"], TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_endpoint(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("sagemaker").delete_endpoint(EndpointName=attributes["name"])


def create_repository(ctx: HandlerContext, config: Config) -> Attributes:
    ecr = ctx.client("ecr")
    kwargs: dict[str, Any] = {"repositoryName": config["name"]}
    if config.get("image_tag_mutability"):
        kwargs["imageTagMutability"] = config["image_tag_mutability"]
    scanning = block(config, "image_scanning_configuration")
    if scanning:
        kwargs["imageScanningConfiguration"] = {"scanOnPush": scanning.get("scan_on_push") in (True, "true")}
    encryption = block(config, "encryption_configuration")
    if encryption:
        kwargs["encryptionConfiguration"] = {
            "encryptionType": encryption.get("encryption_type") or "AES256",
            **({"kmsKey": encryption["kms_key"]} if encryption.get("kms_key") else {}),
        }
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = tag_list(tags)
    repository = ecr.create_repository(**kwargs)["repository"]
    return {
        "id": config["name"],
        "arn": repository["repositoryArn"],
        "registry_id": repository["registryId"],
        "repository_url": repository["repositoryUri"],
        "tags_all": tags,
    }


def update_repository(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    """What the provider changes in place: tag mutability, scan on push and tags."""
    ecr = ctx.client("ecr")
    name = attributes["id"]
    if old.get("image_tag_mutability") != new.get("image_tag_mutability"):
        ecr.put_image_tag_mutability(
            repositoryName=name, imageTagMutability=new.get("image_tag_mutability") or "MUTABLE"
        )
    scanning = block(new, "image_scanning_configuration") or {}
    if (block(old, "image_scanning_configuration") or {}) != scanning:
        ecr.put_image_scanning_configuration(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": scanning.get("scan_on_push") in (True, "true")},
        )
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: ecr.tag_resource(resourceArn=attributes["arn"], tags=tag_list(t)),
        untag=lambda keys: ecr.untag_resource(resourceArn=attributes["arn"], tagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_repository(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # images pushed by hand would block the delete; nothing may be left behind on a laptop
    with ignore_missing(*_MISSING):
        ctx.client("ecr").delete_repository(repositoryName=attributes["id"], force=True)


def put_lifecycle_policy(ctx: HandlerContext, config: Config) -> Attributes:
    response = ctx.client("ecr").put_lifecycle_policy(
        repositoryName=config["repository"], lifecyclePolicyText=config["policy"]
    )
    return {"id": config["repository"], "registry_id": response["registryId"]}


def update_lifecycle_policy(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    return put_lifecycle_policy(ctx, new)


def delete_lifecycle_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("ecr").delete_lifecycle_policy(repositoryName=attributes["id"])


HANDLERS = [
    Handler(
        "aws_sagemaker_model",
        create=create_model,
        delete=delete_model,
        exports=frozenset({"arn", "name"}),
    ),
    Handler(
        "aws_sagemaker_endpoint_configuration",
        create=create_endpoint_config,
        delete=delete_endpoint_config,
        exports=frozenset({"arn", "name"}),
    ),
    Handler(
        "aws_sagemaker_endpoint",
        create=create_endpoint,
        update=update_endpoint,
        delete=delete_endpoint,
        exports=frozenset({"arn", "name"}),
        volatile=frozenset({"arn"}),
    ),
    Handler(
        "aws_ecr_repository",
        create=create_repository,
        update=update_repository,
        delete=delete_repository,
        exports=frozenset({"arn", "registry_id", "repository_url"}),
    ),
    Handler(
        "aws_ecr_lifecycle_policy",
        create=put_lifecycle_policy,
        update=update_lifecycle_policy,
        delete=delete_lifecycle_policy,
        exports=frozenset({"registry_id"}),
    ),
]

__all__ = ["HANDLERS"]
