"""Drift and health monitoring of a served model, one Kinesis batch (window) at a time.

``monitor_batch`` is what the monitor Lambda runs: decode the inference-log records, drop ones
already processed, compare each model version's window against its training baseline
(``runs/<run_id>/baseline.json``, found through the registry's lineage), publish CloudWatch
metrics in the tenant's ``TenantML/<tenant>`` namespace (the tenant stack's alarms read ``DriftScore`` (Maximum),
``ErrorRate`` (Average) and ``LatencyMs`` (p99) with dimensions Tenant and Model), and write a JSON
snapshot to ``monitoring/<model>/<version>/<window-start>_<first-sequence>.json`` in the artifacts
bucket.

Idempotency: a per-shard checkpoint, ``monitoring/_checkpoints/<shard-id>.json`` in the artifacts
bucket, holds the highest sequence number whose metrics were published. Kinesis sequence numbers
grow within a shard, so a redelivered record (sequence <= checkpoint) is skipped. The checkpoint is
written after the metrics, so a crash between the two can publish one window twice; that is the
remaining at-least-once gap. It assumes the event source mapping's ParallelizationFactor is 1 (the
default), so one invocation at a time owns a shard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from pyarrow.lib import ArrowException
from pydantic import ValidationError

from core.contract import MONITORING_PREFIX
from core.errors import (
    BaselineNotFoundError,
    Problem,
    TenantResourcesError,
)
from core.spec import ModelSpec, MonitoringSpec
from pipelines.monitoring.labelled_traffic import write_logged_predictions
from pipelines.monitoring.publishing import (
    load_baseline,
    publish_metrics,
    read_checkpoint,
    write_checkpoint,
    write_snapshot,
)
from pipelines.monitoring.quality import LiveQuality, QualitySettings, maybe_measure_live_quality
from pipelines.monitoring.window import (
    DEFAULT_DRIFT_THRESHOLD,
    StreamRecord,
    WindowMetrics,
    compute_window_metrics,
    decode_records,
    shard_of,
)

log = logging.getLogger(__name__)

PENDING_PREFIX = f"{MONITORING_PREFIX}/_pending"


@dataclass(frozen=True)
class MonitorSettings:
    tenant: str
    artifacts_bucket: str
    model_name: str
    model_package_group: str | None = None
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
    drift_min_rows: int = MonitoringSpec.model_fields["drift_min_rows"].default
    #: live quality (labels joined to kept predictions) needs the data bucket and the model spec;
    #: without them the monitor keeps no predictions and measures no quality
    data_bucket: str | None = None
    model_spec: ModelSpec | None = None
    quality_window_hours: int = MonitoringSpec.model_fields["quality_window_hours"].default
    quality_min_rows: int = MonitoringSpec.model_fields["quality_min_rows"].default
    quality_period_seconds: int = MonitoringSpec.model_fields["period_seconds"].default

    def quality_settings(self) -> QualitySettings | None:
        if self.data_bucket is None or self.model_spec is None:
            return None
        return QualitySettings(
            tenant=self.tenant,
            artifacts_bucket=self.artifacts_bucket,
            data_bucket=self.data_bucket,
            spec=self.model_spec,
            window_hours=self.quality_window_hours,
            min_rows=self.quality_min_rows,
            period_seconds=self.quality_period_seconds,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MonitorSettings:
        """From the monitor Lambda's environment; names every missing or invalid variable at once."""
        problems: list[Problem] = []
        for name in ("TENANTML_TENANT", "TENANTML_ARTIFACTS_BUCKET", "TENANTML_MODEL_SPEC"):
            if not environ.get(name):
                problems.append(Problem(f"environment: {name}", "is missing; the tenant stack sets it"))
        spec: ModelSpec | None = None
        if environ.get("TENANTML_MODEL_SPEC"):
            try:
                spec = ModelSpec.model_validate_json(environ["TENANTML_MODEL_SPEC"])
            except ValidationError as err:
                problems.append(
                    Problem("environment: TENANTML_MODEL_SPEC", f"is not a valid model spec: {err}")
                )
        monitoring = MonitoringSpec()
        if environ.get("TENANTML_MONITORING_SPEC"):
            try:
                monitoring = MonitoringSpec.model_validate_json(environ["TENANTML_MONITORING_SPEC"])
            except ValidationError as err:
                problems.append(
                    Problem("environment: TENANTML_MONITORING_SPEC", f"is not a valid monitoring spec: {err}")
                )
        if problems or spec is None:
            raise TenantResourcesError(problems, headline="the monitor's environment is incomplete")
        return cls(
            tenant=environ["TENANTML_TENANT"],
            artifacts_bucket=environ["TENANTML_ARTIFACTS_BUCKET"],
            model_name=spec.name,
            model_package_group=environ.get("TENANTML_MODEL_PACKAGE_GROUP"),
            drift_threshold=spec.drift_threshold,
            drift_min_rows=monitoring.drift_min_rows,
            data_bucket=environ.get("TENANTML_DATA_BUCKET") or None,
            model_spec=spec,
            quality_window_hours=monitoring.quality_window_hours,
            quality_min_rows=monitoring.quality_min_rows,
            quality_period_seconds=monitoring.period_seconds,
        )


