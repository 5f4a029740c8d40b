"""SNS topic policies (``aws_sns_topic_policy``): the topic's ``Policy`` attribute as its own resource.

Destroying one puts back SNS's default policy (the owning account's rights), as the provider does.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    Observed,
    error_code,
    ignore_missing,
)

_OWNER_ACTIONS = [
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
]


def default_policy(topic_arn: str) -> str:
    """The policy SNS gives a new topic."""
    account = topic_arn.split(":")[4]
    statement = {
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": _OWNER_ACTIONS,
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
    }
    return json.dumps({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [statement]})


def _set(ctx: HandlerContext, config: Config) -> Attributes:
    policy = config["policy"]
    text = policy if isinstance(policy, str) else json.dumps(policy)
    arn = str(config["arn"])
    ctx.client("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=text)
    return {"id": arn, "owner": arn.split(":")[4]}


def update_policy(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    return _set(ctx, new)


def delete_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    arn = str(attributes.get("id") or config["arn"])
    with ignore_missing("NotFound", "NotFoundException"):
        ctx.client("sns").set_topic_attributes(
            TopicArn=arn, AttributeName="Policy", AttributeValue=default_policy(arn)
        )


def _same(observed: Any, configured: Any) -> Any:
    try:
        if json.loads(observed) == json.loads(
            configured if isinstance(configured, str) else json.dumps(configured)
        ):
            return configured
    except (TypeError, ValueError):
        pass
    return observed


def read_policy(ctx: HandlerContext, config: Config, attributes: Attributes) -> Observed | None:
    arn = str(attributes.get("id") or config["arn"])
    try:
        found = ctx.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
    except ClientError as err:
        if error_code(err) in ("NotFound", "NotFoundException"):
            return None
        raise
    return Observed(
        {"id": arn, "owner": arn.split(":")[4]}, {"policy": _same(found.get("Policy"), config.get("policy"))}
    )


HANDLERS = [
    Handler(
        "aws_sns_topic_policy",
        create=_set,
        update=update_policy,
        delete=delete_policy,
        read=read_policy,
        exports=frozenset({"owner"}),
    ),
]

__all__ = ["HANDLERS", "default_policy"]
