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
import gc
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from core.contract import METRICS_NAMESPACE, MONITORING_PREFIX
from core.errors import (
    BaselineNotFoundError,
    InferenceRecordError,
    MonitoringError,
    Problem,
    TenantmlError,
    TenantResourcesError,
)
from core.percentiles import nearest_rank_index
from core.spec import ModelSpec, MonitoringSpec
from pipelines.inference_log.decoding import InferenceRecord, attach_numeric, normalize_record, parse_payloads
from pipelines.monitoring.baseline import Baseline, CategoricalSummary, NumericSummary
from pipelines.monitoring.drift import FeatureDrift, as_float, category_shares, column_drift, psi

#: PSI above this marks a feature as drifted unless the tenant's model spec says otherwise
DEFAULT_DRIFT_THRESHOLD = 0.2
CHECKPOINT_PREFIX = f"{MONITORING_PREFIX}/_checkpoints"
PENDING_PREFIX = f"{MONITORING_PREFIX}/_pending"
#: PutMetricData takes at most 1000 datums and 1 MB per call, and 150 values per datum
_DATUMS_PER_CALL = 150
_VALUES_PER_DATUM = 150
#: significant digits latencies keep when sent as Values/Counts (0.5% relative error at most)
_LATENCY_DIGITS = 3


# --- decoding --------------------------------------------------------------------------------


class StreamRecord(NamedTuple):
    shard_id: str
    sequence_number: str
    #: the decoded record (see :func:`validate_record`): format-2 fields plus ``n_rows`` and
    #: ``numeric`` (its numeric rows as a float matrix)
    record: dict[str, Any]


@dataclass
class DecodedRecords:
    records: list[StreamRecord] = field(default_factory=list)
    #: sequence numbers of records that are not valid inference records (never retried)
    malformed: list[str] = field(default_factory=list)
    #: why each malformed record was rejected, by sequence number
    reasons: dict[str, str] = field(default_factory=dict)


def shard_of(raw: Mapping[str, Any]) -> str:
    """The shard id of a Lambda Kinesis event record (``eventID`` is ``<shard-id>:<sequence>``)."""
    event_id = str(raw.get("eventID", ""))
    return event_id.split(":", 1)[0] if ":" in event_id else "unknown-shard"


_DECODE_ERRORS = (KeyError, TypeError, ValueError, binascii.Error, InferenceRecordError)


