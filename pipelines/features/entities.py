"""The entity table of a training set: checked, and staged as Parquet for the point-in-time join.

An entity table holds each view's entity key columns, an ``event_timestamp`` column (time-zone
aware) and any other columns (the label, an id), which the training set keeps as they are. A CSV
table is streamed into Parquet first, with the string keys and the timestamps read as text, so a
key such as ``007`` keeps its zeros and the join reads one format with row numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from core.errors import FeatureDataError, Problem
from core.feature_spec import FeatureType, FeatureViewSpec

EVENT_TIMESTAMP = "event_timestamp"
#: DuckDB's row number of a Parquet row (``file_row_number``), the order of the training set
ROW_NUMBER = "file_row_number"
#: rows named per check in an error; the rest are counted
MAX_ROWS_NAMED = 20

_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"})
_ZONE_SUFFIX = r"(?i)(z|[+-]\d{2}(:?\d{2})?)\s*$"


@dataclass(frozen=True)
class EntityTable:
    """A checked entity table as Parquet, ready to be read by DuckDB with ``file_row_number``."""

    source: Path
    parquet: Path
    #: the columns in file order, with their DuckDB types
    columns: dict[str, str]
    rows: int

    @property
    def timestamp_is_text(self) -> bool:
        return self.columns[EVENT_TIMESTAMP] == "VARCHAR"


def stage_entity_table(source: Path, views: list[FeatureViewSpec], work_dir: Path) -> EntityTable:
    """Check ``source`` against ``views`` and return it as Parquet (CSV is converted into ``work_dir``).

    Raises :class:`FeatureDataError` naming the file and each bad column (and rows, for timestamps).
    """
    where = str(source)
    if not source.is_file():
        raise FeatureDataError([Problem(where, "the entity table does not exist")])
    suffix = source.suffix.lower()
    if suffix == ".csv":
        parquet = work_dir / "entities.parquet"
        _csv_to_parquet(source, views, parquet)
    elif suffix in (".parquet", ".pq"):
        parquet = source
    else:
        raise FeatureDataError(
            [Problem(where, "is neither Parquet (.parquet, .pq) nor CSV (.csv)", source.suffix)]
        )
    con = duckdb.connect()
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(parquet)]).fetchall()
        columns = {str(row[0]): str(row[1]) for row in described}
        problems = _column_problems(where, columns, views)
        if not problems and columns[EVENT_TIMESTAMP] == "VARCHAR":
            problems = _text_timestamp_problems(con, where, parquet)
    except duckdb.Error as err:
        raise FeatureDataError([Problem(where, f"is not a readable Parquet file: {err}")]) from err
    finally:
        con.close()
    if problems:
        raise FeatureDataError(problems, headline="invalid entity table")
    return EntityTable(
        source=source, parquet=parquet, columns=columns, rows=pq.ParquetFile(parquet).metadata.num_rows
    )


def _csv_to_parquet(source: Path, views: list[FeatureViewSpec], target: Path) -> None:
    text = {EVENT_TIMESTAMP: pa.string()} | {
        e.name: pa.string() for view in views for e in view.entities if e.type is FeatureType.STRING
    }
    try:
        reader = pacsv.open_csv(source, convert_options=pacsv.ConvertOptions(column_types=text))
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    except pa.ArrowInvalid as err:
        raise FeatureDataError([Problem(str(source), f"is not a readable CSV file: {err}")]) from err


def _column_problems(where: str, columns: dict[str, str], views: list[FeatureViewSpec]) -> list[Problem]:
    problems: list[Problem] = []
    if ROW_NUMBER in columns:
        problems.append(
            Problem(f"{where}: column {ROW_NUMBER}", "is reserved for the join's row order: rename it")
        )
    kind = columns.get(EVENT_TIMESTAMP)
    if kind is None:
        problems.append(
            Problem(f"{where}: column {EVENT_TIMESTAMP}", "is missing: the table needs each row's time")
        )
    elif kind.startswith("TIMESTAMP") and "TIME ZONE" not in kind:
        problems.append(
            Problem(
                f"{where}: column {EVENT_TIMESTAMP}",
                "holds timestamps without a time zone (naive): write them as UTC (timestamp with tz)",
                kind,
            )
        )
    elif kind not in ("VARCHAR", "TIMESTAMP WITH TIME ZONE"):
        problems.append(
            Problem(f"{where}: column {EVENT_TIMESTAMP}", "is not a timestamp with a time zone", kind)
        )
    seen: set[str] = set()
    for view in views:
        for entity in view.entities:
            if entity.name in seen:
                continue
            seen.add(entity.name)
            found = columns.get(entity.name)
            if found is None:
                problems.append(
                    Problem(
                        f"{where}: column {entity.name}", f"is missing: view {view.name!r} is keyed by it"
                    )
                )
            elif not _key_type_fits(entity.type, found):
                problems.append(
                    Problem(
                        f"{where}: column {entity.name}",
                        f"has type {found}, view {view.name!r} keys it as {entity.type.value}",
                    )
                )
        for feature in view.feature_names:
            if feature in columns:
                problems.append(
                    Problem(
                        f"{where}: column {feature}",
                        f"is a feature of view {view.name!r}, which the training set adds: rename or drop it",
                    )
                )
    return problems


def _key_type_fits(kind: FeatureType, found: str) -> bool:
    return found == "VARCHAR" if kind is FeatureType.STRING else found in _INTEGER_TYPES


def _text_timestamp_problems(con: duckdb.DuckDBPyConnection, where: str, parquet: Path) -> list[Problem]:
    problems: list[Problem] = []
    checks = (
        ("is missing: every row needs its time", f"{EVENT_TIMESTAMP} IS NULL"),
        (
            "has no time zone: add an offset such as +00:00 or Z",
            f"NOT regexp_matches({EVENT_TIMESTAMP}, '{_ZONE_SUFFIX}')",
        ),
        (
            "is not an ISO 8601 timestamp",
            f"regexp_matches({EVENT_TIMESTAMP}, '{_ZONE_SUFFIX}') AND TRY_CAST({EVENT_TIMESTAMP} AS TIMESTAMPTZ) IS NULL",
        ),
    )
    for message, condition in checks:
        bad = con.execute(
            f"SELECT {ROW_NUMBER}, {EVENT_TIMESTAMP}, count(*) OVER () FROM read_parquet(?, file_row_number=true) "
            f"WHERE {condition} ORDER BY {ROW_NUMBER} LIMIT {MAX_ROWS_NAMED}",
            [str(parquet)],
        ).fetchall()
        for row, value, _ in bad:
            problems.append(Problem(f"{where}: row {row + 1}, column {EVENT_TIMESTAMP}", message, value))
        if bad and bad[0][2] > MAX_ROWS_NAMED:
            problems.append(
                Problem(
                    f"{where}: column {EVENT_TIMESTAMP}",
                    f"{message}: {bad[0][2] - MAX_ROWS_NAMED} more row(s)",
                )
            )
    return problems


__all__ = ["EVENT_TIMESTAMP", "ROW_NUMBER", "EntityTable", "stage_entity_table"]
