"""Checking landed feature rows against their view and converting them to the offline schema.

Every problem is collected before anything is raised, so one :class:`FeatureDataError` lists them
all: schema drift (a declared column missing, an undeclared column, a column of the wrong type),
missing entity keys, duplicate rows for one entity and event time, timestamps without a time
zone, unparseable or in the future. Rows are numbered from 1, the first row after a CSV's header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import FeatureDataError, Problem
from core.feature_layout import INGESTED_AT_COLUMN
from core.feature_spec import FeatureType, FeatureViewSpec

#: an event time this far past "now" is a clock or time-zone mistake at the producer, not news
FUTURE_TOLERANCE = timedelta(minutes=5)
#: rows named per column and check; the rest are counted, so a wholly broken file stays readable
MAX_ROWS_NAMED = 20

TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_TYPES: dict[FeatureType, pa.DataType] = {
    FeatureType.INT64: pa.int64(),
    FeatureType.FLOAT64: pa.float64(),
    FeatureType.STRING: pa.string(),
    FeatureType.BOOL: pa.bool_(),
}

# how text (CSV cells) must look to be a value of each type
_TEXT_PATTERNS: dict[FeatureType, str] = {
    FeatureType.INT64: r"^\s*[+-]?\d+\s*$",
    FeatureType.FLOAT64: r"^\s*[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$",
    FeatureType.BOOL: r"^\s*(true|false|1|0)\s*$",
}
_ZONE_SUFFIX = r"(z|[+-]\d{2}(:?\d{2})?)\s*$"


def offline_schema(view: FeatureViewSpec) -> pa.Schema:
    """The columns of the view's offline Parquet files, in order."""
    fields = [pa.field(e.name, ARROW_TYPES[e.type]) for e in view.entities]
    fields += [pa.field(f.name, ARROW_TYPES[f.type]) for f in view.features]
    fields += [pa.field(name, TIMESTAMP) for name in timestamp_columns(view)]
    return pa.schema([*fields, pa.field(INGESTED_AT_COLUMN, TIMESTAMP)])


def timestamp_columns(view: FeatureViewSpec) -> list[str]:
    return [view.timestamp] + ([view.created_timestamp] if view.created_timestamp else [])


@dataclass
class _Problems:
    source: str
    found: list[Problem] = field(default_factory=list)

    def column(self, column: str, message: str, value: object = None) -> None:
        self.found.append(Problem(f"{self.source}: column {column}", message, value))

    def rows(
        self, column: str, rows: np.ndarray, message: str, values: Sequence[object] | None = None
    ) -> None:
        for position, row in enumerate(rows[:MAX_ROWS_NAMED]):
            value = None if values is None else values[position]
            self.found.append(Problem(f"{self.source}: row {row + 1}, column {column}", message, value))
        if len(rows) > MAX_ROWS_NAMED:
            self.found.append(
                Problem(
                    f"{self.source}: column {column}", f"{message}: {len(rows) - MAX_ROWS_NAMED} more row(s)"
                )
            )


def validate_rows(
    table: pa.Table, view: FeatureViewSpec, *, source: str, now: datetime, from_text: bool
) -> pa.Table:
    """The rows as the offline store keeps them (:func:`offline_schema` without ``ingested_at``).

    ``from_text``: the columns are CSV text, converted per row (a Parquet column must have the
    declared type already). Raises :class:`FeatureDataError` listing every problem.
    """
    problems = _Problems(source)
    declared = [*view.entity_names, *view.feature_names, *timestamp_columns(view)]
    for name in declared:
        if name not in table.column_names:
            problems.column(name, "is declared by the view but missing from the file")
    for name in table.column_names:
        if name not in declared:
            problems.column(
                name, f"is not declared by view {view.name!r} (declare it, or drop it from the file)"
            )

    kinds = {e.name: e.type for e in view.entities} | {f.name: f.type for f in view.features}
    converted: dict[str, pa.Array] = {}
    for name, kind in kinds.items():
        if name in table.column_names:
            converted[name] = _convert(table[name].combine_chunks(), name, kind, from_text, problems)
    for name in timestamp_columns(view):
        if name in table.column_names:
            converted[name] = _convert_timestamps(table[name].combine_chunks(), name, problems)

    for name in view.entity_names:
        if name in converted:
            _check_keys_present(table[name].combine_chunks(), name, problems)
    if view.timestamp in converted:
        _check_not_future(converted[view.timestamp], view.timestamp, now, problems)
    if set(_identity(view)) <= converted.keys():
        _check_duplicates({c: converted[c] for c in _identity(view)}, problems)

    if problems.found:
        raise FeatureDataError(problems.found)
    schema = offline_schema(view)
    return pa.table(
        {name: converted[name] for name in declared},
        schema=schema.remove(schema.get_field_index(INGESTED_AT_COLUMN)),
    )


def _identity(view: FeatureViewSpec) -> list[str]:
    """The columns that make a row unique: the entities, the event time, the created time."""
    return [*view.entity_names, *timestamp_columns(view)]