def decode_records(raw_records: Iterable[Mapping[str, Any]]) -> DecodedRecords:
    """Decode Lambda Kinesis event records into checked inference records, with their position.

    Per record: base64, orjson, and a structure check of plain Python values (no pydantic
    object). The numeric rows of the whole batch then become one float matrix in one numpy call,
    which also rejects non-numeric values. A record that is not base64, not JSON, not a format
    1 or 2 inference record, or has rows of the wrong width or a non-numeric value is counted in
    ``malformed`` and skipped: the same bytes would fail the same way on every retry.

    The cyclic garbage collector is paused meanwhile: decoded JSON holds no reference cycles, and
    its collections, triggered by the many new containers, walked every live object again and
    again (a third of the decoding time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _decode_records(raw_records)
    finally:
        if enabled:
            gc.enable()


def _decode_records(raw_records: Iterable[Mapping[str, Any]]) -> DecodedRecords:
    out = DecodedRecords()
    a2b, parse = binascii.a2b_base64, parse_payloads
    records, append = out.records, out.records.append
    # malformed ones by position among all records, to report them in arrival order
    rejected: list[tuple[int, str, str]] = []
    parsed: list[dict[str, Any]] = []
    shard, prefix = "", None  # a Lambda batch comes from one shard: reuse its id
    positions: list[int] = []
    for position, raw in enumerate(raw_records):
        kinesis = raw.get("kinesis") or {}
        sequence = kinesis.get("sequenceNumber")
        if type(sequence) is not str:
            sequence = str(raw.get("eventID", "unknown") if sequence is None else sequence)
        try:
            requests = parse(a2b(kinesis["data"], strict_mode=True))
        except _DECODE_ERRORS as err:
            rejected.append((position, sequence, f"{type(err).__name__}: {err}"))
            continue
        event_id = raw.get("eventID")
        if prefix is None or type(event_id) is not str or not event_id.startswith(prefix):
            shard = shard_of(raw)
            prefix = shard + ":"
        for record in requests:  # an aggregated Kinesis record holds several
            positions.append(position)
            parsed.append(record)
            append(StreamRecord(shard, sequence, record))
    bad = attach_numeric(parsed)
    if bad:
        # a Kinesis record is malformed as a whole: none of its requests is kept
        bad_positions = {positions[i] for i in bad}
        out.records = [item for i, item in enumerate(records) if positions[i] not in bad_positions]
        first_reason: dict[int, tuple[str, str]] = {}
        for i, reason in sorted(bad.items()):
            first_reason.setdefault(positions[i], (records[i].sequence_number, reason))
        rejected += [(position, sequence, reason) for position, (sequence, reason) in first_reason.items()]
    for _, sequence, reason in sorted(rejected):
        out.malformed.append(sequence)
        out.reasons[sequence] = reason
    return out


def validate_record(payload: Any) -> dict[str, Any]:
    """One record in any accepted form (a format 1 or 2 dict, an :class:`InferenceRecord`) as the
    decoded dict :func:`decode_records` gives. Raises :class:`InferenceRecordError` naming the field."""
    if not isinstance(payload, Mapping | InferenceRecord):
        raise InferenceRecordError(f"not a JSON object but {type(payload).__name__}")
    return normalize_record(payload)


@dataclass(frozen=True)
class WindowArrays:
    """One window's records as arrays: features over rows, health over requests.

    A request is counted once, by its first chunk; latency, error flag and timestamp are per
    request. Feature values and predictions are per row (a failed request's rows have features
    but no prediction).
    """

    request_count: int
    row_count: int
    #: (rows, numeric names) float64, NaN = missing (also for a feature a record did not carry)
    numeric: np.ndarray
    #: (rows, categorical names) object, None = missing
    categorical: np.ndarray
    errors: np.ndarray
    latencies_ms: np.ndarray
    timestamps: np.ndarray
    #: predictions of the rows of requests that did not fail, as objects
    predictions: np.ndarray


def window_arrays(
    records: Sequence[InferenceRecord | Mapping[str, Any]], numeric_names: Sequence[str], categorical_names: Sequence[str]
) -> WindowArrays:
    """Stack a window's records into :class:`WindowArrays`, columns in the given name order.

    Records of one model share interned feature-name tuples, so the usual window is one group
    whose numeric matrices are concatenated once; a feature logged under the other kind than the
    baseline's is converted, and one a record did not log is missing.
    """
    recs = [r if type(r) is dict and "numeric" in r else validate_record(r) for r in records]
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in recs:
        key = (id(r["numeric_features"]), id(r["categorical_features"]))
        group = groups.get(key)
        if group is None:
            groups[key] = [r]
        else:
            group.append(r)
    numeric_parts, categorical_parts = [], []
    for group in groups.values():
        numeric, categorical = _group_columns(group, tuple(numeric_names), tuple(categorical_names))
        numeric_parts.append(numeric)
        categorical_parts.append(categorical)
    width_n, width_c = len(numeric_names), len(categorical_names)
    numeric = _stack(numeric_parts, width_n, np.float64)
    categorical = _stack(categorical_parts, width_c, object)

    firsts = [r for r in recs if r["chunk"] == 0]
    n = len(firsts)
    predictions: list[Any] = []
    extend = predictions.extend
    for r in recs:
        if not r["error"]:
            extend(r["predictions"])
    prediction_array = np.empty(len(predictions), dtype=object)
    prediction_array[:] = predictions
    return WindowArrays(
        request_count=n,
        row_count=int(numeric.shape[0]),
        numeric=numeric,
        categorical=categorical,
        errors=np.fromiter(map(itemgetter("error"), firsts), dtype=bool, count=n),
        latencies_ms=np.fromiter(map(itemgetter("latency_ms"), firsts), dtype="float64", count=n),
        timestamps=np.fromiter(map(itemgetter("timestamp"), firsts), dtype="float64", count=n),
        predictions=prediction_array,
    )


def _group_columns(
    group: list[dict[str, Any]], numeric_names: tuple[str, ...], categorical_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Numeric and categorical matrices of records that share feature lists, in the wanted order."""
    have_numeric: tuple[str, ...] = group[0]["numeric_features"]
    have_categorical: tuple[str, ...] = group[0]["categorical_features"]
    block = group[0]["numeric"] if len(group) == 1 else np.concatenate([r["numeric"] for r in group])
    rows = block.shape[0]
    objects: np.ndarray | None = None
    if have_categorical and (categorical_names or set(numeric_names) & set(have_categorical)):
        objects = np.empty((rows, len(have_categorical)), dtype=object)
        objects[:] = [row for r in group for row in r["categorical_rows"]]
    if have_numeric == numeric_names:
        numeric = block
    else:
        numeric = np.full((rows, len(numeric_names)), np.nan)
        at_n = {name: j for j, name in enumerate(have_numeric)}
        at_c = {name: j for j, name in enumerate(have_categorical)}
        for j, name in enumerate(numeric_names):
            if name in at_n:
                numeric[:, j] = block[:, at_n[name]]
            elif name in at_c and objects is not None:
                numeric[:, j] = as_float(objects[:, at_c[name]])
    if objects is not None and have_categorical == categorical_names:
        return numeric, objects
    categorical = np.full((rows, len(categorical_names)), None, dtype=object)
    at_n = {name: j for j, name in enumerate(have_numeric)}
    at_c = {name: j for j, name in enumerate(have_categorical)}
    for j, name in enumerate(categorical_names):
        if name in at_c and objects is not None:
            categorical[:, j] = objects[:, at_c[name]]
        elif name in at_n:
            column = block[:, at_n[name]]
            values = column.astype(object)
            values[np.isnan(column)] = None
            categorical[:, j] = values
    return numeric, categorical


