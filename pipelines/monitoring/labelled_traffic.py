"""Logged predictions kept for labels that arrive later, and their join with those labels.

The Kinesis stream keeps records for a day or a week; labels come back hours or days after the
request. So the monitor writes each batch's answered rows (request id, row, time, model version,
prediction and the features as logged) as one Parquet file under
``monitoring/_predictions/<model>/<yyyy>/<mm>/<dd>/<HH>/<version>_<first sequence>.parquet`` in the
artifacts bucket (hour of the batch's first request), and :func:`labelled_traffic` joins the files
of a window with the labels delivered since (:mod:`pipelines.monitoring.labels`). The same join
feeds live quality (:mod:`pipelines.monitoring.quality`) and retraining
(:mod:`pipelines.runs.retraining_data`).

A request logged with class probabilities (formats 6 and 7) keeps them: ``tenantml:classes`` (the
class list as JSON text, the same on every row of a model version, so Parquet stores it once per
page) and ``tenantml:probabilities`` (one float64 per class, in that order). Rows logged without
(older formats, regressors) have neither: null, or no such columns in files written before.

Rows of failed requests (no prediction) are not kept. A request too large for one Kinesis record
(over 1 MiB, thousands of rows) is logged in chunks; only its first chunk's rows are kept, as rows
0..n-1, since a later chunk does not say where its rows start.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd

from core.contract import MONITORING_PREFIX
from pipelines.monitoring.labels import (
    LABEL_COLUMN,
    REQUEST_ID_COLUMN,
    ROW_COLUMN,
    DeliveredLabels,
    load_labels,
)
from pipelines.monitoring.window import window_arrays

PREDICTIONS_PREFIX = f"{MONITORING_PREFIX}/_predictions"

#: the columns a predictions file has besides the features (named so that no feature collides)
META_REQUEST_ID = "tenantml:request_id"
META_ROW = "tenantml:row"
META_TIMESTAMP = "tenantml:timestamp"
META_VERSION = "tenantml:model_version"
META_PREDICTION = "tenantml:prediction"
#: rows logged with class probabilities: the class list (JSON text) and one probability per class
META_CLASSES = "tenantml:classes"
META_PROBABILITIES = "tenantml:probabilities"
META_COLUMNS = (
    META_REQUEST_ID,
    META_ROW,
    META_TIMESTAMP,
    META_VERSION,
    META_PREDICTION,
    META_CLASSES,
    META_PROBABILITIES,
)


def predictions_key(model: str, version: str, when: float, suffix: str) -> str:
    hour = datetime.fromtimestamp(when, UTC).strftime("%Y/%m/%d/%H")
    return f"{PREDICTIONS_PREFIX}/{model}/{hour}/{version}_{suffix}.parquet"


def predictions_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The answered rows of decoded records (:func:`~pipelines.monitoring.window.decode_records`)."""
    kept = [r for r in records if not r["error"] and r["chunk"] == 0 and r["predictions"] is not None]
    if not kept:
        return pd.DataFrame(columns=list(META_COLUMNS))
    numeric_names = list(dict.fromkeys(n for r in kept for n in r["numeric_features"]))
    categorical_names = list(dict.fromkeys(n for r in kept for n in r["categorical_features"]))
    groups: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for r in kept:  # records of one schema share interned name tuples: usually one group
        groups.setdefault((id(r["numeric_features"]), id(r["categorical_features"])), []).append(r)
    with_probabilities = any(r.get("probabilities") is not None for r in kept)
    parts = []
    for group in groups.values():
        arrays = window_arrays(group, numeric_names, categorical_names)
        counts = [r["n_rows"] for r in group]
        part: dict[str, Any] = {
            META_REQUEST_ID: np.repeat([r["request_id"] for r in group], counts),
            META_ROW: np.concatenate([np.arange(n, dtype="int64") for n in counts]),
            META_TIMESTAMP: np.repeat(np.array([r["timestamp"] for r in group], dtype="float64"), counts),
            META_VERSION: np.repeat([r["model_version"] for r in group], counts),
            META_PREDICTION: [p for r in group for p in r["predictions"]],
        }
        if with_probabilities:
            part[META_CLASSES], part[META_PROBABILITIES] = _probability_columns(group)
        for j, name in enumerate(numeric_names):
            part[name] = arrays.numeric[:, j]
        for j, name in enumerate(categorical_names):
            part[name] = arrays.categorical[:, j]
        parts.append(pd.DataFrame(part))
    frame = pd.concat(parts, ignore_index=True)
    for name in [META_PREDICTION, *categorical_names]:
        frame[name] = _one_type(frame[name])
    return frame


def _probability_columns(records: Sequence[Mapping[str, Any]]) -> tuple[list[str | None], list[Any]]:
    """Per row of ``records``: its classes as JSON text and its probability row (None for both
    when its request was logged without)."""
    texts: dict[tuple[Any, ...], str] = {}
    classes: list[str | None] = []
    rows: list[Any] = []
    for r in records:
        n = r["n_rows"]
        matrix = r.get("probabilities")
        if matrix is None:
            classes += [None] * n
            rows += [None] * n
            continue
        key = tuple(r["classes"])
        text = texts.get(key)
        if text is None:
            text = texts[key] = orjson.dumps(list(key)).decode()
        classes += [text] * n
        rows += list(np.asarray(matrix, dtype="float64"))
    return classes, rows


def logged_probabilities(rows: pd.DataFrame) -> tuple[np.ndarray, list[Any]] | None:
    """The class probabilities of ``rows`` (rows x classes) and their classes, when every row was
    logged with them under one class list; else None (some rows were logged without, or under
    other classes: nothing to score them all by)."""
    if rows.empty or META_CLASSES not in rows.columns:
        return None
    texts = rows[META_CLASSES]
    if texts.isna().any() or texts.nunique() != 1:
        return None
    return np.stack(rows[META_PROBABILITIES].to_numpy()), orjson.loads(texts.iloc[0])


