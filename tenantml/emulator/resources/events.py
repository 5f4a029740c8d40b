"""EventBridge rules and targets (``aws_cloudwatch_event_rule``, ``aws_cloudwatch_event_target``).

Applied to moto's EventBridge, whose router the emulator extends to SNS, Lambda and Step Functions
targets (:mod:`tenantml.emulator.eventbridge`). ``PutRule`` checks the event pattern as the API
does (valid JSON, every leaf an array or an object, no empty arrays), so a bad pattern fails the
apply with ``InvalidEventPatternException`` and nothing is created. A rule and a target are each
one ``Put*`` call, which also updates them in place; the provider's ids are ``<rule>`` and
``<rule>-<target_id>`` on the default bus, prefixed with ``<bus>/`` and ``<bus>-`` on another.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from core.errors import EmulatorApplyError
from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    Observed,
    block,
    error_code,
    ignore_missing,
    sync_tags,
    unique_name,
)

DEFAULT_BUS = "default"
#: codes meaning the rule (or its bus) does not exist
_MISSING = ("ResourceNotFoundException",)


def _bus(config: Config) -> str:
    return str(config.get("event_bus_name") or DEFAULT_BUS)


def _bus_kwargs(config: Config) -> dict[str, str]:
    bus = _bus(config)
    return {} if bus == DEFAULT_BUS else {"EventBusName": bus}


def rule_state(config: Config) -> str:
    """``state`` wins; otherwise the deprecated ``is_enabled`` (default true), as the provider reads them."""
    if config.get("state"):
        return str(config["state"])
    return "DISABLED" if config.get("is_enabled") in (False, "false") else "ENABLED"


def _rule_id(bus: str, name: str) -> str:
    return name if bus == DEFAULT_BUS else f"{bus}/{name}"


def _put_rule(ctx: HandlerContext, name: str, config: Config, *, tags: dict[str, str] | None) -> str:
    kwargs: dict[str, Any] = {"Name": name, "State": rule_state(config), **_bus_kwargs(config)}
    for arg, api in (
        ("event_pattern", "EventPattern"),
        ("schedule_expression", "ScheduleExpression"),
        ("description", "Description"),
        ("role_arn", "RoleArn"),
    ):
        if config.get(arg):
            kwargs[api] = str(config[arg])
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return str(ctx.client("events").put_rule(**kwargs)["RuleArn"])


def _rule_attributes(ctx: HandlerContext, config: Config, name: str, arn: str) -> Attributes:
    return {"id": _rule_id(_bus(config), name), "arn": arn, "name": name, "tags_all": ctx.tags(config)}


def create_rule(ctx: HandlerContext, config: Config) -> Attributes:
    if not config.get("event_pattern") and not config.get("schedule_expression"):
        raise EmulatorApplyError("set event_pattern or schedule_expression (a rule needs at least one)")
    name = unique_name(config)
    arn = _put_rule(ctx, name, config, tags=ctx.tags(config))
    return _rule_attributes(ctx, config, name, arn)


def update_rule(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    events = ctx.client("events")
    name, arn = attributes["name"], attributes["arn"]
    # PutRule on an existing name replaces its settings and keeps its targets (and its tags)
    _put_rule(ctx, name, new, tags=None)
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: events.tag_resource(
            ResourceARN=arn, Tags=[{"Key": k, "Value": str(v)} for k, v in t.items()]
        ),
        untag=lambda keys: events.untag_resource(ResourceARN=arn, TagKeys=keys),
    )
    return _rule_attributes(ctx, new, name, arn)


def delete_rule(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("events").delete_rule(Name=attributes["name"], **_bus_kwargs(config))


def _same_pattern(observed: str | None, configured: Any) -> Any:
    """The configured text when both parse to the same pattern (whitespace is no change)."""
    try:
        if observed is not None and json.loads(observed) == json.loads(str(configured)):
            return configured
    except (TypeError, ValueError):
        pass
    return observed


def read_rule(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    name = attributes.get("name") or config.get("name")
    if not name:
        return None  # a name_prefix rule whose create was never recorded cannot be found
    try:
        found = ctx.client("events").describe_rule(Name=name, **_bus_kwargs(config))
    except ClientError as err:
        if error_code(err) in _MISSING:
            return None
        raise
    observed = {
        "event_pattern": _same_pattern(found.get("EventPattern"), config.get("event_pattern")),
        "schedule_expression": found.get("ScheduleExpression"),
        "description": found.get("Description"),
        "role_arn": found.get("RoleArn"),
    }
    seen = {k: v for k, v in observed.items() if k in config and config[k] is not None}
    if config.get("state") is not None:
        seen["state"] = found.get("State")
    return Observed(_rule_attributes(ctx, config, name, found["Arn"]), seen)


# --- targets --------------------------------------------------------------------------------


def _target_id(config: Config, attributes: Attributes | None = None) -> str:
    if attributes and attributes.get("target_id"):
        return str(attributes["target_id"])
    # the provider names an unnamed target itself (a unique id, kept in the state)
    return str(config.get("target_id") or f"terraform-{uuid.uuid4().hex[:20]}")


def target_api(config: Config, target_id: str) -> dict[str, Any]:
    """The provider's target arguments as one ``PutTargets`` entry."""
    given = [a for a in ("input", "input_path", "input_transformer") if config.get(a)]
    if len(given) > 1:
        raise EmulatorApplyError(f"{' and '.join(given)} conflict: a target takes at most one of them")
    target: dict[str, Any] = {"Id": target_id, "Arn": str(config["arn"])}
    if config.get("role_arn"):
        target["RoleArn"] = str(config["role_arn"])
    if config.get("input"):
        try:
            json.loads(str(config["input"]))
        except ValueError as err:
            raise EmulatorApplyError(f"input is not valid JSON: {err}") from err
        target["Input"] = str(config["input"])
    if config.get("input_path"):
        target["InputPath"] = str(config["input_path"])
    transformer = block(config, "input_transformer")
    if transformer is not None:
        if not transformer.get("input_template"):
            raise EmulatorApplyError("input_transformer.input_template is required")
        target["InputTransformer"] = {
            "InputPathsMap": dict(transformer.get("input_paths") or {}),
            "InputTemplate": str(transformer["input_template"]),
        }
    dead_letters = block(config, "dead_letter_config")
    if dead_letters and dead_letters.get("arn"):
        target["DeadLetterConfig"] = {"Arn": str(dead_letters["arn"])}
    retry = block(config, "retry_policy")
    if retry is not None:
        policy: dict[str, int] = {}
        if retry.get("maximum_event_age_in_seconds") is not None:
            policy["MaximumEventAgeInSeconds"] = int(retry["maximum_event_age_in_seconds"])
        if retry.get("maximum_retry_attempts") is not None:
            policy["MaximumRetryAttempts"] = int(retry["maximum_retry_attempts"])
        target["RetryPolicy"] = policy
    return target


