"""Drift and health monitoring of a served model, one Kinesis batch (window) at a time.

``monitor_batch`` is what the monitor Lambda runs: decode the inference-log records, drop ones
already processed, compare each model version's window against its training baseline
(``runs/<run_id>/baseline.json``, found through the registry's lineage), publish CloudWatch
metrics in the ``TenantML`` namespace (the tenant stack's alarms read ``DriftScore`` (Maximum),
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

import binascii
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import orjson
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from pipelines.baseline import Baseline, CategoricalSummary
from pipelines.drift import FeatureDrift, as_float, column_drift, psi
from pipelines.inference_log import InferenceRecord
from tenantml.contract import METRICS_NAMESPACE
from tenantml.errors import Problem, TenantmlError, TenantResourcesError
from tenantml.spec import ModelSpec

#: PSI above this marks a feature as drifted unless the tenant's model spec says otherwise
DEFAULT_DRIFT_THRESHOLD = 0.2
MONITORING_PREFIX = "monitoring"
CHECKPOINT_PREFIX = f"{MONITORING_PREFIX}/_checkpoints"
#: PutMetricData takes at most 1000 datums and 1 MB per call, and 150 values per datum
_DATUMS_PER_CALL = 150
_VALUES_PER_DATUM = 150
#: significant digits latencies keep when sent as Values/Counts (0.5% relative error at most)
_LATENCY_DIGITS = 3


class MonitoringError(TenantmlError):
    """Base class of the errors of drift and health monitoring."""


class BaselineNotFoundError(MonitoringError):
    """No training baseline can be found for a model version seen on the stream."""


# --- decoding --------------------------------------------------------------------------------


class StreamRecord(NamedTuple):
    shard_id: str
    sequence_number: str
    #: the validated fields of an :class:`InferenceRecord` (see :func:`validate_record`)
    record: dict[str, Any]


@dataclass
class DecodedRecords:
    records: list[StreamRecord] = field(default_factory=list)
    #: sequence numbers of records that are not valid InferenceRecord JSON (never retried)
    malformed: list[str] = field(default_factory=list)


def shard_of(raw: Mapping[str, Any]) -> str:
    """The shard id of a Lambda Kinesis event record (``eventID`` is ``<shard-id>:<sequence>``)."""
    event_id = str(raw.get("eventID", ""))
    return event_id.split(":", 1)[0] if ":" in event_id else "unknown-shard"


def decode_records(raw_records: Iterable[Mapping[str, Any]]) -> DecodedRecords:
    """Decode Lambda Kinesis event records into validated InferenceRecord fields, with their position.

    A record that is not base64, not JSON, or not an InferenceRecord is counted in ``malformed``
    and skipped: the same bytes would fail the same way on every retry.
    """
    out = DecodedRecords()
    append, malformed = out.records.append, out.malformed.append
    loads, a2b, validate = orjson.loads, binascii.a2b_base64, validate_record
    errors = (KeyError, TypeError, ValueError, binascii.Error, ValidationError)  # JSONDecodeError is a ValueError
    for raw in raw_records:
        kinesis = raw.get("kinesis") or {}
        sequence = kinesis.get("sequenceNumber")
        sequence = str(raw.get("eventID", "unknown") if sequence is None else sequence)
        try:
            record = validate(loads(a2b(kinesis["data"], strict_mode=True)))
        except errors:
            malformed(sequence)
            continue
        append(StreamRecord(shard_of(raw), sequence, record))
    return out


_SCALAR = (float, int, str)
_NUMBER = (float, int)
_FEATURE_TYPES = frozenset((float, int, str, type(None)))
_REQUIRED_FIELDS = itemgetter("request_id", "model_version", "features", "prediction", "latency_ms", "timestamp")


def validate_record(payload: Any) -> dict[str, Any]:
    """The fields of ``InferenceRecord.model_validate(payload)`` as a plain dict.

    Building ~10,000 pydantic objects per batch costs more than all the drift math, so payloads
    whose every field already has the exact type validation would produce (no bools posing as
    numbers, no numeric strings) are checked here and kept as dicts. The fast path can only accept
    a subset of what validation accepts; everything else goes through ``InferenceRecord``.
    Raises ``pydantic.ValidationError`` for an invalid payload.
    """
    if type(payload) is dict:
        try:
            request_id, version, features, prediction, latency, timestamp = _REQUIRED_FIELDS(payload)
        except KeyError:
            pass
        else:
            error = payload.setdefault("error", False)
            if (
                type(request_id) is str
                and type(version) is str
                and type(features) is dict
                and type(prediction) in _SCALAR
                and type(latency) in _NUMBER
                and type(timestamp) in _NUMBER
                and type(error) is bool
                and _FEATURE_TYPES.issuperset(map(type, features.values()))
            ):
                if type(latency) is int:
                    payload["latency_ms"] = float(latency)
                if type(timestamp) is int:
                    payload["timestamp"] = float(timestamp)
                return payload
    return dict(InferenceRecord.model_validate(payload).__dict__)


# --- window metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowMetrics:
    """What one window of one model version's traffic looked like next to its baseline."""

    request_count: int
    error_count: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    features: dict[str, FeatureDrift]
    #: PSI of the prediction distribution (vs the baseline's predictions, else its target)
    prediction_drift: float | None
    #: the largest feature PSI (0.0 when no feature had a value)
    drift_score: float
    drift_threshold: float
    drifted_features: tuple[str, ...]
    window_start: float | None
    window_end: float | None
    #: every request's latency, for CloudWatch percentiles; not part of the snapshot
    latencies_ms: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "error_count": self.error_count,
            "error_rate": self.error_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "prediction_drift": self.prediction_drift,
            "drift_score": self.drift_score,
            "drift_threshold": self.drift_threshold,
            "drifted_features": list(self.drifted_features),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "features": {name: drift.as_dict() for name, drift in self.features.items()},
        }


