"""Request bodies into a feature matrix, checked against the model's input signature.

The hot path builds numpy arrays straight from the parsed body (no pandas): numeric features go
into one float64 matrix (``NaN`` = missing), categorical ones into one object matrix (``None`` =
missing), each in signature order. Fast conversions are tried first; when one fails, a slow pass
over the same rows finds the first bad value so the error names its row and column.

Accepted bodies:

- ``text/csv``: one row per line, no header; or a first line that names the features (any order).
  An empty field is a missing value.
- ``application/json``: ``{"instances": [...]}``, ``{"inputs": [...]}`` or a bare list, holding
  rows (lists of values in signature order) or records (objects keyed by feature name). ``null``
  is a missing value; a record without a feature's key is an error (a typo must not silently
  become a missing value), and so is a key that is not a feature.

Numeric features take numbers and numeric strings; ``NaN``/empty/``null`` are missing; infinite
values are refused. Categorical features take strings, and numbers or booleans, which are compared
as their ``str()`` the way training saw them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from core.errors import InferenceInputError
from pipelines.data.features import FeatureSignature

try:  # pandas' missing marker, for batch inference frames
    from pandas import NA as _PD_NA
except ImportError:  # pragma: no cover - pandas is a dependency
    _PD_NA = object()

#: how many problems one error message lists at most
_MAX_LISTED = 10


@dataclass(frozen=True)
class FeatureBatch:
    """Rows of features: ``numeric`` (n, numeric features) float64, ``categorical`` (n, categorical
    features) object or ``None`` when the model has no categorical feature; ``first_row`` is the
    number of the first row in the request or file, for error messages."""

    numeric: np.ndarray
    categorical: np.ndarray | None
    n_rows: int
    first_row: int = 1


class InputSchema:
    """The model's input signature, with the lookups the parsers need."""

    def __init__(self, signature: Sequence[FeatureSignature]) -> None:
        if not signature:
            raise ValueError("a model needs at least one input feature")
        self.signature = list(signature)
        self.names = [f.name for f in self.signature]
        self.numeric_names = [f.name for f in self.signature if f.kind == "numeric"]
        self.categorical_names = [f.name for f in self.signature if f.kind == "categorical"]
        self.numeric_only = not self.categorical_names
        self.position = {name: i for i, name in enumerate(self.names)}
        self.name_set = frozenset(self.names)
        # for each signature column: True when numeric, and its index among its kind
        self._numeric_cols = [i for i, f in enumerate(self.signature) if f.kind == "numeric"]
        self._categorical_cols = [i for i, f in enumerate(self.signature) if f.kind == "categorical"]

    @property
    def n_features(self) -> int:
        return len(self.names)

    # --- building batches ---------------------------------------------------------------------

    def batch_from_rows(self, rows: list[Sequence[Any]], *, first_row: int = 1) -> FeatureBatch:
        """Rows of values in signature order (strings from CSV or JSON values)."""
        n = self.n_features
        for i, row in enumerate(rows):
            if len(row) != n:
                raise InferenceInputError(
                    f"row {i + first_row}: expected {n} values (one per feature: "
                    f"{_names_preview(self.names)}), got {len(row)}"
                )
        if self.numeric_only:
            numeric = _fast_float_matrix(rows, n)
            if numeric is None:
                numeric = self._slow_numeric(rows, self._numeric_cols, first_row)
            return FeatureBatch(numeric=numeric, categorical=None, n_rows=len(rows), first_row=first_row)
        cols = self._numeric_cols
        numeric = _fast_float_matrix([[row[c] for c in cols] for row in rows], len(cols))
        if numeric is None:
            numeric = self._slow_numeric(rows, cols, first_row)
        categorical = self._categorical(rows, self._categorical_cols, first_row, self.names)
        return FeatureBatch(numeric=numeric, categorical=categorical, n_rows=len(rows), first_row=first_row)

    def batch_from_records(self, records: list[dict[str, Any]], *, first_row: int = 1) -> FeatureBatch:
        """JSON objects keyed by feature name."""
        names = self.names
        name_set = self.name_set
        rows: list[list[Any]] = []
        for i, record in enumerate(records):
            if record.keys() != name_set:
                keys = set(record)
                missing = [name for name in names if name not in keys]
                unknown = sorted(k for k in keys if k not in name_set)
                parts = []
                if missing:
                    parts.append(f"missing field(s) {_quoted(missing)}")
                if unknown:
                    parts.append(f"unknown field(s) {_quoted(unknown)}")
                raise InferenceInputError(
                    f"record {i + first_row}: {'; '.join(parts)}; a record needs exactly the model's "
                    f"features (use null for a missing value)"
                )
            rows.append([record[name] for name in names])
        return self.batch_from_rows(rows, first_row=first_row)

    def rows_from_batch(self, batch: FeatureBatch) -> list[dict[str, Any]]:
        """Per-row ``{feature: value}`` dicts in signature order (``None`` for missing), for logging."""
        numeric = batch.numeric.tolist()
        categorical = batch.categorical.tolist() if batch.categorical is not None else None
        out = []
        numeric_names = self.numeric_names
        for r in range(batch.n_rows):
            row = {
                name: (None if math.isnan(v) else v)
                for name, v in zip(numeric_names, numeric[r], strict=True)
            }
            if categorical is not None:
                row.update(zip(self.categorical_names, categorical[r], strict=True))
            out.append(row)
        if self.numeric_only or self.names == self.numeric_names + self.categorical_names:
            return out
        return [{name: row[name] for name in self.names} for row in out]

    def _slow_numeric(self, rows: list[Sequence[Any]], cols: list[int], first_row: int) -> np.ndarray:
        out = np.empty((len(rows), len(cols)), dtype=np.float64)
        for r, row in enumerate(rows):
            for j, c in enumerate(cols):
                out[r, j] = self._number(row[c], r + first_row, c)
        return out

    def _number(self, value: Any, row: int, col: int) -> float:
        if value is None:
            return math.nan
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return math.nan
            try:
                number = float(text)
            except ValueError:
                raise InferenceInputError(
                    f"row {row}, column {self.names[col]!r}: {value[:50]!r} is not a number "
                    "(numeric feature; leave the field empty or use null for a missing value)"
                ) from None
        else:
            raise InferenceInputError(
                f"row {row}, column {self.names[col]!r}: expected a number, got {_json_type(value)}"
            )
        if math.isinf(number):
            raise InferenceInputError(
                f"row {row}, column {self.names[col]!r}: infinite values are not accepted"
            )
        return number

    @staticmethod
    def _categorical(
        rows: list[Sequence[Any]], cols: list[int], first_row: int, names: Sequence[str]
    ) -> np.ndarray:
        out = np.empty((len(rows), len(cols)), dtype=object)
        for r, row in enumerate(rows):
            for j, c in enumerate(cols):
                value = row[c]
                if _is_missing(value):
                    out[r, j] = None
                elif isinstance(value, str):
                    out[r, j] = value if value else None
                elif isinstance(value, (bool, int, float)):
                    out[r, j] = str(value)
                else:
                    raise InferenceInputError(
                        f"row {r + first_row}, column {names[c]!r}: expected a string, got "
                        f"{_json_type(value)}"
                    )
        return out

    def batch_from_frame(self, frame: Any, *, first_row: int = 1) -> FeatureBatch:
        """A pandas DataFrame (batch inference) with at least the feature columns."""
        missing = [name for name in self.names if name not in frame.columns]
        if missing:
            raise InferenceInputError(f"missing column(s) {_quoted(missing)}")
        numeric = np.empty((len(frame), len(self.numeric_names)), dtype=np.float64)
        for j, name in enumerate(self.numeric_names):
            column = frame[name]
            try:
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                values = None
            if values is None or np.isinf(values).any():
                # find and name the first bad value
                for r, value in enumerate(column.tolist()):
                    if not _is_missing(value):
                        self._number(value, r + first_row, self.position[name])
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            numeric[:, j] = values
        categorical = None
        if self.categorical_names:
            rows = frame[self.categorical_names].astype(object).to_numpy().tolist()
            cols = list(range(len(self.categorical_names)))
            categorical = self._categorical(rows, cols, first_row, self.categorical_names)
        return FeatureBatch(numeric=numeric, categorical=categorical, n_rows=len(frame), first_row=first_row)


