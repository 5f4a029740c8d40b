"""Alerts: two encrypted SNS topics, CloudWatch alarms, and the e-mail subscriptions people read.

Model-health alarms (drift, error rate, latency) notify an internal ``alarms`` topic that only the
alarm Lambda subscribes to: the Lambda must act on them (retrain) and turns each transition into an
actionable message (tenant, model, version, drifted features, what the platform did, where the
report is) on the ``alerts`` topic, which is the one people subscribe to.

Alarms on the platform's own failures (a handler erring, events in a dead-letter queue, a pipeline
run crashing) notify ``alerts`` directly: the alarm Lambda has nothing to do about them, and it may
be the very function that is failing, so routing them through it could silence them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct, is_token, snake
from infra.identity import ServiceRole
from infra.keys import TenantKey

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


#: who an alarm's transitions go to: the alarm Lambda (internal ``alarms`` topic) or people (``alerts``)
Audience = Literal["alarm-handler", "people"]

Comparison = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]


@dataclass(frozen=True, kw_only=True)
class AlertTopicProps:
    naming: Naming
    key: TenantKey
    emails: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [e for e in self.emails if not _EMAIL.match(e)]
        problems = [Problem("emails", "not an e-mail address", e) for e in bad]
        if len(set(self.emails)) != len(self.emails):
            problems.append(Problem("emails", "duplicate addresses", list(self.emails)))
        if problems:
            raise ConstructPropsError(problems)


@dataclass(frozen=True, kw_only=True)
class AlarmProps:
    """One CloudWatch alarm; period, statistic and missing-data handling as CloudWatch defines them."""

    component: str
    description: str
    metric_name: str
    threshold: float
    comparison: Comparison = "GreaterThanThreshold"
    #: the tenant's own namespace (core.contract.metrics_namespace) or an AWS one (AWS/Lambda, ...)
    namespace: str
    statistic: str | None = "Maximum"
    extended_statistic: str | None = None
    period_seconds: int = 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = "notBreaching"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    #: "alarm-handler" for what the alarm Lambda acts on; "people" for failures nobody but a person can fix
    notify: Audience = "alarm-handler"

    def __post_init__(self) -> None:
        problems = []
        if (self.statistic is None) == (self.extended_statistic is None):
            problems.append(
                Problem(f"{self.component}.statistic", "set exactly one of statistic and extended_statistic")
            )
        if self.period_seconds not in (10, 30) and (self.period_seconds <= 0 or self.period_seconds % 60):
            problems.append(
                Problem(
                    f"{self.component}.period_seconds",
                    "must be 10, 30 or a multiple of 60",
                    self.period_seconds,
                )
            )
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            problems.append(
                Problem(
                    f"{self.component}.datapoints_to_alarm",
                    "must be between 1 and evaluation_periods",
                    self.datapoints_to_alarm,
                )
            )
        if problems:
            raise ConstructPropsError(problems)


class AlertTopic(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: AlertTopicProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.topic_name = props.naming.name("alerts", "topic")
        self.topic = Resource(
            self,
            PRIMARY_ID,
            "aws_sns_topic",
            {"name": self.topic_name, "kms_master_key_id": props.key.key_arn},
        )
        for i, email in enumerate(props.emails):
            Resource(
                self,
                f"Email{i}",
                "aws_sns_topic_subscription",
                {"topic_arn": self.topic_arn, "protocol": "email", "endpoint": email},
            )
        # internal: alarm state changes for the alarm Lambda, never for people
        self.alarms_topic_name = props.naming.name("alarms", "topic")
        self.alarms_topic = Resource(
            self,
            "Alarms",
            "aws_sns_topic",
            {"name": self.alarms_topic_name, "kms_master_key_id": props.key.key_arn},
        )
        self.alarms: dict[str, Resource] = {}

    @property
    def topic_arn(self) -> str:
        """The ``alerts`` topic: actionable messages for people (e-mail) and other subscribers."""
        return self.topic.arn_ref

    @property
    def alarms_topic_arn(self) -> str:
        """The internal ``alarms`` topic every alarm notifies (ALARM and OK transitions)."""
        return self.alarms_topic.arn_ref

    def grant_publish(self, role: ServiceRole) -> None:
        role.grant("PublishAlerts", actions.SNS_PUBLISH, [self.topic_arn])
        self.props.key.grant_encrypt_decrypt(role)

    def grant_read_alarms(self, role: ServiceRole) -> None:
        """Describe the tenant's alarms (their names share the tenant's prefix), not the account's."""
        pattern = self.props.naming.arn_pattern("cloudwatch", f"alarm:{self.props.naming.prefix}-*")
        role.grant("DescribeAlarms", actions.CLOUDWATCH_DESCRIBE_ALARMS, [pattern])

    def add_alarm(self, props: AlarmProps) -> Resource:
        """A CloudWatch alarm whose ALARM and OK transitions notify the topic of ``props.notify``."""
        name = self.props.naming.name(props.component, "alarm")
        dims = {k: v for k, v in props.dimensions.items()}
        bad = [k for k, v in dims.items() if not v and not is_token(v)]
        if bad:
            raise ConstructPropsError(
                [Problem(f"{props.component}.dimensions", "dimension values must not be empty", bad)]
            )
        target = self.topic_arn if props.notify == "people" else self.alarms_topic_arn
        alarm = Resource(
            self,
            f"Alarm{snake(props.component).title().replace('_', '')}",
            "aws_cloudwatch_metric_alarm",
            {
                "alarm_name": name,
                "alarm_description": props.description,
                "namespace": props.namespace,
                "metric_name": props.metric_name,
                "dimensions": dims or None,
                "statistic": props.statistic,
                "extended_statistic": props.extended_statistic,
                "period": props.period_seconds,
                "evaluation_periods": props.evaluation_periods,
                "datapoints_to_alarm": props.datapoints_to_alarm,
                "threshold": props.threshold,
                "comparison_operator": props.comparison,
                "treat_missing_data": props.treat_missing_data,
                "alarm_actions": [target],
                "ok_actions": [target],
            },
        )
        self.alarms[props.component] = alarm
        return alarm


def grant_put_metrics(role: ServiceRole, namespace: str) -> None:
    """PutMetricData has no resource-level permissions; scope it to our namespace instead."""
    role.grant(
        "PutTenantMetrics",
        actions.CLOUDWATCH_PUT_METRICS,
        ["*"],
        StringEquals={"cloudwatch:namespace": namespace},
    )