def _target_attributes(config: Config, target_id: str) -> Attributes:
    bus = _bus(config)
    prefix = "" if bus == DEFAULT_BUS else f"{bus}-"
    return {"id": f"{prefix}{config['rule']}-{target_id}", "target_id": target_id}


def _put_target(ctx: HandlerContext, config: Config, target_id: str) -> Attributes:
    entry = target_api(config, target_id)
    answer = ctx.client("events").put_targets(
        Rule=str(config["rule"]), Targets=[entry], **_bus_kwargs(config)
    )
    if answer.get("FailedEntryCount"):
        failed = answer["FailedEntries"][0]
        raise EmulatorApplyError(f"PutTargets refused target {target_id}: {failed.get('ErrorMessage')}")
    return _target_attributes(config, target_id)


def create_target(ctx: HandlerContext, config: Config) -> Attributes:
    return _put_target(ctx, config, _target_id(config))


def update_target(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    # PutTargets with the same id replaces the target (rule and target_id force a new one)
    return _put_target(ctx, new, _target_id(new, attributes))


def delete_target(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing(*_MISSING):
        ctx.client("events").remove_targets(
            Rule=str(config["rule"]), Ids=[_target_id(config, attributes)], **_bus_kwargs(config)
        )


def read_target(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    target_id = attributes.get("target_id") or config.get("target_id")
    if not target_id:
        return None  # an unnamed target whose create was never recorded cannot be found
    events = ctx.client("events")
    try:
        events.describe_rule(Name=str(config["rule"]), **_bus_kwargs(config))
        targets = events.list_targets_by_rule(Rule=str(config["rule"]), **_bus_kwargs(config))["Targets"]
    except ClientError as err:
        if error_code(err) in _MISSING:
            return None
        raise
    found = next((t for t in targets if t["Id"] == target_id), None)
    if found is None:
        return None
    observed = {"arn": found.get("Arn"), "role_arn": found.get("RoleArn"), "input": found.get("Input")}
    seen = {k: v for k, v in observed.items() if k in config and config[k] is not None}
    return Observed(_target_attributes(config, str(target_id)), seen)


HANDLERS = [
    Handler(
        "aws_cloudwatch_event_rule",
        create=create_rule,
        update=update_rule,
        delete=delete_rule,
        read=read_rule,
        exports=frozenset({"arn", "name"}),
    ),
    Handler(
        "aws_cloudwatch_event_target",
        create=create_target,
        update=update_target,
        delete=delete_target,
        read=read_target,
        exports=frozenset({"target_id"}),
    ),
]

__all__ = ["DEFAULT_BUS", "HANDLERS", "rule_state", "target_api"]