# --- body parsers --------------------------------------------------------------------------------


def parse_csv(body: bytes, schema: InputSchema) -> FeatureBatch:
    return csv_batch(csv_body_rows(body), schema)


def csv_body_rows(body: bytes) -> list[list[str]]:
    """A CSV body's non-empty rows (the first may be a header); 400 when it is not CSV or empty."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InferenceInputError(f"the CSV body is not UTF-8 text (byte {err.start})") from None
    if '"' in text:
        rows = _csv_rows(text)
    else:
        rows = [line.split(",") for line in text.splitlines() if line.strip()]
    if not rows:
        raise InferenceInputError("the CSV body has no rows", code="empty_body")
    return rows


def csv_batch(rows: list[list[str]], schema: InputSchema) -> FeatureBatch:
    """:func:`parse_csv` after :func:`csv_body_rows`."""
    header = [cell.strip() for cell in rows[0]]
    if any(cell in schema.name_set for cell in header):
        return _with_header(header, rows[1:], schema)
    return schema.batch_from_rows(rows)


def _csv_rows(text: str) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if row:
                rows.append(row)
    except csv.Error as err:
        # the csv module's own limit (a process-wide setting we leave alone): no feature value is
        # that long, and the module names neither the row nor the column
        if "field larger than field limit" in str(err):
            problem = f"a field is longer than {csv.field_size_limit()} characters"
        else:
            problem = str(err)
        raise InferenceInputError(
            f"CSV row {len(rows) + 1} (line {reader.line_num}): {problem}; check the quoting of that row"
        ) from None
    return rows


def _with_header(header: list[str], rows: list[list[str]], schema: InputSchema) -> FeatureBatch:
    seen: set[str] = set()
    duplicated = sorted({c for c in header if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    missing = [name for name in schema.names if name not in seen]
    unknown = [c for c in header if c not in schema.name_set]
    problems = []
    if missing:
        problems.append(f"missing column(s) {_quoted(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {_quoted(unknown)}")
    if duplicated:
        problems.append(f"duplicated column(s) {_quoted(duplicated)}")
    if problems:
        raise InferenceInputError(f"CSV header: {'; '.join(problems)}")
    if not rows:
        raise InferenceInputError("the CSV body has a header but no rows", code="empty_body")
    n = len(header)
    for i, row in enumerate(rows):
        if len(row) != n:
            raise InferenceInputError(f"row {i + 1}: expected {n} values (as in the header), got {len(row)}")
    if header != schema.names:
        order = [header.index(name) for name in schema.names]
        rows = [[row[i] for i in order] for row in rows]
    return schema.batch_from_rows(rows)


def parse_json(body: bytes, schema: InputSchema) -> FeatureBatch:
    items, where = json_body_items(body)
    return json_batch(items, where, schema)


def json_body_items(body: bytes) -> tuple[list[Any], str]:
    """A JSON body's rows or records, and where they were (``instances``, ``inputs`` or ``body``)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InferenceInputError(f"the body is not valid JSON: {err}") from None
    if isinstance(data, dict):
        keys = [k for k in ("instances", "inputs") if k in data]
        if len(keys) != 1:
            raise InferenceInputError(
                'a JSON object body needs exactly one of "instances" (rows or records) or '
                f'"inputs" (records); got keys {_quoted(sorted(data)) or "none"}'
            )
        items = data[keys[0]]
        where = keys[0]
    elif isinstance(data, list):
        items = data
        where = "body"
    else:
        raise InferenceInputError(f"the JSON body must be an object or a list, got {_json_type(data)}")
    if not isinstance(items, list):
        raise InferenceInputError(f'"{where}" must be a list of rows or records, got {_json_type(items)}')
    if not items:
        raise InferenceInputError(f'"{where}" holds no rows', code="empty_body")
    return items, where


