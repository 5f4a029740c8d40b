"""A failed processing job outside the pipeline reaches people: EventBridge rules from SageMaker to ``alerts``.

The pipeline's own jobs alert through its state machine; the monitoring jobs (started by the
``monitor`` function) and the feature store's ``features`` jobs (started by data arrival and the
schedule) have no such path. SageMaker puts a ``SageMaker Processing Job State Change`` event on the
account's default bus whenever a processing job changes status. One rule per kind matches the
tenant's own jobs of that kind (names starting ``<tenant prefix>-monitor-`` or
``<tenant prefix>-features-``, EventBridge prefix matching) that ``Failed``, and its target turns
the event into a sentence a person can act on (the job, why it failed, when, what it means) on
``alerts``, the topic people subscribe to.

EventBridge publishes as ``events.amazonaws.com``, which only the topic policy can allow: the
policy keeps SNS's default statement (the owning account's rights) and lets EventBridge publish for
these rules alone (``aws:SourceArn``). The topic is encrypted with the tenant key, whose policy lets
EventBridge use it (:mod:`infra.keys`).
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


def features_job_prefix(naming: Naming) -> str:
    """The names of the tenant's feature store jobs start with this (``pipelines.features.job_request``)."""
    return f"{naming.prefix}-features-"


@dataclass(frozen=True, kw_only=True)
class FailedJobAlertProps:
    naming: Naming
    alerts: AlertTopic
    account_id: str
    #: the tenant has feature views: its ``features`` jobs alert too
    features: bool = False


class FailedJobAlerts(TenantConstruct):
    """A rule and its target on ``alerts`` per job kind, and the topic policy that lets EventBridge publish."""

    def __init__(self, scope: Scope, construct_id: str, props: FailedJobAlertProps) -> None:
        super().__init__(scope, construct_id)
        tenant = f"{props.naming.tenant} ({props.naming.environment})"
        self.job_prefix = monitoring_job_prefix(props.naming)
        # the monitoring rule keeps the construct's primary ids: its Terraform addresses predate the others
        self.message_template = json.dumps(
            f"tenantml {tenant}: monitoring job <job> failed at <time>: <reason> (job ARN <arn>). "
            "The model's drift and quality were not measured for this window; look at the job's logs."
        )
        self.rule, self.target = self._rule_and_target(
            (PRIMARY_ID, "Target"),
            props,
            prefix=self.job_prefix,
            name="monitor-job-failed",
            description=f"Failed monitoring jobs of tenant {props.naming.tenant} notify alerts",
            template=self.message_template,
        )
        rules = [self.rule]
        if props.features:
            self.features_rule, self.features_target = self._rule_and_target(
                ("FeaturesRule", "FeaturesTarget"),
                props,
                prefix=features_job_prefix(props.naming),
                name="features-job-failed",
                description=f"Failed feature store jobs of tenant {props.naming.tenant} notify alerts",
                template=json.dumps(
                    f"tenantml {tenant}: features job <job> failed at <time>: <reason> (job ARN <arn>). "
                    "Nothing it would have written reached the offline or online store: fix what the reason "
                    "names and land the file again (a scheduled materialization retries on its next tick)."
                ),
            )
            rules.append(self.features_rule)
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
                                # these rules only: no other rule (or account) may publish through it
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": rules[0].arn_ref
                                        if len(rules) == 1
                                        else [rule.arn_ref for rule in rules]
                                    }
                                },
                            },
                        ],
                    },
                    sort_keys=True,
                ),
            },
        )

    def _rule_and_target(
        self,
        ids: tuple[str, str],
        props: FailedJobAlertProps,
        *,
        prefix: str,
        name: str,
        description: str,
        template: str,
    ) -> tuple[Resource, Resource]:
        pattern = {
            "source": ["aws.sagemaker"],
            "detail-type": [PROCESSING_JOB_STATE_CHANGE],
            "detail": {"ProcessingJobStatus": ["Failed"], "ProcessingJobName": [{"prefix": prefix}]},
        }
        rule = Resource(
            self,
            ids[0],
            "aws_cloudwatch_event_rule",
            {
                "name": props.naming.name(name),
                "description": description,
                "event_pattern": json.dumps(pattern, sort_keys=True),
                "state": "ENABLED",
            },
        )
        target = Resource(
            self,
            ids[1],
            "aws_cloudwatch_event_target",
            {
                "rule": rule.ref("name"),
                "target_id": "alerts",
                "arn": props.alerts.topic_arn,
                "input_transformer": {"input_paths": MESSAGE_PATHS, "input_template": template},
            },
        )
        return rule, target

    @property
    def rule_arn(self) -> str:
        return self.rule.arn_ref


__all__ = [
    "EVENTS_PRINCIPAL",
    "MESSAGE_PATHS",
    "FailedJobAlertProps",
    "FailedJobAlerts",
    "features_job_prefix",
    "monitoring_job_prefix",
]
