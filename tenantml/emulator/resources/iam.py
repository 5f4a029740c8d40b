"""IAM: roles, service-linked roles, inline and managed policies, attachments, instance profiles, OIDC providers."""

from __future__ import annotations

import json
from typing import Any

from tenantml.emulator import moto_internals
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


def _policy_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- roles ----------------------------------------------------------------------------------


def create_role(ctx: HandlerContext, config: Config) -> Attributes:
    iam = ctx.client("iam")
    name = unique_name(config)
    kwargs: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": _policy_text(config["assume_role_policy"]),
        "Path": config.get("path", "/"),
        "MaxSessionDuration": int(config.get("max_session_duration", 3600)),
    }
    if config.get("description"):
        kwargs["Description"] = config["description"]
    if config.get("permissions_boundary"):
        kwargs["PermissionsBoundary"] = config["permissions_boundary"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    role = iam.create_role(**kwargs)["Role"]
    with undo_on_error(lambda: iam.delete_role(RoleName=name)):
        # deprecated inline_policy blocks and managed_policy_arns, for completeness
        for inline in config.get("inline_policy") or []:
            if inline.get("name") and inline.get("policy"):
                iam.put_role_policy(
                    RoleName=name, PolicyName=inline["name"], PolicyDocument=_policy_text(inline["policy"])
                )
        for arn in config.get("managed_policy_arns") or []:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return {
        "id": name,
        "name": name,
        "arn": role["Arn"],
        "unique_id": role["RoleId"],
        "create_date": _iso(role["CreateDate"]),
        "tags_all": tags,
    }


def update_role(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    iam = ctx.client("iam")
    name = attributes["name"]
    if changed(old, new, "assume_role_policy"):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=_policy_text(new["assume_role_policy"]))
    if changed(old, new, "description", "max_session_duration"):
        iam.update_role(
            RoleName=name,
            Description=new.get("description") or "",
            MaxSessionDuration=int(new.get("max_session_duration", 3600)),
        )
    if changed(old, new, "permissions_boundary"):
        if new.get("permissions_boundary"):
            iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=new["permissions_boundary"])
        else:
            iam.delete_role_permissions_boundary(RoleName=name)
    if changed(old, new, "managed_policy_arns"):
        for arn in set(old.get("managed_policy_arns") or []) - set(new.get("managed_policy_arns") or []):
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for arn in set(new.get("managed_policy_arns") or []) - set(old.get("managed_policy_arns") or []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: iam.tag_role(RoleName=name, Tags=tag_list(t)),
        untag=lambda keys: iam.untag_role(RoleName=name, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_role(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    # AWS refuses to delete a role that still has policies or instance profiles. Their own
    # resources are destroyed first (reverse dependency order); whatever is left was added
    # outside the stack, and the emulator removes it so that nothing is left behind.
    iam = ctx.client("iam")
    name = attributes["name"]
    with ignore_missing("NoSuchEntity"):
        for policy in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        for profile in iam.list_instance_profiles_for_role(RoleName=name).get("InstanceProfiles", []):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
        iam.delete_role(RoleName=name)


# --- inline role policies -------------------------------------------------------------------


def put_role_policy(ctx: HandlerContext, config: Config) -> Attributes:
    name = unique_name(config, "name", "name_prefix")
    ctx.client("iam").put_role_policy(
        RoleName=config["role"], PolicyName=name, PolicyDocument=_policy_text(config["policy"])
    )
    return {"id": f"{config['role']}:{name}", "name": name}


def update_role_policy(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    ctx.client("iam").put_role_policy(
        RoleName=new["role"], PolicyName=attributes["name"], PolicyDocument=_policy_text(new["policy"])
    )
    return attributes


def delete_role_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NoSuchEntity"):
        ctx.client("iam").delete_role_policy(RoleName=config["role"], PolicyName=attributes["name"])


# --- managed policies -----------------------------------------------------------------------


def create_policy(ctx: HandlerContext, config: Config) -> Attributes:
    iam = ctx.client("iam")
    name = unique_name(config)
    kwargs: dict[str, Any] = {
        "PolicyName": name,
        "PolicyDocument": _policy_text(config["policy"]),
        "Path": config.get("path", "/"),
    }
    if config.get("description"):
        kwargs["Description"] = config["description"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    policy = iam.create_policy(**kwargs)["Policy"]
    return {
        "id": policy["Arn"],
        "arn": policy["Arn"],
        "name": name,
        "policy_id": policy["PolicyId"],
        "attachment_count": 0,
        "tags_all": tags,
    }


def update_policy(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    iam = ctx.client("iam")
    arn = attributes["arn"]
    if changed(old, new, "policy"):
        # AWS keeps at most five versions: drop the oldest non-default one first, like the provider
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        stale = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        if len(versions) >= 5 and stale:
            iam.delete_policy_version(PolicyArn=arn, VersionId=stale[0]["VersionId"])
        iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=_policy_text(new["policy"]), SetAsDefault=True
        )
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: iam.tag_policy(PolicyArn=arn, Tags=tag_list(t)),
        untag=lambda keys: iam.untag_policy(PolicyArn=arn, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    iam = ctx.client("iam")
    arn = attributes["arn"]
    with ignore_missing("NoSuchEntity"):
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=arn)


# --- attachments ----------------------------------------------------------------------------


def attach_role_policy(ctx: HandlerContext, config: Config) -> Attributes:
    moto_internals.ensure_aws_managed_policy(ctx.session.endpoint, ctx.account_id, config["policy_arn"])
    ctx.client("iam").attach_role_policy(RoleName=config["role"], PolicyArn=config["policy_arn"])
    return {"id": f"{config['role']}/{config['policy_arn']}"}


def detach_role_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NoSuchEntity"):
        ctx.client("iam").detach_role_policy(RoleName=config["role"], PolicyArn=config["policy_arn"])


# --- instance profiles ----------------------------------------------------------------------


def create_instance_profile(ctx: HandlerContext, config: Config) -> Attributes:
    iam = ctx.client("iam")
    name = unique_name(config)
    kwargs: dict[str, Any] = {"InstanceProfileName": name, "Path": config.get("path", "/")}
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    profile = iam.create_instance_profile(**kwargs)["InstanceProfile"]
    with undo_on_error(lambda: iam.delete_instance_profile(InstanceProfileName=name)):
        if config.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=config["role"])
    return {
        "id": name,
        "name": name,
        "arn": profile["Arn"],
        "unique_id": profile["InstanceProfileId"],
        "create_date": _iso(profile["CreateDate"]),
        "tags_all": tags,
    }


def update_instance_profile(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    iam = ctx.client("iam")
    name = attributes["name"]
    if changed(old, new, "role"):
        if old.get("role"):
            with ignore_missing("NoSuchEntity"):
                iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=old["role"])
        if new.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=new["role"])
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: iam.tag_instance_profile(InstanceProfileName=name, Tags=tag_list(t)),
        untag=lambda keys: iam.untag_instance_profile(InstanceProfileName=name, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_instance_profile(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    iam = ctx.client("iam")
    name = attributes["name"]
    with ignore_missing("NoSuchEntity"):
        for role in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Roles", []):
            iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=name)


# --- OIDC providers (IRSA for EKS) ----------------------------------------------------------


def create_oidc_provider(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {
        "Url": config["url"],
        "ClientIDList": list(config.get("client_id_list") or []),
        # provider 6.x makes thumbprint_list optional (AWS trusts its own CA); moto wants a list
        "ThumbprintList": list(config.get("thumbprint_list") or []),
    }
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    arn = ctx.client("iam").create_open_id_connect_provider(**kwargs)["OpenIDConnectProviderArn"]
    return {"id": arn, "arn": arn, "url": config["url"].removeprefix("https://"), "tags_all": tags}


def update_oidc_provider(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    iam = ctx.client("iam")
    arn = attributes["arn"]
    if changed(old, new, "thumbprint_list"):
        iam.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=arn, ThumbprintList=list(new.get("thumbprint_list") or [])
        )
    old_ids, new_ids = set(old.get("client_id_list") or []), set(new.get("client_id_list") or [])
    for client_id in sorted(new_ids - old_ids):
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=client_id)
    for client_id in sorted(old_ids - new_ids):
        iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=client_id)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=tag_list(t)),
        untag=lambda keys: iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_oidc_provider(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NoSuchEntity"):
        ctx.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=attributes["arn"])


# --- service-linked roles -------------------------------------------------------------------


def create_service_linked_role(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs: dict[str, Any] = {"AWSServiceName": config["aws_service_name"]}
    if config.get("custom_suffix"):
        kwargs["CustomSuffix"] = config["custom_suffix"]
    if config.get("description"):
        kwargs["Description"] = config["description"]
    role = ctx.client("iam").create_service_linked_role(**kwargs)["Role"]
    return {
        "id": role["Arn"],
        "arn": role["Arn"],
        "name": role["RoleName"],
        "path": role["Path"],
        "unique_id": role["RoleId"],
        "create_date": _iso(role["CreateDate"]),
        "tags_all": ctx.tags(config),
    }


def update_service_linked_role(
    ctx: HandlerContext, old: Config, new: Config, attributes: Attributes
) -> Attributes:
    if changed(old, new, "description"):
        ctx.client("iam").update_role_description(
            RoleName=attributes["name"], Description=new.get("description") or ""
        )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_service_linked_role(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("NoSuchEntity"):
        ctx.client("iam").delete_service_linked_role(RoleName=attributes["name"])


HANDLERS = [
    Handler(
        "aws_iam_service_linked_role",
        create=create_service_linked_role,
        update=update_service_linked_role,
        delete=delete_service_linked_role,
        exports=frozenset({"arn", "name", "path", "unique_id", "create_date"}),
    ),
    Handler(
        "aws_iam_role",
        create=create_role,
        update=update_role,
        delete=delete_role,
        exports=frozenset({"arn", "name", "unique_id", "create_date"}),
    ),
    Handler(
        "aws_iam_role_policy",
        create=put_role_policy,
        update=update_role_policy,
        delete=delete_role_policy,
        exports=frozenset({"name"}),
    ),
    Handler(
        "aws_iam_policy",
        create=create_policy,
        update=update_policy,
        delete=delete_policy,
        exports=frozenset({"arn", "name", "policy_id", "attachment_count"}),
    ),
    Handler(
        "aws_iam_role_policy_attachment",
        create=attach_role_policy,
        update=None,
        delete=detach_role_policy,
    ),
    Handler(
        "aws_iam_instance_profile",
        create=create_instance_profile,
        update=update_instance_profile,
        delete=delete_instance_profile,
        exports=frozenset({"arn", "name", "unique_id", "create_date"}),
    ),
    Handler(
        "aws_iam_openid_connect_provider",
        create=create_oidc_provider,
        update=update_oidc_provider,
        delete=delete_oidc_provider,
        exports=frozenset({"arn", "url"}),
    ),
]

__all__ = ["HANDLERS"]