def json_batch(items: list[Any], where: str, schema: InputSchema) -> FeatureBatch:
    """:func:`parse_json` after :func:`json_body_items`."""
    first = items[0]
    if isinstance(first, list):
        for i, item in enumerate(items):
            if not isinstance(item, list):
                raise InferenceInputError(
                    f"row {i + 1}: expected a list of values like row 1, got {_json_type(item)}"
                )
        return schema.batch_from_rows(items)
    if isinstance(first, dict):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InferenceInputError(
                    f"record {i + 1}: expected an object like record 1, got {_json_type(item)}"
                )
        return schema.batch_from_records(items)
    raise InferenceInputError(
        f'each item of "{where}" must be a row (a list of {schema.n_features} values) or a record '
        f"(an object keyed by feature name); item 1 is {_json_type(first)}"
    )


# --- helpers -----------------------------------------------------------------------------------


def _fast_float_matrix(rows: list[Sequence[Any]], n: int) -> np.ndarray | None:
    """All-numeric rows straight through numpy; ``None`` when anything needs the careful path."""
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if matrix.shape != (len(rows), n) or np.isinf(matrix).any():
        return None
    return matrix


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is _PD_NA


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quoted(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _names_preview(names: Sequence[str]) -> str:
    return _quoted(list(names))


__all__ = [
    "FeatureBatch",
    "InputSchema",
    "csv_batch",
    "csv_body_rows",
    "json_batch",
    "json_body_items",
    "parse_csv",
    "parse_json",
]