def compute_window_metrics(
    records: Sequence[InferenceRecord | Mapping[str, Any]], baseline: Baseline, *, drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
) -> WindowMetrics:
    """Drift and health of ``records`` against ``baseline``.

    The batch becomes one float matrix (numeric features) and one object matrix (categorical
    features); every statistic is computed per column with numpy/scipy. Features missing from a
    record count as missing values; features the baseline does not know are ignored. ``records``
    are :class:`InferenceRecord` s or their validated fields as dicts (from :func:`decode_records`).
    """
    records = [r.__dict__ if isinstance(r, InferenceRecord) else r for r in records]
    n = len(records)
    numeric = [name for name, s in baseline.features.items() if not isinstance(s, CategoricalSummary)]
    categorical = [name for name, s in baseline.features.items() if isinstance(s, CategoricalSummary)]
    feature_dicts = [r["features"] for r in records]
    features: dict[str, FeatureDrift] = {}
    if numeric:
        matrix = _matrix(_rows(feature_dicts, numeric), n, len(numeric), float)
        for j, name in enumerate(numeric):
            features[name] = column_drift(name, matrix[:, j], baseline.features[name])
    if categorical:
        objects = _matrix(_rows(feature_dicts, categorical), n, len(categorical), object)
        for j, name in enumerate(categorical):
            features[name] = column_drift(name, objects[:, j], baseline.features[name])

    errors = np.fromiter(map(itemgetter("error"), records), dtype=bool, count=n)
    latencies = np.fromiter(map(itemgetter("latency_ms"), records), dtype="float64", count=n)
    timestamps = np.fromiter(map(itemgetter("timestamp"), records), dtype="float64", count=n)
    predictions = np.empty(n, dtype=object)
    predictions[:] = list(map(itemgetter("prediction"), records))
    predictions = predictions[~errors]

    reference = baseline.prediction_distribution or baseline.target_distribution
    prediction_drift = column_drift("prediction", predictions, reference).psi if predictions.size else None

    psis = {name: d.psi for name, d in features.items() if d.psi is not None}
    drifted = tuple(sorted(name for name, value in psis.items() if value > drift_threshold))
    error_count = int(errors.sum())
    return WindowMetrics(
        request_count=n,
        error_count=error_count,
        error_rate=error_count / n if n else 0.0,
        latency_p50_ms=float(np.percentile(latencies, 50)) if n else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if n else None,
        features=features,
        prediction_drift=prediction_drift,
        drift_score=max(psis.values(), default=0.0),
        drift_threshold=drift_threshold,
        drifted_features=drifted,
        window_start=float(timestamps.min()) if n else None,
        window_end=float(timestamps.max()) if n else None,
        latencies_ms=latencies,
    )