def _stack(parts: list[np.ndarray], width: int, dtype: Any) -> np.ndarray:
    if not parts:
        return np.empty((0, width), dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


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
    #: input rows in the window (``request_count`` counts requests; features and predictions are per row)
    row_count: int = 0
    #: False when the window had fewer rows than the monitor's minimum: its PSI is sampling noise,
    #: so it is kept in the snapshot but neither published as a metric nor called drift
    drift_scored: bool = True
    #: live share of present values per baseline bin (numeric) or category plus "other" (categorical),
    #: in the baseline's order, so a report can draw baseline and live side by side
    histograms: dict[str, list[float]] = field(default_factory=dict)
    #: the same for predictions, against the baseline's prediction (else target) distribution
    prediction_histogram: list[float] | None = None
    #: every request's latency, for CloudWatch percentiles; not part of the snapshot
    latencies_ms: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "row_count": self.row_count,
            "error_count": self.error_count,
            "error_rate": self.error_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "prediction_drift": self.prediction_drift,
            "drift_score": self.drift_score,
            "drift_scored": self.drift_scored,
            "drift_threshold": self.drift_threshold,
            "drifted_features": list(self.drifted_features),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "features": {name: drift.as_dict() for name, drift in self.features.items()},
            "histograms": self.histograms,
            "prediction_histogram": self.prediction_histogram,
        }


