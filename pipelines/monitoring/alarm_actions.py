"""CloudWatch alarm notifications, and what the platform does about each one.

Alarms notify the tenant's internal ``alarms`` topic; the alarm Lambda parses the notifications
(:func:`alarm_notifications_from_sns`) and hands them to :func:`handle_alarm_notifications`,
which, per state change:

1. claims the transition with a conditional write (``alerts/by-transition/<sha256>.json``,
   ``If-None-Match: *``), so a redelivered SNS message never alerts or retrains twice;
2. for an ALARM on a model-health metric (drift, error rate, p99 latency, live quality) asks for a retrain
   (:func:`pipelines.runs.retraining.request_retrain`, which enforces the cooldown); alarms on the
   platform's own functions (Lambda errors, dead letters) only alert;
3. publishes one actionable message to the ``alerts`` topic (people subscribe there), naming
   where the drift report will be when monitoring snapshots exist;
4. then renders that report, and only then runs the retrain: neither drawing plots nor training
   holds up the alert (a report that fails to render is logged, and the outcome has no URI).

ALARM -> OK transitions get a short "recovered" message; other transitions (INSUFFICIENT_DATA, the first OK
after an alarm is created) are ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from core.contract import LIVE_QUALITY_METRIC, is_platform_namespace

log = logging.getLogger(__name__)

TRANSITION_PREFIX = "alerts/by-transition"
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
#: "... [0.41 (01/12/25 10:00:00)] was greater than ..." -> 0.41
_REASON_VALUE = re.compile(r"\[\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")

AlarmKind = Literal["drift", "error-rate", "latency", "quality", "platform"]
#: model-health alarms a new model can fix; platform alarms (handler errors, dead letters) cannot.
#: live quality below the spec's minimum retrains like drift: on labelled traffic plus the reference
RETRAINING_KINDS: frozenset[str] = frozenset({"drift", "error-rate", "latency", "quality"})
_KIND_BY_METRIC = {
    "DriftScore": "drift",
    "ErrorRate": "error-rate",
    "LatencyMs": "latency",
    LIVE_QUALITY_METRIC: "quality",
}
_METRIC_TITLE = {
    "drift": "feature drift",
    "error-rate": "error rate",
    "latency": "p99 latency",
    "quality": "live model quality",
}


class AlarmDimension(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    value: str


class AlarmTrigger(BaseModel):
    """The ``Trigger`` part of a CloudWatch alarm notification (the metric and its threshold)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    statistic: str | None = Field(default=None, alias="Statistic")
    extended_statistic: str | None = Field(default=None, alias="ExtendedStatistic")
    dimensions: list[AlarmDimension] = Field(default_factory=list, alias="Dimensions")
    threshold: float | None = Field(default=None, alias="Threshold")
    comparison_operator: str | None = Field(default=None, alias="ComparisonOperator")
    period: int | None = Field(default=None, alias="Period")