def _convert(
    column: pa.Array, name: str, kind: FeatureType, from_text: bool, problems: _Problems
) -> pa.Array:
    target = ARROW_TYPES[kind]
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        if kind is FeatureType.STRING:
            return column.cast(pa.string())
        if from_text:
            return _parse_text(column, name, kind, problems)
    elif (
        (kind is FeatureType.INT64 and pa.types.is_integer(column.type))
        or (
            kind is FeatureType.FLOAT64
            and (pa.types.is_floating(column.type) or pa.types.is_integer(column.type))
        )
        or (kind is FeatureType.BOOL and pa.types.is_boolean(column.type))
        or pa.types.is_null(column.type)
    ):
        try:
            return column.cast(target)
        except pa.ArrowInvalid as err:  # a uint64 beyond int64
            problems.column(name, f"does not fit {kind.value}: {err}")
            return pa.nulls(len(column), target)
    problems.column(name, f"has type {column.type}, the view declares {kind.value}")
    return pa.nulls(len(column), target)


def _parse_text(column: pa.Array, name: str, kind: FeatureType, problems: _Problems) -> pa.Array:
    target = ARROW_TYPES[kind]
    fits = pc.match_substring_regex(column, _TEXT_PATTERNS[kind], ignore_case=True)
    bad = pc.and_(pc.is_valid(column), pc.invert(fits.fill_null(True)))
    bad_rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    if len(bad_rows):
        problems.rows(
            name,
            bad_rows,
            f"is not a value of type {kind.value}",
            column.take(bad_rows[:MAX_ROWS_NAMED]).to_pylist(),
        )
    clean = pc.if_else(bad, pa.scalar(None, pa.string()), pc.utf8_trim_whitespace(column))
    if kind is FeatureType.BOOL:
        lowered = pc.utf8_lower(clean)
        return pc.or_(pc.equal(lowered, "true"), pc.equal(lowered, "1"))
    return clean.cast(target)


def _convert_timestamps(column: pa.Array, name: str, problems: _Problems) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            problems.column(
                name,
                "holds timestamps without a time zone: write them as UTC (timestamp with tz) in the file",
            )
            return pa.nulls(len(column), TIMESTAMP)
        _check_timestamps_present(column, name, problems)
        return pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False).cast(TIMESTAMP)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        problems.column(name, f"has type {column.type}, expected a timestamp with a time zone")
        return pa.nulls(len(column), TIMESTAMP)
    text = column.cast(pa.string())
    _check_timestamps_present(text, name, problems)
    zoned = pc.match_substring_regex(text, _ZONE_SUFFIX, ignore_case=True).fill_null(True)
    naive = np.flatnonzero(pc.invert(zoned).to_numpy(zero_copy_only=False))
    if len(naive):
        problems.rows(
            name,
            naive,
            "has no time zone: add an offset such as +00:00 or Z",
            text.take(naive[:MAX_ROWS_NAMED]).to_pylist(),
        )
    values = text.to_pandas()
    values[~zoned.to_numpy(zero_copy_only=False)] = None
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    unparseable = np.flatnonzero((parsed.isna() & values.notna()).to_numpy())
    if len(unparseable):
        problems.rows(
            name,
            unparseable,
            "is not an ISO 8601 timestamp",
            text.take(unparseable[:MAX_ROWS_NAMED]).to_pylist(),
        )
    return pa.array(parsed.dt.as_unit("us"), type=TIMESTAMP, from_pandas=True)


def _check_timestamps_present(column: pa.Array, name: str, problems: _Problems) -> None:
    missing = np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))
    if len(missing):
        problems.rows(name, missing, "is missing: every row needs its timestamp")


def _check_keys_present(column: pa.Array, name: str, problems: _Problems) -> None:
    missing = pc.is_null(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        missing = pc.or_(missing, pc.equal(pc.utf8_trim_whitespace(column), "").fill_null(True))
    rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
    if len(rows):
        problems.rows(name, rows, "entity key is missing (null or empty)")


def _check_not_future(column: pa.Array, name: str, now: datetime, problems: _Problems) -> None:
    limit = pa.scalar(now + FUTURE_TOLERANCE, TIMESTAMP)
    late = pc.greater(column, limit).fill_null(False)
    rows = np.flatnonzero(late.to_numpy(zero_copy_only=False))
    if len(rows):
        shown = [value.isoformat() for value in column.take(rows[:MAX_ROWS_NAMED]).to_pylist()]
        problems.rows(name, rows, f"is in the future (after {limit.as_py().isoformat()})", shown)


def _check_duplicates(columns: dict[str, pa.Array], problems: _Problems) -> None:
    frame = pa.table(columns).to_pandas()
    frame = frame[frame.notna().all(axis=1)]  # rows with a missing part are reported already
    repeated = frame[frame.duplicated(keep=False)]
    if repeated.empty:
        return
    names = list(columns)
    for count, (key, group) in enumerate(repeated.groupby(names, sort=True)):
        if count == MAX_ROWS_NAMED:
            problems.found.append(
                Problem(
                    f"{problems.source}", f"and more duplicate rows ({len(repeated)} duplicate rows in all)"
                )
            )
            break
        rows = ", ".join(str(i + 1) for i in group.index)
        identity = ", ".join(f"{n}={_shown(v)}" for n, v in zip(names, key, strict=True))
        problems.found.append(
            Problem(
                f"{problems.source}: rows {rows}, columns {', '.join(names)}",
                f"duplicate rows for {identity}: keep one row per entity and time",
            )
        )


def _shown(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


__all__ = [
    "ARROW_TYPES",
    "FUTURE_TOLERANCE",
    "MAX_ROWS_NAMED",
    "TIMESTAMP",
    "offline_schema",
    "timestamp_columns",
    "validate_rows",
]