@dataclass
class MonitorClients:
    s3: Any
    cloudwatch: Any
    #: a :class:`pipelines.registry.interface.ModelRegistry` (resolves a version's run, hence its baseline)
    registry: Any

    @classmethod
    def create(cls, settings: MonitorSettings, region: str | None = None) -> MonitorClients:
        import boto3

        from pipelines.registry.factory import open_registry

        if not settings.model_package_group:
            raise TenantResourcesError(
                [Problem("environment: TENANTML_MODEL_PACKAGE_GROUP", "is missing; the tenant stack sets it")]
            )
        session = boto3.session.Session(region_name=region)
        return cls(
            s3=session.client("s3"),
            cloudwatch=session.client("cloudwatch"),
            registry=open_registry(session.client("sagemaker"), settings.model_package_group),
        )


@dataclass
class BatchResult:
    #: Kinesis records; every count here is of Kinesis records, an aggregated record's requests once
    received: int = 0
    processed: int = 0
    #: not valid inference records: counted and skipped, never retried (they would fail again)
    malformed: int = 0
    #: at or below the shard's checkpoint: a redelivery, skipped
    duplicates: int = 0
    #: of a model version without a baseline (e.g. a local archive): counted, not monitored
    unmonitored: int = 0
    #: sequence numbers Lambda should retry (a transient AWS error stopped their window)
    failures: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    metrics: dict[str, WindowMetrics] = field(default_factory=dict)
    #: predictions files kept for the label join (see pipelines.monitoring.labelled_traffic)
    kept_predictions: list[str] = field(default_factory=list)
    #: the live-quality measurement this batch made (None: not due, or not configured)
    quality: LiveQuality | None = None

    def batch_item_failures(self) -> list[dict[str, str]]:
        return [{"itemIdentifier": sequence} for sequence in self.failures]


def monitor_batch(
    raw_kinesis_records: Sequence[Mapping[str, Any]], env: MonitorSettings, clients: MonitorClients
) -> BatchResult:
    """Monitor one Lambda Kinesis batch; never raises for bad records.

    Malformed records (see :func:`decode_records`) are counted in ``malformed`` and skipped,
    not reported as failures: a retry would see the same bytes. Records at or below their shard's
    checkpoint are skipped as redeliveries. Records of versions without a baseline are counted in
    ``unmonitored``. Only a transient AWS error (S3/CloudWatch) while handling a model version's
    window puts that window's sequence numbers in ``failures``; the shard checkpoint then stops
    just below the lowest failed record so the retry is not mistaken for a redelivery.
    """
    result = BatchResult(received=len(raw_kinesis_records))
    bucket = env.artifacts_bucket
    checkpoints: dict[str, int | None] = {}
    fresh: list[Mapping[str, Any]] = []
    for raw in raw_kinesis_records:
        shard = shard_of(raw)
        if shard not in checkpoints:
            checkpoints[shard] = read_checkpoint(clients.s3, bucket, shard)
        done = checkpoints[shard]
        sequence = _sequence_number(raw)
        if done is not None and sequence is not None and sequence <= done:
            result.duplicates += 1
            continue
        fresh.append(raw)

    decoded = decode_records(fresh)
    raw_data = {
        str((raw.get("kinesis") or {}).get("sequenceNumber")): (raw.get("kinesis") or {}).get("data")
        for raw in fresh
    }
    result.malformed = len(decoded.malformed)
    by_version: dict[str, list[StreamRecord]] = {}
    for item in decoded.records:
        by_version.setdefault(item.record["model_version"], []).append(item)

    failed: list[StreamRecord] = []
    quality = env.quality_settings()
    for version, items in by_version.items():
        try:
            baseline = load_baseline(clients.s3, clients.registry, bucket, version)
        except BaselineNotFoundError:
            result.unmonitored += _record_count(items)
            continue
        except (ClientError, BotoCoreError):
            failed.extend(items)
            continue
        try:
            parked = _drift_window(clients.s3, bucket, env, version, items, raw_data)
            records = [i.record for i in items]
            metrics = compute_window_metrics(
                records,
                baseline,
                drift_threshold=env.drift_threshold,
                drift_min_rows=env.drift_min_rows,
                drift_records=[*parked, *records] if parked else None,
            )
            key = write_snapshot(
                clients.s3,
                bucket,
                tenant=env.tenant,
                model=env.model_name,
                version=version,
                metrics=metrics,
                suffix=items[0].sequence_number,
            )
            publish_metrics(clients.cloudwatch, env.tenant, env.model_name, version, metrics)
            if quality is not None:
                _keep_predictions(clients.s3, bucket, env, version, records, items, result)
        except (ClientError, BotoCoreError):
            failed.extend(items)
            continue
        result.processed += _record_count(items)
        result.snapshots.append(key)
        result.metrics[version] = metrics

    if quality is not None and result.processed:
        # after this batch's predictions are kept, so labels delivered for them already join
        try:
            result.quality = maybe_measure_live_quality(clients.s3, clients.cloudwatch, quality)
        except (ClientError, BotoCoreError) as err:  # measured again next batch; the window is not retried
            log.warning("live quality of %s not measured: %s", env.model_name, err)
    result.failures = list(dict.fromkeys(i.sequence_number for i in failed))
    _advance_checkpoints(clients.s3, bucket, fresh, failed, checkpoints)
    return result