def rows_without_probabilities(rows: pd.DataFrame) -> int:
    """How many of ``rows`` were logged without class probabilities."""
    if META_CLASSES not in rows.columns:
        return len(rows)
    return int(rows[META_CLASSES].isna().sum())


def write_logged_predictions(
    s3: Any, bucket: str, model: str, version: str, records: Sequence[Mapping[str, Any]], suffix: str
) -> str | None:
    """Keep ``records``' answered rows for a later label join; the key, or None when none was answered."""
    frame = predictions_frame(records)
    if frame.empty:
        return None
    key = predictions_key(model, version, float(frame[META_TIMESTAMP].min()), suffix)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    s3.put_object(
        Bucket=bucket, Key=key, Body=buffer.getvalue(), ContentType="application/vnd.apache.parquet"
    )
    return key


def read_logged_predictions(
    s3: Any, bucket: str, model: str, *, since: datetime, until: datetime
) -> pd.DataFrame:
    """The kept rows of ``model`` logged in [since, until] (every version)."""
    prefix = f"{PREDICTIONS_PREFIX}/{model}/"
    start_after = f"{prefix}{(since - timedelta(hours=1)).astimezone(UTC):%Y/%m/%d/%H}/~"
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, StartAfter=start_after
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
    parts = [pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    if not parts:
        return pd.DataFrame(columns=list(META_COLUMNS))
    frame = pd.concat(parts, ignore_index=True)
    stamps = frame[META_TIMESTAMP]
    inside = (stamps >= since.timestamp()) & (stamps <= until.timestamp())
    return frame[inside].reset_index(drop=True)


@dataclass
class LabelledTraffic:
    """A window of logged predictions joined with the labels delivered for them."""

    #: the joined rows: the predictions file's columns plus the label under the model's target name
    rows: pd.DataFrame
    window_start: datetime
    window_end: datetime
    #: logged rows in the window (labelled or not)
    logged_rows: int = 0
    #: labels whose request row is not among the window's logged predictions (a wrong id, a failed
    #: request, or a request older than the window): counted, not fatal
    unknown_labels: int = 0
    label_files: list[str] = field(default_factory=list)
    rejected_files: dict[str, str] = field(default_factory=dict)
    superseded_labels: int = 0


def labelled_traffic(
    s3: Any,
    *,
    artifacts_bucket: str,
    data_bucket: str,
    model: str,
    target: str,
    window_hours: int,
    now: datetime | None = None,
) -> LabelledTraffic:
    """Predictions of the last ``window_hours`` hours whose labels have arrived, with those labels."""
    end = now or datetime.now(UTC)
    start = end - timedelta(hours=window_hours)
    logged = read_logged_predictions(s3, artifacts_bucket, model, since=start, until=end)
    delivered = load_labels(s3, data_bucket, target, since=start)
    return join_labels(logged, delivered, target, start, end)


def join_labels(
    logged: pd.DataFrame, delivered: DeliveredLabels, target: str, start: datetime, end: datetime
) -> LabelledTraffic:
    labels = delivered.labels.rename(
        columns={REQUEST_ID_COLUMN: META_REQUEST_ID, ROW_COLUMN: META_ROW, LABEL_COLUMN: target}
    ).drop(columns=["file"])
    if not logged.empty and not labels.empty:
        labels[target] = _like(labels[target], logged[META_PREDICTION])
    joined = logged.merge(labels, on=[META_REQUEST_ID, META_ROW], how="inner", validate="many_to_one")
    # a request id logged twice (a client reusing X-Request-Id) is labelled once per logged row
    matched = labels.merge(
        logged[[META_REQUEST_ID, META_ROW]].drop_duplicates(), on=[META_REQUEST_ID, META_ROW], how="inner"
    )
    return LabelledTraffic(
        rows=joined,
        window_start=start,
        window_end=end,
        logged_rows=len(logged),
        unknown_labels=len(labels) - len(matched),
        label_files=delivered.files,
        rejected_files=delivered.rejected,
        superseded_labels=delivered.superseded,
    )


def _like(labels: pd.Series, predictions: pd.Series) -> pd.Series:
    """Labels in the predictions' type: a CSV gives ``1`` for a class the log holds as ``"1"``."""
    numeric = pd.api.types.is_numeric_dtype
    if not numeric(predictions) and numeric(labels):
        return labels.astype(str)
    if numeric(predictions) and not numeric(labels):
        converted = pd.to_numeric(labels, errors="coerce")
        return converted if not converted.isna().any() else labels
    return labels


def _one_type(column: pd.Series) -> pd.Series:
    """Parquet stores one type per column: a column of mixed value types (a categorical feature
    logged as numbers by one client and strings by another) is kept as strings."""
    if column.dtype != object:
        return column
    kinds = {type(v) for v in column if v is not None}
    if len(kinds) <= 1:
        return column
    return column.map(lambda v: None if v is None else str(v))


__all__ = [
    "META_CLASSES",
    "META_COLUMNS",
    "META_PREDICTION",
    "META_PROBABILITIES",
    "META_REQUEST_ID",
    "META_ROW",
    "META_TIMESTAMP",
    "META_VERSION",
    "PREDICTIONS_PREFIX",
    "LabelledTraffic",
    "join_labels",
    "labelled_traffic",
    "logged_probabilities",
    "predictions_frame",
    "predictions_key",
    "read_logged_predictions",
    "rows_without_probabilities",
    "write_logged_predictions",
]