class AlarmNotification(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    alarm_name: str = Field(alias="AlarmName")
    new_state: str = Field(alias="NewStateValue")
    old_state: str | None = Field(default=None, alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    changed_at: str | None = Field(default=None, alias="StateChangeTime")
    description: str | None = Field(default=None, alias="AlarmDescription")
    alarm_arn: str | None = Field(default=None, alias="AlarmArn")
    trigger: AlarmTrigger = Field(default_factory=AlarmTrigger, alias="Trigger")

    @property
    def metric_name(self) -> str:
        return self.trigger.metric_name or "unknown metric"

    @property
    def kind(self) -> AlarmKind:
        """What the alarm watches; only the tenant's own metrics say anything about the model."""
        if self.trigger.namespace is None or is_platform_namespace(self.trigger.namespace):
            found = _KIND_BY_METRIC.get(self.trigger.metric_name or "")
            if found:
                return found  # type: ignore[return-value]
        return "platform"

    @property
    def title(self) -> str:
        return _METRIC_TITLE.get(self.kind, self.metric_name)

    @property
    def retrains(self) -> bool:
        return self.kind in RETRAINING_KINDS

    def dimension(self, name: str) -> str | None:
        return next((d.value for d in self.trigger.dimensions if d.name == name), None)

    @property
    def value(self) -> float | None:
        """The datapoint that crossed the threshold, as CloudWatch quotes it in the reason."""
        match = _REASON_VALUE.search(self.reason)
        return float(match.group(1)) if match else None

    @property
    def changed_at_time(self) -> datetime | None:
        if not self.changed_at:
            return None
        text = self.changed_at.replace("Z", "+00:00")
        # CloudWatch writes "2025-01-01T10:00:00.000+0000"; fromisoformat wants "+00:00"
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    @property
    def transition_key(self) -> str:
        """Same for every delivery of one state change, different for the next change."""
        identity = f"{self.alarm_arn or self.alarm_name}|{self.new_state}|{self.changed_at or self.reason}"
        return f"{TRANSITION_PREFIX}/{hashlib.sha256(identity.encode('utf-8')).hexdigest()}.json"


def alarm_notifications_from_sns(event: SNSEvent) -> list[AlarmNotification]:
    """The alarm state changes in ``event``; other messages on the topic are skipped."""
    notes = []
    for record in event.records:
        try:
            body = json.loads(record.sns.message)
        except json.JSONDecodeError:
            continue
        if isinstance(body, dict) and "AlarmName" in body and "NewStateValue" in body:
            notes.append(AlarmNotification.model_validate(body))
    return notes


# --- acting on notifications --------------------------------------------------------------------


class AlarmOutcome(BaseModel):
    """What :func:`handle_alarm_notifications` did with one notification."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_name: str
    state: str
    action: Literal["alerted", "duplicate", "ignored"]
    alert_message_id: str | None = None
    retrain: str | None = None
    retrain_run_id: str | None = None
    retrain_status: str | None = None
    report_uri: str | None = None


#: variables :func:`pipelines.runs.config.pipeline_config_from_env` reads; without them a run uses the defaults
_PIPELINE_CONFIG_VARIABLES = ("TENANTML_PIPELINE_CONFIG", "TENANTML_MAX_BYTES", "TENANTML_SERVING_IMAGE_URI")


@dataclass
class AlarmClients:
    """The clients the alarm path uses and hands to a retrain: the attributes of
    :class:`pipelines.runs.pipeline.AwsClients`, made without importing ``pipelines.runs.pipeline``, whose
    scikit-learn, optuna and pandera imports cost a cold alarm Lambda about 2 s before its alert."""

    s3: Any
    sagemaker: Any
    sns: Any

    @classmethod
    def create(cls, *, region: str | None = None) -> AlarmClients:
        import boto3

        kwargs = {"region_name": region} if region else {}
        return cls(
            s3=boto3.client("s3", **kwargs),
            sagemaker=boto3.client("sagemaker", **kwargs),
            sns=boto3.client("sns", **kwargs),
        )


@dataclass
class AlarmContext:
    """What the handler needs from the tenant: resources, model spec, cooldown, clients, executor."""

    resources: Any  # pipelines.runs.resources.TenantResources
    spec: Any  # core.spec.ModelSpec
    cooldown_minutes: int
    clients: Any  # pipelines.runs.pipeline.AwsClients or AlarmClients
    executor: Any = None  # pipelines.training.executors.Executor; made lazily only when a retrain runs
    config: Any = None  # pipelines.runs.pipeline.PipelineConfig; None: the defaults
    environ: Mapping[str, str] | None = None
    #: a retrain trains on the reference plus the labelled traffic of this many past hours
    quality_window_hours: int = 24

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, clients: Any = None, executor: Any = None, config: Any = None
    ) -> AlarmContext:
        """Everything is read and validated here, before any alert; ``pipelines.runs.pipeline`` is imported
        only when pipeline settings are set (the stack sets none: a retrain then uses the defaults)."""
        from pydantic import ValidationError

        from core.errors import Problem, TenantResourcesError
        from core.spec import ModelSpec, MonitoringSpec
        from pipelines.runs.resources import TenantResources

        resources = TenantResources.from_env(environ)
        if not environ.get("TENANTML_MODEL_SPEC"):
            raise TenantResourcesError(
                [
                    Problem(
                        "environment: TENANTML_MODEL_SPEC",
                        "is missing; the tenant stack sets it to the model spec",
                    )
                ]
            )
        try:
            spec = ModelSpec.model_validate_json(environ["TENANTML_MODEL_SPEC"])
        except ValidationError as err:
            raise TenantResourcesError(
                [
                    Problem(
                        f"environment: TENANTML_MODEL_SPEC: {'.'.join(map(str, e['loc'])) or '(top level)'}",
                        e["msg"],
                    )
                    for e in err.errors(include_url=False)
                ],
                headline="TENANTML_MODEL_SPEC is not a valid model spec",
            ) from err
        monitoring = MonitoringSpec()
        if environ.get("TENANTML_MONITORING_SPEC"):
            try:
                monitoring = MonitoringSpec.model_validate_json(environ["TENANTML_MONITORING_SPEC"])
            except ValueError as err:
                raise TenantResourcesError(
                    [
                        Problem(
                            "environment: TENANTML_MONITORING_SPEC", f"is not a valid monitoring spec: {err}"
                        )
                    ]
                ) from err
        if config is None and any(environ.get(name) for name in _PIPELINE_CONFIG_VARIABLES):
            from pipelines.runs.config import pipeline_config_from_env

            config = pipeline_config_from_env(environ)
        return cls(
            resources=resources,
            spec=spec,
            cooldown_minutes=monitoring.retrain_cooldown_minutes,
            clients=clients or AlarmClients.create(region=resources.region),
            executor=executor,
            config=config,
            environ=environ,
            quality_window_hours=monitoring.quality_window_hours,
        )


def handle_alarm_notifications(
    notes: Sequence[AlarmNotification],
    context: AlarmContext,
    *,
    now: datetime | None = None,
) -> list[AlarmOutcome]:
    """Alert (and, for model-health alarms, retrain) once per alarm state change."""
    from pipelines.data.uris import s3_uri
    from pipelines.monitoring.alerts import AlarmAlert, RecoveryAlert
    from pipelines.monitoring.report import (
        NoSnapshotsError,
        drift_report_key,
        latest_snapshot,
        publish_drift_report,
    )
    from pipelines.runs.retraining import RetrainCause, request_retrain

    outcomes: list[AlarmOutcome] = []
    resources, clients, spec = context.resources, context.clients, context.spec
    tenant = resources.tenant or "unknown"
    for note in notes:
        # every alarm leaves INSUFFICIENT_DATA for OK once after it is created: only leaving ALARM is news
        if note.new_state not in ("ALARM", "OK") or (note.new_state == "OK" and note.old_state != "ALARM"):
            outcomes.append(AlarmOutcome(alarm_name=note.alarm_name, state=note.new_state, action="ignored"))
            continue
        if not _claim_transition(clients.s3, resources.artifacts_bucket, note, now or datetime.now(UTC)):
            log.info("duplicate delivery of %s -> %s; already handled", note.alarm_name, note.new_state)
            outcomes.append(
                AlarmOutcome(alarm_name=note.alarm_name, state=note.new_state, action="duplicate")
            )
            continue
        sent = _SentAlerts()
        try:
            version = _serving_version(clients, resources, spec.name, note)
            if note.new_state == "OK":
                recovery = RecoveryAlert(
                    tenant=tenant,
                    model_name=spec.name,
                    version=version,
                    alarm_name=note.alarm_name,
                    metric=note.metric_name,
                    title=note.title,
                    since=note.changed_at,
                )
                message_id = sent.publish(clients.sns, resources.alerts_topic_arn, recovery)
                outcomes.append(
                    AlarmOutcome(
                        alarm_name=note.alarm_name, state="OK", action="alerted", alert_message_id=message_id
                    )
                )
                continue

            snapshot = None
            try:
                snapshot = latest_snapshot(clients.s3, resources.artifacts_bucket, spec.name, version=version)
            except NoSnapshotsError:
                snapshot = None
            # the report is rendered after the alert went out (drawing it takes seconds in a cold
            # Lambda); its key is fixed now so the alert can already say where it will be
            generated_at = now or datetime.now(UTC)
            report_uri = (
                s3_uri(resources.artifacts_bucket, drift_report_key(spec.name, generated_at))
                if snapshot is not None
                else None
            )

            def render_report(
                note: AlarmNotification = note,
                report_uri: str | None = report_uri,
                generated_at: datetime = generated_at,
            ) -> str | None:
                """Store the report the alert names; None (logged) if it could not be made."""
                if report_uri is None:
                    return None
                try:
                    publish_drift_report(
                        clients.s3,
                        resources,
                        spec,
                        tenant=tenant,
                        sagemaker=clients.sagemaker,
                        now=generated_at,
                    )
                except (
                    Exception
                ) as err:  # the alert is out already: a missing report must not fail the retrain
                    log.warning(
                        "drift report %s for %s failed: %s", report_uri, note.alarm_name, err, exc_info=True
                    )
                    return None
                return report_uri

            value = note.value
            if value is None and snapshot is not None:
                value = {
                    "drift": snapshot.drift_score,
                    "error-rate": snapshot.error_rate,
                    "latency": snapshot.latency_p99_ms,
                }.get(note.kind)

            alert = AlarmAlert(
                tenant=tenant,
                model_name=spec.name,
                version=version,
                alarm_name=note.alarm_name,
                kind=note.kind,
                title=note.title,
                metric=note.metric_name,
                value=value,
                threshold=note.trigger.threshold,
                since=note.changed_at,
                reason=note.reason,
                description=note.description,
                drifted_features=snapshot.ranked_drifted() if snapshot is not None else [],
                drift_threshold=snapshot.drift_threshold if snapshot is not None else spec.drift_threshold,
                report_uri=report_uri,
            )
            if not note.retrains:
                message_id = sent.publish(
                    clients.sns,
                    resources.alerts_topic_arn,
                    alert.model_copy(
                        update={
                            "action": "no retrain: this alarm is about the platform, "
                            "not the model; see the function's logs"
                        }
                    ),
                )
                outcomes.append(
                    AlarmOutcome(
                        alarm_name=note.alarm_name,
                        state="ALARM",
                        action="alerted",
                        alert_message_id=message_id,
                        report_uri=render_report(),
                        retrain="not-applicable",
                    )
                )
                continue

            cause = RetrainCause(
                alarm_name=note.alarm_name,
                metric=note.metric_name,
                value=value,
                threshold=note.trigger.threshold,
                changed_at=note.changed_at,
                version=version,
                drifted_features=[f for f, _ in alert.drifted_features],
            )
            published: dict[str, str | None] = {}

            def announce(
                decision: Any,
                alert: AlarmAlert = alert,
                published: dict[str, str | None] = published,
                render_report: Any = render_report,
                sent: _SentAlerts = sent,
            ) -> None:
                published["id"] = sent.publish(
                    clients.sns,
                    resources.alerts_topic_arn,
                    alert.model_copy(update={"action": decision.describe()}),
                )
                published["report_uri"] = render_report()  # after the alert, before any training

            result = request_retrain(cause, context, now=now, before_run=announce)
            outcomes.append(
                AlarmOutcome(
                    alarm_name=note.alarm_name,
                    state="ALARM",
                    action="alerted",
                    alert_message_id=published.get("id"),
                    report_uri=published.get("report_uri"),
                    retrain=result.decision.status,
                    retrain_run_id=result.decision.run_id,
                    retrain_status=result.record.status.value if result.record is not None else None,
                )
            )
        except BaseException:
            # nobody has been told yet: give the transition back so Lambda's retry handles it
            if not sent.ids:
                _release_transition(clients.s3, resources.artifacts_bucket, note)
            raise
    return outcomes


class _SentAlerts:
    """The alerts published for one transition (so a failure after the first keeps its claim)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def publish(self, sns: Any, topic_arn: str, alert: Any) -> str:
        from pipelines.monitoring.alerts import publish_alert

        message_id = publish_alert(sns, topic_arn, alert)
        self.ids.append(message_id)
        return message_id


def _release_transition(s3: Any, bucket: str, note: AlarmNotification) -> None:
    try:
        s3.delete_object(Bucket=bucket, Key=note.transition_key)
    except ClientError:
        log.warning(
            "could not release %s; its retry will be taken for a duplicate",
            note.transition_key,
            exc_info=True,
        )


def _claim_transition(s3: Any, bucket: str, note: AlarmNotification, now: datetime) -> bool:
    body = {
        "alarm_name": note.alarm_name,
        "state": note.new_state,
        "changed_at": note.changed_at,
        "handled_at": now.isoformat(),
    }
    try:
        s3.put_object(
            Bucket=bucket,
            Key=note.transition_key,
            Body=json.dumps(body).encode("utf-8"),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _LOST:
            return False
        raise
    return True


def _serving_version(clients: Any, resources: Any, model: str, note: AlarmNotification) -> str | None:
    """The champion's version from the registry, else the version of the newest snapshot."""
    from core.errors import ModelRegistryError
    from pipelines.monitoring.report import NoSnapshotsError, latest_snapshot
    from pipelines.registry.factory import open_registry
    from pipelines.registry.interface import CHAMPION

    if note.dimension("ModelVersion"):
        return note.dimension("ModelVersion")
    try:
        registry = open_registry(clients.sagemaker, resources.model_package_group)
        return str(registry.get_version_by_alias(CHAMPION).version)
    except (ModelRegistryError, ClientError) as err:
        log.info("no champion in the registry (%s); using the newest snapshot's version", err)
    try:
        return latest_snapshot(clients.s3, resources.artifacts_bucket, model).model_version
    except NoSnapshotsError:
        return None


__all__ = [
    "RETRAINING_KINDS",
    "AlarmClients",
    "AlarmContext",
    "AlarmNotification",
    "AlarmOutcome",
    "AlarmTrigger",
    "alarm_notifications_from_sns",
    "handle_alarm_notifications",
]
