"""Live model quality: the tenant's primary metric on logged predictions whose labels came back.

:func:`measure_live_quality` joins the labelled window (:func:`labelled_traffic`: predictions of the
last ``quality_window_hours`` whose labels have arrived), computes the spec's primary metric on it
and publishes, in the tenant's namespace, ``LiveQuality`` and ``LabelledRows`` under dimensions
(Tenant, Model, Metric) and (Tenant, Model, Metric, ModelVersion) (``core.contract``). With fewer
than ``quality_min_rows`` labelled rows only ``LabelledRows`` is published: a metric over a handful of
rows is noise, and the alarm treats missing data as not breaching. The outcome is written to
``monitoring/quality/<model>/latest.json`` in the artifacts bucket.

What the log holds decides what can be measured. It carries each row's predicted label or value,
and, for a classifier with class probabilities, the probabilities (formats 6 and 7). The value is
:func:`pipelines.evaluation.metrics.metric_value`, the function training's evaluation uses:

- threshold metrics (accuracy, f1, precision, recall) and regression metrics are exact;
- ``roc_auc`` (binary, or one-vs-rest macro for more classes) and ``log_loss`` are computed on the
  logged probabilities, exactly as evaluation computes them on a holdout, when every labelled row
  was logged with probabilities under one class list;
- otherwise (rows logged by an older server, or a model without probabilities) ``roc_auc`` falls
  back to the predicted labels as scores (one-hot per class): the AUC of the model's decisions,
  for two classes the balanced accuracy, at most the AUC of its probabilities, and ``log_loss``
  cannot be computed and is not published (the count is). ``reason`` says so, with the count of
  rows logged without probabilities; ``scores`` in the record says which the value used.

:func:`maybe_measure_live_quality` is what the monitor calls after each batch: it measures at most
once per alarm period (``monitoring/quality/<model>/state.json``), or sooner when a labels file
arrived since the last measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from core.contract import (
    LABELLED_ROWS_METRIC,
    LABELS_PREFIX,
    LIVE_QUALITY_METRIC,
    MONITORING_PREFIX,
    live_quality_dimensions,
    metrics_namespace,
)
from core.spec import ModelSpec, ProblemType
from pipelines.monitoring.labelled_traffic import (
    META_PREDICTION,
    META_VERSION,
    LabelledTraffic,
    labelled_traffic,
    logged_probabilities,
    rows_without_probabilities,
)
from pipelines.runs.s3_json import put_json, read_json

QUALITY_PREFIX = f"{MONITORING_PREFIX}/quality"
#: metrics that need class probabilities: without them in the log, log_loss is not measured and
#: roc_auc falls back to the predicted labels as scores
NEEDS_PROBABILITIES = frozenset({"log_loss", "roc_auc"})
UNMEASURABLE_WITHOUT_PROBABILITIES = frozenset({"log_loss"})
#: what a value was computed on (``LiveQuality.scores``)
PROBABILITY_SCORES = "probabilities"
LABEL_SCORES = "predicted labels"


def quality_key(model: str) -> str:
    return f"{QUALITY_PREFIX}/{model}/latest.json"


def state_key(model: str) -> str:
    return f"{QUALITY_PREFIX}/{model}/state.json"


@dataclass(frozen=True)
class QualitySettings:
    tenant: str
    artifacts_bucket: str
    data_bucket: str
    spec: ModelSpec
    window_hours: int = 24
    min_rows: int = 50
    #: the alarm's period: measuring more often than the alarm reads adds cost, not information
    period_seconds: int = 60


@dataclass
class LiveQuality:
    metric: str
    #: None when there were too few labelled rows, or the metric cannot be computed (``reason``)
    value: float | None
    labelled_rows: int
    traffic: LabelledTraffic
    reason: str = ""
    #: per model version: (value or None, labelled rows)
    by_version: dict[str, tuple[float | None, int]] | None = None
    #: what the value was computed on: the logged probabilities, the predicted labels (or values)
    scores: str = LABEL_SCORES

    def as_dict(self) -> dict[str, Any]:
        t = self.traffic
        return {
            "metric": self.metric,
            "value": self.value,
            "labelled_rows": self.labelled_rows,
            "reason": self.reason,
            "scores": self.scores,
            "by_version": {
                v: {"value": x, "labelled_rows": n} for v, (x, n) in (self.by_version or {}).items()
            },
            "window_start": t.window_start.isoformat(),
            "window_end": t.window_end.isoformat(),
            "logged_rows": t.logged_rows,
            "unknown_labels": t.unknown_labels,
            "superseded_labels": t.superseded_labels,
            "label_files": len(t.label_files),
            "rejected_files": t.rejected_files,
        }


@dataclass(frozen=True)
class Measured:
    """One quality value, or None with the reason; ``reason`` also says why a value is approximate."""

    value: float | None
    reason: str = ""
    scores: str = LABEL_SCORES


def quality_of(spec: ModelSpec, rows: Any, *, min_rows: int) -> Measured:
    """The primary metric on labelled rows (:func:`labelled_traffic`'s): on their logged class
    probabilities when every row has them under one class list, else on the predicted labels."""
    y_true, y_pred = rows[spec.target], rows[META_PREDICTION]
    if spec.primary_metric in NEEDS_PROBABILITIES and len(rows) >= min_rows:
        logged = logged_probabilities(rows)
        if logged is not None:
            y_proba, classes = logged
            return quality_value(spec, y_true, y_pred, min_rows=min_rows, y_proba=y_proba, classes=classes)
        missing = rows_without_probabilities(rows)
        why = (
            f"{missing} of {len(rows)} labelled rows were logged without class probabilities (an older "
            "log format, or a model without predict_proba)"
            if missing
            else "the labelled rows were logged under different class lists"
        )
        if spec.primary_metric in UNMEASURABLE_WITHOUT_PROBABILITIES:
            return Measured(None, f"{spec.primary_metric} needs class probabilities: {why}")
        found = quality_value(spec, y_true, y_pred, min_rows=min_rows)
        if found.value is None:
            return found
        return Measured(
            found.value, f"{spec.primary_metric} on predicted labels as scores, approximate: {why}"
        )
    return quality_value(spec, y_true, y_pred, min_rows=min_rows)


def quality_value(
    spec: ModelSpec,
    y_true: Any,
    y_pred: Any,
    *,
    min_rows: int,
    y_proba: np.ndarray | None = None,
    classes: list[Any] | None = None,
) -> Measured:
    """The primary metric of ``y_pred`` (and ``y_proba``, rows x ``classes``, when logged) against
    ``y_true`` (see the module docstring), or None and why."""
    from pipelines.evaluation.metrics import metric_value

    metric = spec.primary_metric
    n = len(y_true)
    if n < min_rows:
        return Measured(None, f"{n} labelled rows, fewer than the {min_rows} a quality metric needs")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if spec.problem is ProblemType.REGRESSION:
        return Measured(metric_value(metric, y_true.astype("float64"), y_pred.astype("float64")))
    if metric == "roc_auc" and len(set(y_true.tolist())) < 2:
        return Measured(None, "roc_auc needs two or more classes among the labels")
    if y_proba is not None and classes is not None:
        unknown = sorted(set(y_true.tolist()) - set(classes), key=str)
        if unknown:
            return Measured(
                None, f"labels {unknown!r} are not among the model's classes {classes!r}", PROBABILITY_SCORES
            )
        try:
            value = metric_value(metric, y_true, y_pred, y_proba=y_proba, classes=classes)
        except ValueError as err:  # scikit-learn: a metric undefined on these labels
            return Measured(None, f"{metric} is undefined on these labels: {err}", PROBABILITY_SCORES)
        return Measured(value, "", PROBABILITY_SCORES)
    if metric in UNMEASURABLE_WITHOUT_PROBABILITIES:
        return Measured(None, f"{metric} needs class probabilities, which these rows were logged without")
    classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
    if metric == "roc_auc":
        one_hot = (y_pred[:, None] == np.asarray(classes, dtype=object)[None, :]).astype("float64")
        return Measured(metric_value(metric, y_true, y_pred, y_proba=one_hot, classes=classes))
    return Measured(metric_value(metric, y_true, y_pred, classes=classes))


def measure_live_quality(
    s3: Any, cloudwatch: Any, settings: QualitySettings, *, now: datetime | None = None
) -> LiveQuality:
    """Join, compute, publish and record the live quality of the tenant's model (module docstring)."""
    now = now or datetime.now(UTC)
    spec = settings.spec
    traffic = labelled_traffic(
        s3,
        artifacts_bucket=settings.artifacts_bucket,
        data_bucket=settings.data_bucket,
        model=spec.name,
        target=spec.target,
        window_hours=settings.window_hours,
        now=now,
    )
    rows = traffic.rows
    measured = quality_of(spec, rows, min_rows=settings.min_rows)
    by_version: dict[str, tuple[float | None, int]] = {}
    for version, part in rows.groupby(META_VERSION, sort=True):
        by_version[str(version)] = (quality_of(spec, part, min_rows=settings.min_rows).value, len(part))
    quality = LiveQuality(
        spec.primary_metric, measured.value, len(rows), traffic, measured.reason, by_version, measured.scores
    )
    publish_quality(cloudwatch, settings.tenant, spec, quality, now)
    put_json(s3, settings.artifacts_bucket, quality_key(spec.name), quality.as_dict())
    return quality


def publish_quality(
    cloudwatch: Any, tenant: str, spec: ModelSpec, quality: LiveQuality, when: datetime
) -> int:
    """PutMetricData: LabelledRows always, LiveQuality when measured; per model and per version."""
    base = [
        {"Name": k, "Value": v} for k, v in live_quality_dimensions(tenant, spec.name, quality.metric).items()
    ]
    data: list[dict[str, Any]] = []

    def add(dims: list[dict[str, str]], value: float | None, rows: int) -> None:
        data.append(
            {
                "MetricName": LABELLED_ROWS_METRIC,
                "Dimensions": dims,
                "Timestamp": when,
                "Value": float(rows),
                "Unit": "Count",
            }
        )
        if value is not None and math.isfinite(value):
            data.append(
                {
                    "MetricName": LIVE_QUALITY_METRIC,
                    "Dimensions": dims,
                    "Timestamp": when,
                    "Value": value,
                    "Unit": "None",
                }
            )

    add(base, quality.value, quality.labelled_rows)
    for version, (value, rows) in (quality.by_version or {}).items():
        add([*base, {"Name": "ModelVersion", "Value": version}], value, rows)
    for start in range(0, len(data), 150):
        cloudwatch.put_metric_data(Namespace=metrics_namespace(tenant), MetricData=data[start : start + 150])
    return len(data)


def maybe_measure_live_quality(
    s3: Any, cloudwatch: Any, settings: QualitySettings, *, now: datetime | None = None
) -> LiveQuality | None:
    """Measure when the last measurement is a period old or a labels file arrived since; else None."""
    now = now or datetime.now(UTC)
    body, _ = read_json(s3, settings.artifacts_bucket, state_key(settings.spec.name))
    last = orjson.loads(body) if body is not None else None
    if last is not None:
        measured_at = datetime.fromisoformat(last["measured_at"])
        due = (now - measured_at).total_seconds() >= settings.period_seconds
        if not due and not _labels_since(s3, settings.data_bucket, measured_at):
            return None
    quality = measure_live_quality(s3, cloudwatch, settings, now=now)
    put_json(s3, settings.artifacts_bucket, state_key(settings.spec.name), {"measured_at": now.isoformat()})
    return quality


def _labels_since(s3: Any, bucket: str, moment: datetime) -> bool:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=LABELS_PREFIX):
        if any(o["LastModified"] >= moment for o in page.get("Contents", [])):
            return True
    return False


def read_live_quality(s3: Any, bucket: str, model: str) -> dict[str, Any] | None:
    """The newest measurement (as written by :func:`measure_live_quality`), or None."""
    body, _ = read_json(s3, bucket, quality_key(model))
    return orjson.loads(body) if body is not None else None


__all__ = [
    "QUALITY_PREFIX",
    "LiveQuality",
    "Measured",
    "QualitySettings",
    "maybe_measure_live_quality",
    "measure_live_quality",
    "publish_quality",
    "quality_key",
    "quality_of",
    "quality_value",
    "read_live_quality",
]
