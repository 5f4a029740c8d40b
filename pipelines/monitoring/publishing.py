"""What the monitor leaves behind: CloudWatch metrics, JSON snapshots, baselines and shard checkpoints.

Metrics go to the tenant's namespace ``TenantML/<tenant>`` (``ErrorRate``, ``LatencyMs`` as values and counts so
CloudWatch can compute percentiles, ``FeatureDrift`` per feature); snapshots, cached baselines
and Kinesis checkpoints live in the tenant's artifacts bucket under ``monitoring/``.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from botocore.exceptions import ClientError

from core.contract import MONITORING_PREFIX, metrics_namespace
from core.errors import (
    BaselineNotFoundError,
    TenantmlError,
)
from pipelines.monitoring.baseline import Baseline
from pipelines.monitoring.window import WindowMetrics

CHECKPOINT_PREFIX = f"{MONITORING_PREFIX}/_checkpoints"


#: PutMetricData takes at most 1000 datums and 1 MB per call, and 150 values per datum
_DATUMS_PER_CALL = 150


_VALUES_PER_DATUM = 150


#: significant digits latencies keep when sent as Values/Counts (0.5% relative error at most)
_LATENCY_DIGITS = 3


def publish_metrics(
    cloudwatch: Any,
    tenant: str,
    model: str,
    version: str,
    metrics: WindowMetrics,
    *,
    timestamp: datetime | None = None,
    namespace: str | None = None,
) -> int:
    """PutMetricData for one window, under dimensions (Tenant, Model) and (Tenant, Model, ModelVersion).

    ``LatencyMs`` goes as Values/Counts (every request, rounded to three significant digits), so
    CloudWatch can compute the p99 the latency alarm reads. ``FeatureDrift`` carries a Feature
    dimension. Returns the number of datums sent.
    """
    when = timestamp or _metric_time(metrics.window_end)
    dimension_sets = [
        [{"Name": "Tenant", "Value": tenant}, {"Name": "Model", "Value": model}],
        [
            {"Name": "Tenant", "Value": tenant},
            {"Name": "Model", "Value": model},
            {"Name": "ModelVersion", "Value": version},
        ],
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
            data.append(
                {"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": value, "Unit": unit}
            )
        for start in range(0, len(latency_values), _VALUES_PER_DATUM):
            data.append(
                {
                    "MetricName": "LatencyMs",
                    "Dimensions": dims,
                    "Timestamp": when,
                    "Unit": "Milliseconds",
                    "Values": latency_values[start : start + _VALUES_PER_DATUM],
                    "Counts": latency_counts[start : start + _VALUES_PER_DATUM],
                }
            )
        for name, drift in metrics.features.items():
            if drift.psi is not None and metrics.drift_scored:
                data.append(
                    {
                        "MetricName": "FeatureDrift",
                        "Dimensions": [*dims, {"Name": "Feature", "Value": name}],
                        "Timestamp": when,
                        "Value": drift.psi,
                        "Unit": "None",
                    }
                )
    # the tenant's own namespace: the only one its roles may publish into
    namespace = namespace or metrics_namespace(tenant)
    for start in range(0, len(data), _DATUMS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + _DATUMS_PER_CALL])
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
    if (
        window_end is None
        or not math.isfinite(window_end)
        or window_end > now
        or window_end < now - 13 * 86_400
    ):
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
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=orjson.dumps(body, option=orjson.OPT_INDENT_2),
        ContentType="application/json",
    )
    return key


_BASELINES: dict[tuple[str, str, str], Baseline] = {}


def baseline_key(run_id: str) -> str:
    """Where a run stores its training baseline (see :mod:`pipelines.runs.steps.evaluate`)."""
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
        raise BaselineNotFoundError(
            f"{where}: not a registry version number; cannot find its baseline"
        ) from err
    try:
        lineage = registry.get_model_version(number).lineage
    except TenantmlError as err:
        raise BaselineNotFoundError(f"{where}: {err}") from err
    if lineage is None:
        raise BaselineNotFoundError(
            f"{where} has no lineage (registered outside tenantml); no baseline to compare"
        )
    key = baseline_key(lineage.run_id)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        raise BaselineNotFoundError(
            f"{where}: s3://{bucket}/{key} does not exist; was run {lineage.run_id} validated?"
        ) from err
    baseline = Baseline.from_json(body)
    _BASELINES[cache_key] = baseline
    return baseline


def clear_baseline_cache() -> None:
    _BASELINES.clear()


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
    body = orjson.dumps(
        {"shard_id": shard_id, "sequence_number": str(sequence_number), "written_at": time.time()}
    )
    s3.put_object(Bucket=bucket, Key=checkpoint_key(shard_id), Body=body, ContentType="application/json")