def _keep_predictions(
    s3: Any,
    bucket: str,
    env: MonitorSettings,
    version: str,
    records: Sequence[dict[str, Any]],
    items: Sequence[StreamRecord],
    result: BatchResult,
) -> None:
    """Keep the window's answered rows for the label join. A failure costs those rows' live quality,
    not the window: retrying it would publish its drift and health metrics twice."""
    try:
        kept = write_logged_predictions(
            s3, bucket, env.model_name, version, records, items[0].sequence_number
        )
    except (ClientError, BotoCoreError, ValueError, TypeError, ArrowException) as err:
        log.warning("predictions of %s v%s not kept for live quality: %s", env.model_name, version, err)
        return
    if kept:
        result.kept_predictions.append(kept)


def _record_count(items: Sequence[StreamRecord]) -> int:
    """Kinesis records among ``items`` (an aggregated record's requests share its sequence number)."""
    return len({i.sequence_number for i in items})


def pending_key(model: str, version: str, shard_id: str) -> str:
    return f"{PENDING_PREFIX}/{model}/{version}/{shard_id}.json"


def _drift_window(
    s3: Any,
    bucket: str,
    env: MonitorSettings,
    version: str,
    items: Sequence[StreamRecord],
    raw_data: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Rows parked from earlier batches to score drift on together with ``items``' rows.

    A Lambda batch is whatever arrived within the trigger's batching window: at low traffic it
    holds a few rows, too few for a drift score (``drift_min_rows``). Such batches park their
    records (as the stream delivered them, per shard and version) until the rows add up; the
    batch that completes the window scores drift over all of them and clears the parking.
    Health metrics are never parked: they are per batch. Returns the parked records to add, or
    ``[]`` when ``items`` alone are enough or were parked now.
    """
    key = pending_key(env.model_name, version, items[0].shard_id)
    rows = sum(i.record["n_rows"] for i in items)
    try:
        pending = orjson.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        pending = {"rows": 0, "data": []}
    if not pending["data"] and rows >= env.drift_min_rows:
        return []
    if pending["rows"] + rows < env.drift_min_rows:
        data = [
            *pending["data"],
            *(raw_data[sequence] for sequence in dict.fromkeys(i.sequence_number for i in items)),
        ]
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=orjson.dumps({"rows": pending["rows"] + rows, "data": data}),
            ContentType="application/json",
        )
        return []
    parked = decode_records(
        {"kinesis": {"data": d, "sequenceNumber": str(n)}} for n, d in enumerate(pending["data"])
    )
    s3.delete_object(Bucket=bucket, Key=key)
    return [p.record for p in parked.records]


def _advance_checkpoints(
    s3: Any,
    bucket: str,
    fresh: Sequence[Mapping[str, Any]],
    failed: Sequence[StreamRecord],
    checkpoints: Mapping[str, int | None],
) -> None:
    highest: dict[str, int] = {}
    for raw in fresh:
        sequence = _sequence_number(raw)
        if sequence is not None:
            shard = shard_of(raw)
            highest[shard] = max(highest.get(shard, sequence), sequence)
    for item in failed:  # Lambda retries from the lowest failed record: stop just below it
        if item.sequence_number.isdigit():
            below = int(item.sequence_number) - 1
            highest[item.shard_id] = min(highest.get(item.shard_id, below), below)
    for shard, sequence in highest.items():
        previous = checkpoints.get(shard)
        if previous is None or sequence > previous:
            write_checkpoint(s3, bucket, shard, sequence)


def _sequence_number(raw: Mapping[str, Any]) -> int | None:
    value = str((raw.get("kinesis") or {}).get("sequenceNumber", ""))
    return int(value) if value.isdigit() else None