def compute_window_metrics(
    records: Sequence[InferenceRecord | Mapping[str, Any]],
    baseline: Baseline,
    *,
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD,
    drift_min_rows: int = 1,
    drift_records: Sequence[InferenceRecord | Mapping[str, Any]] | None = None,
) -> WindowMetrics:
    """Drift and health of ``records`` against ``baseline``.

    Health (requests, errors, latency) is ``records``'; drift is ``drift_records``' when given
    (``records`` with rows parked from earlier windows, see :func:`monitor_batch`), else theirs.

    The batch becomes one float matrix (numeric features) and one object matrix (categorical
    features); every statistic is computed per column with numpy/scipy. Features missing from a
    record count as missing values; features the baseline does not know are ignored. ``records``
    are :class:`InferenceRecord` s, format 1 or 2 dicts, or decoded records (from
    :func:`decode_records`). Request count, error rate and latency are per request; feature and
    prediction distributions are per row (see :func:`window_arrays`).
    """
    numeric = [name for name, s in baseline.features.items() if not isinstance(s, CategoricalSummary)]
    categorical = [name for name, s in baseline.features.items() if isinstance(s, CategoricalSummary)]
    window = window_arrays(records, numeric, categorical)
    rows = window if drift_records is None else window_arrays(drift_records, numeric, categorical)
    n = window.request_count
    features: dict[str, FeatureDrift] = {}
    histograms: dict[str, list[float]] = {}
    if numeric:
        matrix = rows.numeric
        for j, name in enumerate(numeric):
            features[name] = column_drift(name, matrix[:, j], baseline.features[name])
            histograms[name] = live_shares(matrix[:, j], baseline.features[name])
    if categorical:
        objects = rows.categorical
        for j, name in enumerate(categorical):
            features[name] = column_drift(name, objects[:, j], baseline.features[name])
            histograms[name] = live_shares(objects[:, j], baseline.features[name])

    errors, latencies, timestamps = window.errors, window.latencies_ms, window.timestamps
    predictions = rows.predictions

    reference = baseline.prediction_distribution or baseline.target_distribution
    prediction_drift = column_drift("prediction", predictions, reference).psi if predictions.size else None
    prediction_histogram = live_shares(predictions, reference) if predictions.size else None

    psis = {name: d.psi for name, d in features.items() if d.psi is not None}
    scored = rows.row_count >= drift_min_rows
    drifted = tuple(sorted(name for name, value in psis.items() if value > drift_threshold)) if scored else ()
    error_count = int(errors.sum())
    ordered = np.sort(latencies)
    return WindowMetrics(
        request_count=n,
        error_count=error_count,
        error_rate=error_count / n if n else 0.0,
        latency_p50_ms=float(ordered[nearest_rank_index(n, 50)]) if n else None,
        latency_p99_ms=float(ordered[nearest_rank_index(n, 99)]) if n else None,
        features=features,
        prediction_drift=prediction_drift,
        drift_score=max(psis.values(), default=0.0),
        drift_threshold=drift_threshold,
        drifted_features=drifted,
        drift_scored=scored,
        window_start=float(timestamps.min()) if n else None,
        window_end=float(timestamps.max()) if n else None,
        row_count=rows.row_count,
        histograms=histograms,
        prediction_histogram=prediction_histogram,
        latencies_ms=latencies,
    )


