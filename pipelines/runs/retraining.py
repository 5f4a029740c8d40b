"""Retraining on an alarm: one pipeline run per tenant model per cooldown, through the same gate.

:func:`request_retrain` starts :func:`pipelines.runs.pipeline.run_pipeline` on the tenant's latest
accepted training data (the data of the newest succeeded run; before any run, the newest object
under ``incoming/``) plus the recent traffic whose labels came back
(:func:`pipelines.runs.retraining_data.assemble_retraining_set`, recorded in the lineage), so a retrained model faces the same validation, evaluation and promotion
gate as any other candidate, and replaces the champion only if it wins.

The cooldown is a sliding window held in one object, ``retraining/<model>/cooldown.json`` in the
artifacts bucket, taken with a conditional write: ``If-None-Match: *`` when there is none,
``If-Match: <etag>`` when the previous one has expired. Of two alarms racing for it, S3 lets
exactly one write win; the loser reads the winner's claim and records "skipped: cooldown until
...". Every decision (started or skipped) is also written to ``retraining/<model>/history/`` so
``tenantml monitor`` can show the last retrain and why it happened.

The cause (alarm, metric, value, threshold, time) is recorded in the run record's ``trigger``
(``alarm:<alarm name>``), in the history entry, and in the registered version's metadata
(``tenantml:retrain-cause``), which ``tenantml models show`` prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from core.errors import TenantmlError
from pipelines.data.uris import parse_s3_uri
from pipelines.runs.arrivals import INCOMING_PREFIX, DataArrival
from pipelines.runs.cooldown import claim_cooldown, cooldown_key
from pipelines.runs.records import new_run_id
from pipelines.runs.s3_json import put_json

log = logging.getLogger(__name__)

RETRAINING_PREFIX = "retraining"
#: registry metadata key of the cause of a retrained version
CAUSE_METADATA_KEY = "tenantml:retrain-cause"
_MAX_METADATA_VALUE = 256


class RetrainCause(BaseModel):
    """Why a retrain was asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_name: str
    metric: str
    value: float | None = None
    threshold: float | None = None
    #: when the alarm changed state (CloudWatch's StateChangeTime)
    changed_at: str | None = None
    #: the version serving when the alarm fired
    version: str | None = None
    drifted_features: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        value = "?" if self.value is None else f"{self.value:.4g}"
        threshold = "?" if self.threshold is None else f"{self.threshold:.4g}"
        text = f"alarm {self.alarm_name}: {self.metric}={value} > {threshold} since {self.changed_at or '?'}"
        if self.version:
            text += f" on v{self.version}"
        if self.drifted_features:
            text += f"; drifted: {', '.join(self.drifted_features)}"
        return text


