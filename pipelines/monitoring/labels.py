"""Ground-truth labels delivered later, as files under ``labels/`` in the tenant's data bucket.

A labels file is CSV (with a header) or Parquet with the columns ``request_id`` (the id the inference
log carries for the request: the server's ``X-Request-Id`` answer header), optionally ``row`` (the
0-based row within a request of several rows; 0 when absent) and the model's target column (the
spec's ``model.target``). Other columns are ignored. See docs/monitoring.md#labels.

- A file that cannot be read, lacks a column, has an empty request id or label, or names one
  (request id, row) twice is rejected whole with a :class:`LabelsFileError` naming the file and the
  row (data rows count from 1; in a CSV file row N is on line N + 1). The other files still count.
- The same (request id, row) in several files: the latest file wins (S3 ``LastModified``, then the
  key), so a corrected label is delivered by a newer file; replaced labels are counted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from core.contract import LABELS_PREFIX
from core.errors import LabelsFileError

LABEL_SUFFIXES = (".csv", ".parquet")
REQUEST_ID_COLUMN = "request_id"
ROW_COLUMN = "row"
#: the label's column in :attr:`DeliveredLabels.labels` (the file's target column, renamed)
LABEL_COLUMN = "label"


def parse_labels_file(body: bytes, key: str, target: str) -> pd.DataFrame:
    """One labels file as a frame of ``request_id`` (str), ``row`` (int) and ``label``.

    Raises :class:`LabelsFileError` naming ``key`` and the first bad row."""
    where = f"labels file {key}"
    try:
        if key.lower().endswith(".parquet"):
            frame = pd.read_parquet(io.BytesIO(body))
        else:
            frame = pd.read_csv(io.BytesIO(body), dtype={REQUEST_ID_COLUMN: str, ROW_COLUMN: "string"})
    except Exception as err:  # pandas and pyarrow raise many types for a corrupt file
        raise LabelsFileError(
            f"{where}: cannot be read as {_kind(key)} ({type(err).__name__}: {err})"
        ) from err
    missing = [c for c in (REQUEST_ID_COLUMN, target) if c not in frame.columns]
    if missing:
        raise LabelsFileError(
            f"{where}: missing column(s) {', '.join(missing)}; a labels file has request_id, the target "
            f"column {target!r} and optionally row (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    ids = frame[REQUEST_ID_COLUMN]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise LabelsFileError(f"{where}: row {_row(blank)}: request_id is empty")
    labels = frame[target]
    if labels.isna().any():
        raise LabelsFileError(f"{where}: row {_row(labels.isna())}: the label ({target}) is empty")
    if ROW_COLUMN in frame.columns:
        rows = pd.to_numeric(frame[ROW_COLUMN], errors="coerce")
        bad = rows.isna() | (rows < 0) | (rows != rows.round())
        if bad.any():
            value = frame[ROW_COLUMN][bad].iloc[0]
            raise LabelsFileError(
                f"{where}: row {_row(bad)}: row must be a whole number >= 0 (got {value!r})"
            )
        rows = rows.astype("int64")
    else:
        rows = pd.Series(0, index=frame.index, dtype="int64")
    out = pd.DataFrame({REQUEST_ID_COLUMN: ids.astype(str), ROW_COLUMN: rows, LABEL_COLUMN: labels})
    twice = out.duplicated([REQUEST_ID_COLUMN, ROW_COLUMN], keep="first")
    if twice.any():
        at = int(twice.to_numpy().argmax())
        request, row = out[REQUEST_ID_COLUMN].iloc[at], int(out[ROW_COLUMN].iloc[at])
        first = int(((out[REQUEST_ID_COLUMN] == request) & (out[ROW_COLUMN] == row)).to_numpy().argmax()) + 1
        raise LabelsFileError(
            f"{where}: row {at + 1}: request {request!r} row {row} is labelled twice (also row {first}); "
            "a file labels each request row once (send a correction in a newer file)"
        )
    return out.reset_index(drop=True)


@dataclass
class DeliveredLabels:
    """Every valid label delivered since a time, the latest file's label per (request id, row)."""

    #: request_id, row, label, and ``file`` (the key it came from)
    labels: pd.DataFrame
    files: list[str] = field(default_factory=list)
    #: files rejected whole, with the reason (file and row)
    rejected: dict[str, str] = field(default_factory=dict)
    #: labels replaced by a newer file's label for the same request row
    superseded: int = 0


def load_labels(s3: Any, bucket: str, target: str, *, since: datetime | None = None) -> DeliveredLabels:
    """The labels under ``labels/`` in ``bucket`` from files modified at or after ``since``.

    A label can only be for a request logged before its file was written, so files older than the
    window's first prediction cannot label any of them and are not read."""
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=LABELS_PREFIX):
        for obj in page.get("Contents", []):
            if obj["Key"].lower().endswith(LABEL_SUFFIXES) and (
                since is None or obj["LastModified"] >= since
            ):
                found.append(obj)
    found.sort(key=lambda o: (o["LastModified"], o["Key"]))
    parts: list[pd.DataFrame] = []
    result = DeliveredLabels(labels=_empty())
    for obj in found:
        key = obj["Key"]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            frame = parse_labels_file(body, key, target)
        except LabelsFileError as err:
            result.rejected[key] = str(err)
            continue
        parts.append(frame.assign(file=key))
        result.files.append(key)
    if parts:
        every = pd.concat(parts, ignore_index=True)
        latest = every.drop_duplicates([REQUEST_ID_COLUMN, ROW_COLUMN], keep="last")
        result.superseded = len(every) - len(latest)
        result.labels = latest.reset_index(drop=True)
    return result


def labels_csv(request_ids: list[str], rows: list[int], labels: list[Any], target: str) -> bytes:
    """A labels file (CSV) in the format above, for writers such as ``tenantml traffic --labels``."""
    frame = pd.DataFrame({REQUEST_ID_COLUMN: request_ids, ROW_COLUMN: rows, target: labels})
    return frame.to_csv(index=False).encode()


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            REQUEST_ID_COLUMN: pd.Series(dtype=str),
            ROW_COLUMN: pd.Series(dtype="int64"),
            LABEL_COLUMN: pd.Series(dtype=object),
            "file": pd.Series(dtype=str),
        }
    )


def _row(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax()) + 1


def _kind(key: str) -> str:
    return "Parquet" if key.lower().endswith(".parquet") else "CSV"


__all__ = [
    "LABEL_COLUMN",
    "REQUEST_ID_COLUMN",
    "ROW_COLUMN",
    "DeliveredLabels",
    "labels_csv",
    "load_labels",
    "parse_labels_file",
]