def _rows(feature_dicts: list[dict[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    """One row of values per record, in ``names`` order; a missing feature is ``None``."""
    getter = itemgetter(*names)
    try:  # every record has every feature: one C-level getter per record
        rows = list(map(getter, feature_dicts))
    except KeyError:
        return [[f.get(name) for name in names] for f in feature_dicts]
    return rows if len(names) > 1 else [(v,) for v in rows]


def _matrix(rows: list[Sequence[Any]], n: int, width: int, dtype: type) -> np.ndarray:
    if n == 0:
        return np.empty((0, width), dtype=dtype)
    if dtype is float:
        try:
            return np.array(rows, dtype="float64")
        except (TypeError, ValueError):  # a string in a numeric feature: coerce column by column
            objects = np.array(rows, dtype=object)
            return np.column_stack([as_float(objects[:, j]) for j in range(width)])
    out = np.empty((n, width), dtype=object)
    out[:] = rows
    return out


# --- publishing ----------------------------------------------------------------------------------


def publish_metrics(
    cloudwatch: Any,
    tenant: str,
    model: str,
    version: str,
    metrics: WindowMetrics,
    *,
    timestamp: datetime | None = None,
    namespace: str = METRICS_NAMESPACE,
) -> int:
    """PutMetricData for one window, under dimensions (Tenant, Model) and (Tenant, Model, ModelVersion).

    ``LatencyMs`` goes as Values/Counts (every request, rounded to three significant digits), so
    CloudWatch can compute the p99 the latency alarm reads. ``FeatureDrift`` carries a Feature
    dimension. Returns the number of datums sent.
    """
    when = timestamp or _metric_time(metrics.window_end)
    dimension_sets = [
        [{"Name": "Tenant", "Value": tenant}, {"Name": "Model", "Value": model}],
        [{"Name": "Tenant", "Value": tenant}, {"Name": "Model", "Value": model}, {"Name": "ModelVersion", "Value": version}],
    ]
    scalars: list[tuple[str, float, str]] = [("RequestCount", float(metrics.request_count), "Count")]
    if metrics.request_count:
        scalars += [("ErrorRate", metrics.error_rate, "None"), ("DriftScore", metrics.drift_score, "None")]
    if metrics.prediction_drift is not None:
        scalars.append(("PredictionDrift", metrics.prediction_drift, "None"))
    latency_values, latency_counts = _latency_histogram(metrics.latencies_ms)

    data: list[dict[str, Any]] = []
    for dims in dimension_sets:
        for name, value, unit in scalars:
            data.append({"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": value, "Unit": unit})
        for start in range(0, len(latency_values), _VALUES_PER_DATUM):
            data.append({
                "MetricName": "LatencyMs", "Dimensions": dims, "Timestamp": when, "Unit": "Milliseconds",
                "Values": latency_values[start:start + _VALUES_PER_DATUM],
                "Counts": latency_counts[start:start + _VALUES_PER_DATUM],
            })
        for name, drift in metrics.features.items():
            if drift.psi is not None:
                data.append({
                    "MetricName": "FeatureDrift", "Dimensions": [*dims, {"Name": "Feature", "Value": name}],
                    "Timestamp": when, "Value": drift.psi, "Unit": "None",
                })
    for start in range(0, len(data), _DATUMS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + _DATUMS_PER_CALL])
    return len(data)


def _latency_histogram(latencies: np.ndarray) -> tuple[list[float], list[float]]:
    values = latencies[np.isfinite(latencies)]
    if values.size == 0:
        return [], []
    values = np.clip(values, 0.0, None)
    magnitude = np.floor(np.log10(np.where(values > 0, values, 1.0)))
    quantum = 10.0 ** (magnitude - (_LATENCY_DIGITS - 1))
    rounded = np.where(values > 0, np.round(values / quantum) * quantum, 0.0)
    uniques, counts = np.unique(rounded, return_counts=True)
    return [float(v) for v in uniques], [float(c) for c in counts]


def _metric_time(window_end: float | None) -> datetime:
    """The window's last record time, unless it is in the future or older than CloudWatch accepts."""
    now = time.time()
    if window_end is None or not math.isfinite(window_end) or window_end > now or window_end < now - 13 * 86_400:
        return datetime.fromtimestamp(now, UTC)
    return datetime.fromtimestamp(window_end, UTC)


def snapshot_key(model: str, version: str, window_start: float | None, suffix: str = "") -> str:
    start = datetime.fromtimestamp(window_start if window_start is not None else time.time(), UTC)
    stamp = start.strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{MONITORING_PREFIX}/{model}/{version}/{stamp}{'_' + suffix if suffix else ''}.json"


def write_snapshot(
    s3: Any, bucket: str, *, tenant: str, model: str, version: str, metrics: WindowMetrics, suffix: str = ""
) -> str:
    """Write the window's metrics as JSON under ``monitoring/<model>/<version>/``; return the key.

    ``suffix`` (the window's first sequence number in :func:`monitor_batch`) keeps two windows that
    start in the same microsecond apart.
    """
    key = snapshot_key(model, version, metrics.window_start, suffix)
    body = {"tenant": tenant, "model": model, "model_version": version, **metrics.as_dict()}
    s3.put_object(Bucket=bucket, Key=key, Body=orjson.dumps(body, option=orjson.OPT_INDENT_2),
                  ContentType="application/json")
    return key


# --- baselines -------------------------------------------------------------------------------------

_BASELINES: dict[tuple[str, str, str], Baseline] = {}


def baseline_key(run_id: str) -> str:
    """Where a run stores its training baseline (see :mod:`pipelines.runs`)."""
    return f"runs/{run_id}/baseline.json"


def load_baseline(s3: Any, registry: Any, bucket: str, version: str) -> Baseline:
    """The baseline of registry version ``version``, cached per process (baselines never change)."""
    cache_key = (bucket, str(getattr(registry, "group_name", "")), version)
    if cache_key in _BASELINES:
        return _BASELINES[cache_key]
    where = f"model version {version!r}"
    try:
        number = int(version)
    except ValueError as err:
        raise BaselineNotFoundError(f"{where}: not a registry version number; cannot find its baseline") from err
    try:
        lineage = registry.get_model_version(number).lineage
    except TenantmlError as err:
        raise BaselineNotFoundError(f"{where}: {err}") from err
    if lineage is None:
        raise BaselineNotFoundError(f"{where} has no lineage (registered outside tenantml); no baseline to compare")
    key = baseline_key(lineage.run_id)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        raise BaselineNotFoundError(f"{where}: s3://{bucket}/{key} does not exist; was run {lineage.run_id} validated?") from err
    baseline = Baseline.from_json(body)
    _BASELINES[cache_key] = baseline
    return baseline


def clear_baseline_cache() -> None:
    _BASELINES.clear()


# --- checkpoints ----------------------------------------------------------------------------------


def checkpoint_key(shard_id: str) -> str:
    return f"{CHECKPOINT_PREFIX}/{shard_id}.json"


def read_checkpoint(s3: Any, bucket: str, shard_id: str) -> int | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=checkpoint_key(shard_id))["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return int(orjson.loads(body)["sequence_number"])


def write_checkpoint(s3: Any, bucket: str, shard_id: str, sequence_number: int) -> None:
    body = orjson.dumps({"shard_id": shard_id, "sequence_number": str(sequence_number), "written_at": time.time()})
    s3.put_object(Bucket=bucket, Key=checkpoint_key(shard_id), Body=body, ContentType="application/json")


# --- the batch --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorSettings:
    tenant: str
    artifacts_bucket: str
    model_name: str
    model_package_group: str | None = None
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD

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
                problems.append(Problem("environment: TENANTML_MODEL_SPEC", f"is not a valid model spec: {err}"))
        if problems or spec is None:
            raise TenantResourcesError(problems, headline="the monitor's environment is incomplete")
        return cls(
            tenant=environ["TENANTML_TENANT"],
            artifacts_bucket=environ["TENANTML_ARTIFACTS_BUCKET"],
            model_name=spec.name,
            model_package_group=environ.get("TENANTML_MODEL_PACKAGE_GROUP"),
            drift_threshold=spec.drift_threshold,
        )


@dataclass
class MonitorClients:
    s3: Any
    cloudwatch: Any
    #: a :class:`pipelines.registry.ModelRegistry` (resolves a version's run, hence its baseline)
    registry: Any

    @classmethod
    def create(cls, settings: MonitorSettings, region: str | None = None) -> MonitorClients:
        import boto3

        from pipelines.registry import SageMakerModelRegistry

        if not settings.model_package_group:
            raise TenantResourcesError(
                [Problem("environment: TENANTML_MODEL_PACKAGE_GROUP", "is missing; the tenant stack sets it")]
            )
        session = boto3.session.Session(region_name=region)
        return cls(
            s3=session.client("s3"),
            cloudwatch=session.client("cloudwatch"),
            registry=SageMakerModelRegistry(session.client("sagemaker"), settings.model_package_group),
        )


@dataclass
class BatchResult:
    received: int = 0
    processed: int = 0
    #: not InferenceRecord JSON: counted and skipped, never retried (they would fail again)
    malformed: int = 0
    #: at or below the shard's checkpoint: a redelivery, skipped
    duplicates: int = 0
    #: of a model version without a baseline (e.g. a local archive): counted, not monitored
    unmonitored: int = 0
    #: sequence numbers Lambda should retry (a transient AWS error stopped their window)
    failures: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    metrics: dict[str, WindowMetrics] = field(default_factory=dict)

    def batch_item_failures(self) -> list[dict[str, str]]:
        return [{"itemIdentifier": sequence} for sequence in self.failures]


def monitor_batch(
    raw_kinesis_records: Sequence[Mapping[str, Any]], env: MonitorSettings, clients: MonitorClients
) -> BatchResult:
    """Monitor one Lambda Kinesis batch; never raises for bad records.

    Malformed records (not base64/JSON/InferenceRecord) are counted in ``malformed`` and skipped,
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
    result.malformed = len(decoded.malformed)
    by_version: dict[str, list[StreamRecord]] = {}
    for item in decoded.records:
        by_version.setdefault(item.record["model_version"], []).append(item)

    failed: list[StreamRecord] = []
    for version, items in by_version.items():
        try:
            baseline = load_baseline(clients.s3, clients.registry, bucket, version)
        except BaselineNotFoundError:
            result.unmonitored += len(items)
            continue
        except (ClientError, BotoCoreError):
            failed.extend(items)
            continue
        metrics = compute_window_metrics([i.record for i in items], baseline, drift_threshold=env.drift_threshold)
        try:
            key = write_snapshot(clients.s3, bucket, tenant=env.tenant, model=env.model_name, version=version,
                                 metrics=metrics, suffix=items[0].sequence_number)
            publish_metrics(clients.cloudwatch, env.tenant, env.model_name, version, metrics)
        except (ClientError, BotoCoreError):
            failed.extend(items)
            continue
        result.processed += len(items)
        result.snapshots.append(key)
        result.metrics[version] = metrics

    result.failures = [i.sequence_number for i in failed]
    _advance_checkpoints(clients.s3, bucket, fresh, failed, checkpoints)
    return result


def _advance_checkpoints(
    s3: Any, bucket: str, fresh: Sequence[Mapping[str, Any]], failed: Sequence[StreamRecord],
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


__all__ = [
    "DEFAULT_DRIFT_THRESHOLD",
    "BaselineNotFoundError",
    "BatchResult",
    "DecodedRecords",
    "MonitorClients",
    "MonitorSettings",
    "MonitoringError",
    "WindowMetrics",
    "baseline_key",
    "checkpoint_key",
    "clear_baseline_cache",
    "compute_window_metrics",
    "decode_records",
    "load_baseline",
    "monitor_batch",
    "psi",
    "publish_metrics",
    "read_checkpoint",
    "snapshot_key",
    "validate_record",
    "write_snapshot",
]