class RetrainDecision(BaseModel):
    """Started or skipped, and why; stored under ``retraining/<model>/history/``."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    status: Literal["started", "skipped"]
    cause: RetrainCause
    decided_at: datetime
    #: the run this decision started; for a skip, the run holding the cooldown (if any)
    run_id: str | None = None
    cooldown_until: datetime | None = None
    data_uri: str | None = None
    reason: str = ""
    #: filled in once the started run has finished
    run_status: str | None = None
    model_version: int | None = None
    alias: str | None = None

    def describe(self) -> str:
        if self.status == "started":
            return (
                f"retrain started: run {self.run_id} on {self.data_uri} through the evaluation gate "
                f"(next retrain possible after {_when(self.cooldown_until)})"
            )
        return f"retrain skipped: {self.reason}"


class _CooldownHolder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    started_at: datetime
    until: datetime
    cause: RetrainCause


@dataclass
class RetrainResult:
    decision: RetrainDecision
    #: the run record (``None`` when skipped)
    record: Any = None


def history_prefix(model: str) -> str:
    return f"{RETRAINING_PREFIX}/{model}/history/"


def request_retrain(
    cause: RetrainCause,
    context: Any,
    *,
    now: datetime | None = None,
    before_run: Callable[[RetrainDecision], None] | None = None,
) -> RetrainResult:
    """Start one retrain of the tenant's model unless one started within the cooldown.

    ``context`` is a :class:`pipelines.monitoring.alarm_actions.AlarmContext`. ``before_run`` is called with the
    decision, started or skipped, before any training happens (the alarm handler publishes its
    alert there, so people are not kept waiting for the run). ``now`` is injectable for tests.
    """
    now = now or datetime.now(UTC)
    resources, clients, spec = context.resources, context.clients, context.spec
    bucket = resources.artifacts_bucket
    cooldown = timedelta(minutes=context.cooldown_minutes)

    source = latest_training_data(clients.s3, resources)
    if source is None:
        decision = RetrainDecision(
            model_name=spec.name,
            status="skipped",
            cause=cause,
            decided_at=now,
            reason=f"no accepted training data yet (no succeeded run, nothing under s3://{resources.data_bucket}/"
            f"{INCOMING_PREFIX}); upload data to start the first run",
        )
        return _finish_skip(clients.s3, bucket, decision, before_run)

    run_id = new_run_id(now)
    holder = _CooldownHolder(run_id=run_id, started_at=now, until=now + cooldown, cause=cause)
    winner = _claim_cooldown(clients.s3, bucket, spec.name, holder, now)
    if winner.run_id != run_id:
        decision = RetrainDecision(
            model_name=spec.name,
            status="skipped",
            cause=cause,
            decided_at=now,
            run_id=winner.run_id,
            cooldown_until=winner.until,
            reason=f"cooldown until {_when(winner.until)} (retrain run {winner.run_id} started "
            f"{_when(winner.started_at)} for {winner.cause.alarm_name})",
        )
        return _finish_skip(clients.s3, bucket, decision, before_run)

    from pipelines.runs.retraining_data import assemble_retraining_set  # pandas: only when a retrain runs

    data_sources: list[Any] = []
    try:
        assembled = assemble_retraining_set(
            clients.s3,
            resources,
            spec,
            source,
            run_id=run_id,
            window_hours=getattr(context, "quality_window_hours", 24),
            now=now,
        )
    except (ClientError, BotoCoreError, TenantmlError, ValueError) as err:
        # the run still trains on the reference; its ingest reports a reference it cannot read
        log.warning(
            "retrain of %s: labelled traffic not added (%s); training on the reference", spec.name, err
        )
    else:
        source, data_sources = assembled.source, assembled.sources
    data_uri = source.uri if isinstance(source, DataArrival) else source
    decision = RetrainDecision(
        model_name=spec.name,
        status="started",
        cause=cause,
        decided_at=now,
        run_id=run_id,
        cooldown_until=holder.until,
        data_uri=data_uri,
    )
    history = _write_history(clients.s3, bucket, decision)
    if before_run is not None:
        before_run(decision)
    log.info("retraining %s on %s: %s", spec.name, data_uri, cause.summary())
    from pipelines.runs.pipeline import run_pipeline

    executor = context.executor or _executor(context)
    record = run_pipeline(
        source,
        spec,
        resources,
        clients,
        executor=executor,
        config=context.config,
        run_id=run_id,
        trigger=f"alarm:{cause.alarm_name}",
        data_sources=data_sources,
    )
    decision.run_status = record.status.value
    decision.model_version = record.model_version
    decision.alias = record.alias
    if record.model_version is not None:
        annotate_version(clients.sagemaker, resources.model_package_group, record.model_version, cause)
    put_json(clients.s3, bucket, history, decision.model_dump(mode="json"))
    return RetrainResult(decision=decision, record=record)


def latest_training_data(s3: Any, resources: Any) -> DataArrival | str | None:
    """The data of the newest succeeded run (pinned to its object version), else the newest
    dataset object under ``incoming/``, else ``None``."""
    from pipelines.runs.arrivals import DATA_SUFFIXES
    from pipelines.runs.records import RunStatus, read_run_record

    bucket = resources.artifacts_bucket
    run_ids: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="runs/", Delimiter="/"):
        run_ids += [p["Prefix"].split("/")[1] for p in page.get("CommonPrefixes", [])]
    for run_id in sorted((r for r in run_ids if r[:1].isdigit()), reverse=True):
        try:
            record = read_run_record(s3, bucket, run_id)
        except (ClientError, ValueError) as err:
            log.warning("skipping run %s: its record cannot be read (%s)", run_id, err)
            continue
        if record.status is RunStatus.SUCCEEDED:
            data_bucket, key = parse_s3_uri(record.data_uri)
            return DataArrival(bucket=data_bucket, key=key, version_id=record.data_version_id)
    newest: dict[str, Any] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=resources.data_bucket, Prefix=INCOMING_PREFIX
    ):
        for obj in page.get("Contents", []):
            if obj["Key"].lower().endswith(DATA_SUFFIXES) and (
                newest is None or obj["LastModified"] > newest["LastModified"]
            ):
                newest = obj
    return f"s3://{resources.data_bucket}/{newest['Key']}" if newest else None


def read_history(s3: Any, bucket: str, model: str, *, limit: int = 20) -> list[RetrainDecision]:
    """The newest retrain decisions, newest first."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=history_prefix(model)):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    decisions = []
    for key in sorted(keys, reverse=True)[:limit]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        decisions.append(RetrainDecision.model_validate_json(body))
    return decisions


