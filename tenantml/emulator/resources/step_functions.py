"""Step Functions state machines (``aws_sfn_state_machine``), applied to the emulator's Step Functions.

The emulator runs state machines with moto's interpreter (:mod:`tenantml.emulator.stepfunctions`),
whose ``CreateStateMachine``/``UpdateStateMachine`` parse the definition first: a definition the
parser rejects fails the apply with AWS's ``InvalidDefinition`` and the parser's message, and
nothing is created. ``name``, ``name_prefix`` and ``type`` force a new machine (the provider marks
them ForceNew); everything else is ``UpdateStateMachine`` plus tag calls.
"""

from __future__ import annotations

from typing import Any

from core.errors import EmulatorApplyError
from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    changed,
    ignore_missing,
    sync_tags,
    unique_name,
)

#: the types the interpreter runs like AWS; EXPRESS machines (at-least-once, no execution history,
#: StartSyncExecution) are not modelled
SUPPORTED_TYPES = ("STANDARD",)


def _type(config: Config) -> str:
    return str(config.get("type") or "STANDARD").upper()


def logging_configuration(config: Config) -> dict[str, Any] | None:
    """The provider's ``logging_configuration`` block as the API's ``loggingConfiguration``."""
    settings = block(config, "logging_configuration")
    if settings is None:
        return None
    api: dict[str, Any] = {
        "level": settings.get("level") or "OFF",
        "includeExecutionData": bool(settings.get("include_execution_data", False)),
    }
    if settings.get("log_destination"):
        api["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": settings["log_destination"]}}]
    return api


def tracing_configuration(config: Config) -> dict[str, Any] | None:
    settings = block(config, "tracing_configuration")
    return None if settings is None else {"enabled": bool(settings.get("enabled", False))}


def encryption_configuration(config: Config) -> dict[str, Any] | None:
    settings = block(config, "encryption_configuration")
    if settings is None:
        return None
    api: dict[str, Any] = {"type": settings.get("type") or "AWS_OWNED_KEY"}
    if settings.get("kms_key_id"):
        api["kmsKeyId"] = settings["kms_key_id"]
    if settings.get("kms_data_key_reuse_period_seconds"):
        api["kmsDataKeyReusePeriodSeconds"] = int(settings["kms_data_key_reuse_period_seconds"])
    return api


def machine_attributes(ctx: HandlerContext, described: dict[str, Any], config: Config) -> Attributes:
    """What the provider exports, from a ``DescribeStateMachine`` answer."""
    created = described.get("creationDate")
    return {
        "id": described["stateMachineArn"],
        "arn": described["stateMachineArn"],
        "name": described["name"],
        "status": described.get("status", "ACTIVE"),
        "creation_date": created.isoformat() if hasattr(created, "isoformat") else created,
        "revision_id": described.get("revisionId") or "",
        "state_machine_version_arn": "",
        "description": described.get("description") or "",
        "tags_all": ctx.tags(config),
    }


def create_machine(ctx: HandlerContext, config: Config) -> Attributes:
    machine_type = _type(config)
    if machine_type not in SUPPORTED_TYPES:
        raise EmulatorApplyError(
            f"type = {machine_type!r}: the emulator runs only STANDARD state machines (EXPRESS machines "
            'have different execution semantics it does not model); use type = "STANDARD"'
        )
    sfn = ctx.client("stepfunctions")
    kwargs: dict[str, Any] = {
        "name": unique_name(config),
        "definition": config["definition"],
        "roleArn": config["role_arn"],
        "type": machine_type,
    }
    for key, value in (
        ("loggingConfiguration", logging_configuration(config)),
        ("tracingConfiguration", tracing_configuration(config)),
        ("encryptionConfiguration", encryption_configuration(config)),
    ):
        if value is not None:
            kwargs[key] = value
    if config.get("publish"):
        kwargs["publish"] = True
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = [{"key": k, "value": str(v)} for k, v in tags.items()]
    arn = sfn.create_state_machine(**kwargs)["stateMachineArn"]
    return machine_attributes(ctx, sfn.describe_state_machine(stateMachineArn=arn), config)


def update_machine(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sfn = ctx.client("stepfunctions")
    arn = attributes["arn"]
    kwargs: dict[str, Any] = {}
    if changed(old, new, "definition"):
        kwargs["definition"] = new["definition"]
    if changed(old, new, "role_arn"):
        kwargs["roleArn"] = new["role_arn"]
    for name, api, convert in (
        ("logging_configuration", "loggingConfiguration", logging_configuration),
        ("tracing_configuration", "tracingConfiguration", tracing_configuration),
        ("encryption_configuration", "encryptionConfiguration", encryption_configuration),
    ):
        if convert(old) != convert(new):
            kwargs[api] = convert(new) or _OFF[api]
    if kwargs:
        sfn.update_state_machine(stateMachineArn=arn, **kwargs)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: sfn.tag_resource(
            resourceArn=arn, tags=[{"key": k, "value": str(v)} for k, v in t.items()]
        ),
        untag=lambda keys: sfn.untag_resource(resourceArn=arn, tagKeys=keys),
    )
    return machine_attributes(ctx, sfn.describe_state_machine(stateMachineArn=arn), new)


#: what a removed block goes back to (the provider sends the defaults)
_OFF: dict[str, dict[str, Any]] = {
    "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
    "tracingConfiguration": {"enabled": False},
    "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
}


def delete_machine(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("StateMachineDoesNotExist", "ResourceNotFound"):
        ctx.client("stepfunctions").delete_state_machine(stateMachineArn=attributes["arn"])


HANDLERS = [
    Handler(
        "aws_sfn_state_machine",
        create=create_machine,
        update=update_machine,
        delete=delete_machine,
        exports=frozenset(
            {
                "arn",
                "name",
                "status",
                "creation_date",
                "revision_id",
                "state_machine_version_arn",
                "description",
            }
        ),
        volatile=frozenset({"revision_id", "state_machine_version_arn"}),
    ),
]

__all__ = ["HANDLERS", "SUPPORTED_TYPES", "machine_attributes"]
