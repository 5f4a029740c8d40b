"""Step Functions state machines (the tenant's training pipeline, ``infra/orchestration.py``).

Applied as declared: name, definition, role, type, logging and tracing. moto checks the definition
with its ASL parser when the emulator runs state machines (``stepfunctions: execute_state_machine``).
"""

from __future__ import annotations

from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    changed,
    ignore_missing,
)


def _logging(config: Config) -> dict[str, Any] | None:
    logging = block(config, "logging_configuration")
    if not logging:
        return None
    out: dict[str, Any] = {
        "level": logging.get("level", "OFF"),
        "includeExecutionData": bool(logging.get("include_execution_data", False)),
    }
    if logging.get("log_destination"):
        out["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["log_destination"]}}]
    return out


def _tracing(config: Config) -> dict[str, Any] | None:
    tracing = block(config, "tracing_configuration")
    return {"enabled": bool(tracing.get("enabled", False))} if tracing else None


def create_state_machine(ctx: HandlerContext, config: Config) -> Attributes:
    sfn = ctx.client("stepfunctions")
    kwargs: dict[str, Any] = {
        "name": config["name"],
        "definition": config["definition"],
        "roleArn": config["role_arn"],
        "type": config.get("type", "STANDARD"),
    }
    if (logging := _logging(config)) is not None:
        kwargs["loggingConfiguration"] = logging
    if (tracing := _tracing(config)) is not None:
        kwargs["tracingConfiguration"] = tracing
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    arn = sfn.create_state_machine(**kwargs)["stateMachineArn"]
    return {"id": arn, "arn": arn, "name": config["name"], "tags_all": tags}


def update_state_machine(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    sfn = ctx.client("stepfunctions")
    kwargs: dict[str, Any] = {"stateMachineArn": attributes["arn"]}
    if changed(old, new, "definition"):
        kwargs["definition"] = new["definition"]
    if changed(old, new, "role_arn"):
        kwargs["roleArn"] = new["role_arn"]
    if changed(old, new, "logging_configuration") and (logging := _logging(new)) is not None:
        kwargs["loggingConfiguration"] = logging
    if changed(old, new, "tracing_configuration") and (tracing := _tracing(new)) is not None:
        kwargs["tracingConfiguration"] = tracing
    if len(kwargs) > 1:
        sfn.update_state_machine(**kwargs)
    return attributes


def delete_state_machine(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing():
        ctx.client("stepfunctions").delete_state_machine(stateMachineArn=attributes["arn"])


HANDLERS = (
    Handler(
        "aws_sfn_state_machine",
        create=create_state_machine,
        update=update_state_machine,
        delete=delete_state_machine,
        exports=frozenset({"arn", "name"}),
    ),
)