def live_shares(values: np.ndarray, summary: NumericSummary | CategoricalSummary) -> list[float]:
    """Share of the present ``values`` per bin of ``summary`` (empty when there is nothing to bin)."""
    if isinstance(summary, CategoricalSummary):
        if not np.count_nonzero(~pd.isna(values)):
            return []
        return [round(float(v), 6) for v in category_shares(values, summary.frequencies)[1]]
    present = as_float(values)
    present = present[np.isfinite(present)]
    if present.size == 0 or not summary.bin_edges:
        return []
    n_bins = max(len(summary.bin_edges) - 1, 1)
    index = np.searchsorted(np.asarray(summary.bin_edges[1:-1], dtype="float64"), present, side="right")
    return [round(float(c), 6) for c in np.bincount(index, minlength=n_bins) / present.size]


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
        scalars.append(("ErrorRate", metrics.error_rate, "None"))
    if metrics.request_count and metrics.drift_scored:
        scalars.append(("DriftScore", metrics.drift_score, "None"))
    if metrics.prediction_drift is not None and metrics.drift_scored:
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
            if drift.psi is not None and metrics.drift_scored:
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
    """Where a run stores its training baseline (see :mod:`pipelines.runs.pipeline`)."""
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
    drift_min_rows: int = MonitoringSpec.model_fields["drift_min_rows"].default

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
        monitoring = MonitoringSpec()
        if environ.get("TENANTML_MONITORING_SPEC"):
            try:
                monitoring = MonitoringSpec.model_validate_json(environ["TENANTML_MONITORING_SPEC"])
            except ValidationError as err:
                problems.append(Problem("environment: TENANTML_MONITORING_SPEC", f"is not a valid monitoring spec: {err}"))
        if problems or spec is None:
            raise TenantResourcesError(problems, headline="the monitor's environment is incomplete")
        return cls(
            tenant=environ["TENANTML_TENANT"],
            artifacts_bucket=environ["TENANTML_ARTIFACTS_BUCKET"],
            model_name=spec.name,
            model_package_group=environ.get("TENANTML_MODEL_PACKAGE_GROUP"),
            drift_threshold=spec.drift_threshold,
            drift_min_rows=monitoring.drift_min_rows,
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
    raw_data = {str((raw.get("kinesis") or {}).get("sequenceNumber")): (raw.get("kinesis") or {}).get("data")
                for raw in fresh}
    result.malformed = len(decoded.malformed)
    by_version: dict[str, list[StreamRecord]] = {}
    for item in decoded.records:
        by_version.setdefault(item.record["model_version"], []).append(item)

    failed: list[StreamRecord] = []
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
            metrics = compute_window_metrics(records, baseline, drift_threshold=env.drift_threshold,
                                             drift_min_rows=env.drift_min_rows,
                                             drift_records=[*parked, *records] if parked else None)
            key = write_snapshot(clients.s3, bucket, tenant=env.tenant, model=env.model_name, version=version,
                                 metrics=metrics, suffix=items[0].sequence_number)
            publish_metrics(clients.cloudwatch, env.tenant, env.model_name, version, metrics)
        except (ClientError, BotoCoreError):
            failed.extend(items)
            continue
        result.processed += _record_count(items)
        result.snapshots.append(key)
        result.metrics[version] = metrics

    result.failures = list(dict.fromkeys(i.sequence_number for i in failed))
    _advance_checkpoints(clients.s3, bucket, fresh, failed, checkpoints)
    return result


def _record_count(items: Sequence[StreamRecord]) -> int:
    """Kinesis records among ``items`` (an aggregated record's requests share its sequence number)."""
    return len({i.sequence_number for i in items})


def pending_key(model: str, version: str, shard_id: str) -> str:
    return f"{PENDING_PREFIX}/{model}/{version}/{shard_id}.json"


def _drift_window(
    s3: Any, bucket: str, env: MonitorSettings, version: str, items: Sequence[StreamRecord],
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
        data = [*pending["data"], *(raw_data[sequence] for sequence in dict.fromkeys(i.sequence_number for i in items))]
        s3.put_object(Bucket=bucket, Key=key, Body=orjson.dumps({"rows": pending["rows"] + rows, "data": data}),
                      ContentType="application/json")
        return []
    parked = decode_records({"kinesis": {"data": d, "sequenceNumber": str(n)}} for n, d in enumerate(pending["data"]))
    s3.delete_object(Bucket=bucket, Key=key)
    return [p.record for p in parked.records]


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
    "StreamRecord",
    "WindowArrays",
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
    "window_arrays",
    "write_snapshot",
]