def annotate_version(sagemaker: Any, group: str, version: int, cause: RetrainCause) -> None:
    """Record why a version exists in its registry metadata (``tenantml models show`` prints it)."""
    from pipelines.registry.factory import open_registry

    current = open_registry(sagemaker, group).get_model_version(version)
    # moto replaces rather than merges metadata on UpdateModelPackage: re-send all of it
    kwargs: dict[str, Any] = {
        "ModelPackageArn": current.arn,
        "ModelApprovalStatus": current.approval_status.value,
        "CustomerMetadataProperties": {
            **current.metadata,
            CAUSE_METADATA_KEY: cause.summary()[:_MAX_METADATA_VALUE],
        },
    }
    if current.approval_description:
        kwargs["ApprovalDescription"] = current.approval_description
    sagemaker.update_model_package(**kwargs)


def _claim_cooldown(
    s3: Any, bucket: str, model: str, holder: _CooldownHolder, now: datetime
) -> _CooldownHolder:
    """Take the cooldown for ``holder`` unless someone holds it; return whoever holds it now."""
    winner = claim_cooldown(s3, bucket, model, holder.model_dump(mode="json"), now)
    return _CooldownHolder.model_validate(winner)


def _finish_skip(
    s3: Any, bucket: str, decision: RetrainDecision, before_run: Callable[[RetrainDecision], None] | None
) -> RetrainResult:
    _write_history(s3, bucket, decision)
    log.info("retrain of %s skipped: %s", decision.model_name, decision.reason)
    if before_run is not None:
        before_run(decision)
    return RetrainResult(decision=decision)


def _write_history(s3: Any, bucket: str, decision: RetrainDecision) -> str:
    stamp = decision.decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    key = f"{history_prefix(decision.model_name)}{stamp}-{decision.status}-{decision.run_id or 'none'}.json"
    put_json(s3, bucket, key, decision.model_dump(mode="json"))
    return key


def _executor(context: Any) -> Any:
    from core.errors import Problem, TenantResourcesError
    from pipelines.training.executors import make_executor

    environ = context.environ or {}
    kind = environ.get("TENANTML_EXECUTOR", "local")
    if kind not in ("local", "sagemaker"):
        raise TenantResourcesError(
            [Problem("environment: TENANTML_EXECUTOR", "must be 'local' or 'sagemaker'", kind)]
        )
    try:
        return make_executor(
            kind,
            clients=context.clients,
            resources=context.resources,
            emulated=environ.get("TENANTML_EMULATED", "").lower() in {"1", "true", "yes"},
        )
    except ValueError as err:
        raise TenantResourcesError(
            [Problem("environment: TENANTML_TRAINING_IMAGE_URI", str(err))],
            headline="the sagemaker executor is not configured",
        ) from err


def _when(moment: datetime | None) -> str:
    return "unknown" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


__all__ = [
    "CAUSE_METADATA_KEY",
    "RetrainCause",
    "RetrainDecision",
    "RetrainResult",
    "annotate_version",
    "cooldown_key",
    "latest_training_data",
    "read_history",
    "request_retrain",
]
