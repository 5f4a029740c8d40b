"""One monitoring window: Kinesis records decoded into arrays, and the drift and health they show.

:func:`decode_records` turns a Kinesis batch into inference payloads (every readable format,
malformed records counted and skipped one at a time); :func:`window_arrays` stacks them into
columns; :func:`compute_window_metrics` scores drift against the training baseline and health
(requests, errors, latency percentiles by nearest rank).
"""

from __future__ import annotations

import binascii
import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from core.errors import (
    InferenceRecordError,
)
from core.percentiles import nearest_rank_index
from pipelines.inference_log.decoding import InferenceRecord, attach_numeric, normalize_record, parse_payloads
from pipelines.monitoring.baseline import Baseline, CategoricalSummary, NumericSummary
from pipelines.monitoring.drift import FeatureDrift, as_float, category_shares, column_drift

#: PSI above this marks a feature as drifted unless the tenant's model spec says otherwise
DEFAULT_DRIFT_THRESHOLD = 0.2


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
    records: Sequence[InferenceRecord | Mapping[str, Any]],
    numeric_names: Sequence[str],
    categorical_names: Sequence[str],
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
