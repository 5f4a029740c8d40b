"""A failed monitoring job reaches people: an EventBridge rule from SageMaker to the ``alerts`` topic.

SageMaker puts a ``SageMaker Processing Job State Change`` event on the account's default bus
whenever a processing job changes status. The rule matches the tenant's own monitoring jobs (names
starting ``<tenant prefix>-monitor-``, EventBridge prefix matching) that ``Failed``, and its target
turns the event into a sentence a person can act on (the job, why it failed, when) on ``alerts``,
the topic people subscribe to.

EventBridge publishes as ``events.amazonaws.com``, which only the topic policy can allow: the
policy keeps SNS's default statement (the owning account's rights) and lets
EventBridge publish for this rule alone (``aws:SourceArn``). The topic is encrypted with the
tenant key, whose policy lets EventBridge use it (:mod:`infra.keys`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.naming import Naming
from infra import actions
from infra.alerting import AlertTopic
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct

EVENTS_PRINCIPAL = "events.amazonaws.com"
PROCESSING_JOB_STATE_CHANGE = "SageMaker Processing Job State Change"
#: the readable message; each ``<name>`` is a path of the event (EventBridge escapes the values)
MESSAGE_PATHS = {
    "job": "$.detail.ProcessingJobName",
    "reason": "$.detail.FailureReason",
    "arn": "$.detail.ProcessingJobArn",
    "time": "$.time",
}


def monitoring_job_prefix(naming: Naming) -> str:
    """The names of the tenant's monitoring jobs start with this."""
    return f"{naming.prefix}-monitor-"


@dataclass(frozen=True, kw_only=True)
class FailedJobAlertProps:
    naming: Naming
    alerts: AlertTopic
    account_id: str


class FailedMonitoringJobAlert(TenantConstruct):
    """The rule, its target on ``alerts``, and the topic policy that lets EventBridge publish."""

    def __init__(self, scope: Scope, construct_id: str, props: FailedJobAlertProps) -> None:
        super().__init__(scope, construct_id)
        self.job_prefix = monitoring_job_prefix(props.naming)
        pattern = {
            "source": ["aws.sagemaker"],
            "detail-type": [PROCESSING_JOB_STATE_CHANGE],
            "detail": {
                "ProcessingJobStatus": ["Failed"],
                "ProcessingJobName": [{"prefix": self.job_prefix}],
            },
        }
        self.rule = Resource(
            self,
            PRIMARY_ID,
            "aws_cloudwatch_event_rule",
            {
                "name": props.naming.name("monitor-job-failed"),
                "description": f"Failed monitoring jobs of tenant {props.naming.tenant} notify alerts",
                "event_pattern": json.dumps(pattern, sort_keys=True),
                "state": "ENABLED",
            },
        )
        tenant = f"{props.naming.tenant} ({props.naming.environment})"
        self.message_template = json.dumps(
            f"tenantml {tenant}: monitoring job <job> failed at <time>: <reason> (job ARN <arn>). "
            "The model's drift and quality were not measured for this window; look at the job's logs."
        )
        self.target = Resource(
            self,
            "Target",
            "aws_cloudwatch_event_target",
            {
                "rule": self.rule.ref("name"),
                "target_id": "alerts",
                "arn": props.alerts.topic_arn,
                "input_transformer": {"input_paths": MESSAGE_PATHS, "input_template": self.message_template},
            },
        )
        topic = props.alerts.topic_arn
        self.topic_policy = Resource(
            self,
            "TopicPolicy",
            "aws_sns_topic_policy",
            {
                "arn": topic,
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                # SNS's default statement, kept as it is: the owning account's
                                # principals and the services acting for it (CloudWatch alarms)
                                "Sid": "AccountOwner",
                                "Effect": "Allow",
                                "Principal": {"AWS": "*"},
                                "Action": sorted(actions.SNS_TOPIC_OWNER),
                                "Resource": topic,
                                "Condition": {"StringEquals": {"AWS:SourceOwner": props.account_id}},
                            },
                            {
                                "Sid": "FailedMonitoringJobs",
                                "Effect": "Allow",
                                "Principal": {"Service": EVENTS_PRINCIPAL},
                                "Action": list(actions.SNS_PUBLISH),
                                "Resource": topic,
                                # this rule only: no other rule (or account) may publish through it
                                "Condition": {"ArnEquals": {"aws:SourceArn": self.rule_arn}},
                            },
                        ],
                    },
                    sort_keys=True,
                ),
            },
        )

    @property
    def rule_arn(self) -> str:
        return self.rule.arn_ref


__all__ = [
    "EVENTS_PRINCIPAL",
    "MESSAGE_PATHS",
    "FailedJobAlertProps",
    "FailedMonitoringJobAlert",
    "monitoring_job_prefix",
]
