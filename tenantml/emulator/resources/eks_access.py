"""EKS access entries, and the data sources an EKS tenant's Kubernetes stack reads.

moto's EKS has no access entries: the emulator checks what AWS would (the cluster exists, a role
principal exists) and records the entry in the state. The data sources read what the tenant stack made:
the cluster, the serving pods' role, the image repository, and the role behind the applying session.
"""

from __future__ import annotations

import re

from tenantml.emulator.resources.base import Attributes, Config, Handler, HandlerContext, block
from tenantml.emulator.resources.compute import _cluster_attributes
from tenantml.emulator.resources.data_sources import DataSourceHandler

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
_ROLE_ARN = re.compile(r"^arn:[^:]+:iam::\d{12}:role/(?:.*/)?(?P<name>[^/]+)$")


def _cluster(ctx: HandlerContext, name: str) -> dict:
    # ResourceNotFoundException when the cluster is not there, as CreateAccessEntry answers
    return ctx.client("eks").describe_cluster(name=name)["cluster"]


def _check_principal(ctx: HandlerContext, principal: str) -> None:
    role = _ROLE_ARN.match(principal)
    if role:
        # NoSuchEntity: EKS rejects an access entry for a principal that does not exist
        ctx.client("iam").get_role(RoleName=role["name"])


def create_access_entry(ctx: HandlerContext, config: Config) -> Attributes:
    cluster = _cluster(ctx, config["cluster_name"])
    principal = config["principal_arn"]
    _check_principal(ctx, principal)
    return {
        "id": f"{config['cluster_name']}:{principal}",
        "access_entry_arn": f"{cluster['arn'].replace(':cluster/', ':access-entry/')}/{principal.rsplit(':', 1)[-1]}",
        "kubernetes_groups": list(config.get("kubernetes_groups") or []),
        "type": config.get("type", "STANDARD"),
        "user_name": principal,
        "tags_all": ctx.tags(config),
    }


def create_policy_association(ctx: HandlerContext, config: Config) -> Attributes:
    _cluster(ctx, config["cluster_name"])
    return {
        "id": f"{config['cluster_name']}#{config['principal_arn']}#{config['policy_arn']}",
        "access_scope": [dict(block(config, "access_scope") or {})],
    }


def update_record(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    return {**attributes, "tags_all": ctx.tags(new)}


def forget(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    """Nothing outside the state holds an access entry in the emulator."""


HANDLERS = [
    Handler(
        "aws_eks_access_entry",
        create=create_access_entry,
        update=update_record,
        delete=forget,
        exports=frozenset({"access_entry_arn", "kubernetes_groups", "type", "user_name"}),
    ),
    Handler(
        "aws_eks_access_policy_association",
        create=create_policy_association,
        delete=forget,
        exports=frozenset({"access_scope"}),
    ),
]


def read_session_context(ctx: HandlerContext, config: Config) -> Attributes:
    arn = config["arn"]
    assumed = _ASSUMED_ROLE.match(arn)
    if assumed is None:  # a user or a role ARN is its own issuer
        return {
            "id": arn,
            "arn": arn,
            "issuer_arn": arn,
            "issuer_name": arn.rsplit("/", 1)[-1],
            "session_name": "",
        }
    role = ctx.client("iam").get_role(RoleName=assumed["role"])["Role"]
    return {
        "id": arn,
        "arn": arn,
        "issuer_arn": role["Arn"],
        "issuer_id": role["RoleId"],
        "issuer_name": role["RoleName"],
        "session_name": assumed["session"],
    }


def read_eks_cluster(ctx: HandlerContext, config: Config) -> Attributes:
    return _cluster_attributes(ctx, _cluster(ctx, config["name"]), {})


def read_iam_role(ctx: HandlerContext, config: Config) -> Attributes:
    role = ctx.client("iam").get_role(RoleName=config["name"])["Role"]
    return {
        "id": role["RoleName"],
        "name": role["RoleName"],
        "arn": role["Arn"],
        "unique_id": role["RoleId"],
        "permissions_boundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", ""),
    }


def read_ecr_repository(ctx: HandlerContext, config: Config) -> Attributes:
    repository = ctx.client("ecr").describe_repositories(repositoryNames=[config["name"]])["repositories"][0]
    return {
        "id": repository["repositoryName"],
        "name": repository["repositoryName"],
        "arn": repository["repositoryArn"],
        "registry_id": repository["registryId"],
        "repository_url": repository["repositoryUri"],
    }


DATA_SOURCES = {
    handler.type: handler
    for handler in (
        DataSourceHandler(
            "aws_iam_session_context",
            read_session_context,
            frozenset({"id", "arn", "issuer_arn", "issuer_id", "issuer_name", "session_name"}),
        ),
        DataSourceHandler(
            "aws_eks_cluster",
            read_eks_cluster,
            frozenset(
                {
                    "id",
                    "name",
                    "arn",
                    "endpoint",
                    "version",
                    "identity",
                    "certificate_authority",
                    "vpc_config",
                }
            ),
        ),
        DataSourceHandler(
            "aws_iam_role",
            read_iam_role,
            frozenset({"id", "name", "arn", "unique_id", "permissions_boundary"}),
        ),
        DataSourceHandler(
            "aws_ecr_repository",
            read_ecr_repository,
            frozenset({"id", "name", "arn", "registry_id", "repository_url"}),
        ),
    )
}

__all__ = ["DATA_SOURCES", "HANDLERS"]
