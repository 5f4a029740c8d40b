"""Point-in-time joins: each entity row gets every view's features as they were at its time.

For an entity row at time ``t`` and a view, the feature row is the one of the same entity with the
largest event time ``<= t`` (a row at exactly ``t`` counts, a later one never), and only if
``t - event time <= ttl``; of several rows at that event time the latest created, then the latest
ingested wins. No such row: the features are null.

Two renderings of the same join:

* :func:`write_training_set`: DuckDB's ``ASOF LEFT JOIN`` over local Parquet files, out of core
  (a memory limit, spilling to a temporary directory), written straight to Parquet or CSV;
* :func:`athena_training_set_sql`: the same rules as a plain SQL window query over the Glue tables
  of the views, for Athena at AWS scale (Athena has no ASOF join).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.errors import FeatureDataError, Problem
from core.feature_layout import INGESTED_AT_COLUMN
from core.feature_spec import FeatureViewSpec
from pipelines.features.entities import EVENT_TIMESTAMP, ROW_NUMBER, EntityTable


@dataclass(frozen=True)
class DuckDbSettings:
    """How much DuckDB may hold in memory before it spills to ``temp_directory``."""

    temp_directory: Path
    memory_limit: str = "2GB"
    #: None: DuckDB's default, one per core
    threads: int | None = None


def connect(settings: DuckDbSettings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never loads an extension it does not ship with, and works in UTC."""
    settings.temp_directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int] = {
        "memory_limit": settings.memory_limit,
        "temp_directory": str(settings.temp_directory),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "preserve_insertion_order": True,
    }
    if settings.threads is not None:
        config["threads"] = settings.threads
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_scan(files: Sequence[Path]) -> str:
    """``read_parquet`` over ``files``; files written before a feature was added read it as null."""
    listed = ", ".join(literal(os.fspath(f)) for f in files)
    return f"read_parquet([{listed}], union_by_name = true)"


def _tie_order(view: FeatureViewSpec) -> str:
    """Among rows of one entity at one event time: the latest created, then the latest ingested."""
    order = [f"{quote(view.created_timestamp)} DESC NULLS LAST"] if view.created_timestamp else []
    return ", ".join([*order, f"{quote(INGESTED_AT_COLUMN)} DESC NULLS LAST"])


def view_rows_sql(view: FeatureViewSpec, files: Sequence[Path]) -> str:
    """The view's rows, one per entity and event time (the winner of each tie)."""
    keys = ", ".join(quote(e) for e in [*view.entity_names, view.timestamp])
    return (
        f"SELECT * FROM {parquet_scan(files)} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {_tie_order(view)}) = 1"
    )


def latest_rows_sql(view: FeatureViewSpec, files: Sequence[Path], *, bounded_below: bool) -> str:
    """The latest row per entity with ``? <= event time < ?`` (or ``< ?`` alone); parameters ISO text."""
    ts = quote(view.timestamp)
    columns = [*view.entity_names, *view.feature_names, view.timestamp]
    if view.created_timestamp:
        columns.append(view.created_timestamp)
    where = f"{ts} < CAST(? AS TIMESTAMPTZ)"
    if bounded_below:
        where = f"{ts} >= CAST(? AS TIMESTAMPTZ) AND " + where
    entities = ", ".join(quote(e) for e in view.entity_names)
    return (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {parquet_scan(files)} WHERE {where} "
        f"QUALIFY row_number() OVER (PARTITION BY {entities} ORDER BY {ts} DESC, {_tie_order(view)}) = 1 "
        f"ORDER BY {entities}"
    )


def join_columns(views: Sequence[FeatureViewSpec]) -> list[str]:
    """The columns that only locate a row (every view's entity keys and ``event_timestamp``): what a
    model must not learn from, dropped from a training set made for the pipeline."""
    names = [EVENT_TIMESTAMP]
    for view in views:
        names += [e for e in view.entity_names if e not in names]
    return names


def training_set_sql(
    views: Sequence[FeatureViewSpec],
    entities: EntityTable,
    view_files: Mapping[str, Sequence[Path]],
    *,
    keep_keys: bool = True,
) -> str:
    """The DuckDB query of the training set: the entity rows in input order, then each view's
    features; without ``keep_keys``, the entity rows lose :func:`join_columns`."""
    event = quote(EVENT_TIMESTAMP)
    replace = f" REPLACE (CAST({event} AS TIMESTAMPTZ) AS {event})" if entities.timestamp_is_text else ""
    ctes = [
        (
            f"entity AS (SELECT *{replace} FROM read_parquet({literal(os.fspath(entities.parquet))}, "
            "file_row_number = true))"
        )
    ]
    joins: list[str] = []
    excluded = [ROW_NUMBER] + ([] if keep_keys else [quote(c) for c in join_columns(views)])
    selected = [f"entity.* EXCLUDE ({', '.join(excluded)})"]
    for index, view in enumerate(views):
        alias = f"v{index}"
        ts = quote(view.timestamp)
        keep = ", ".join(quote(c) for c in [*view.entity_names, view.timestamp, *view.feature_names])
        ctes.append(f"{alias} AS (SELECT {keep} FROM ({view_rows_sql(view, view_files[view.name])}))")
        on = " AND ".join(f"entity.{quote(e)} = {alias}.{quote(e)}" for e in view.entity_names)
        joins.append(f"ASOF LEFT JOIN {alias} ON {on} AND entity.{event} >= {alias}.{ts}")
        live = f"{alias}.{ts} >= entity.{event} - INTERVAL '{view.ttl_hours}' HOUR"
        selected += [
            f"CASE WHEN {live} THEN {alias}.{quote(f)} END AS {quote(f)}" for f in view.feature_names
        ]
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM entity {' '.join(joins)} "
        f"ORDER BY entity.{ROW_NUMBER}"
    )


def write_training_set(
    views: Sequence[FeatureViewSpec],
    entities: EntityTable,
    view_files: Mapping[str, Sequence[Path]],
    out: Path,
    settings: DuckDbSettings,
    *,
    keep_keys: bool = True,
) -> None:
    """Run the join and write ``out`` (CSV if it ends in ``.csv``, else Parquet); all or nothing."""
    # snappy: on float features zstd doubles the CPU time of the whole write, for little gain
    fmt = (
        "(FORMAT csv, HEADER true)"
        if out.suffix.lower() == ".csv"
        else "(FORMAT parquet, COMPRESSION snappy)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    con = connect(settings)
    try:
        con.execute(
            f"COPY ({training_set_sql(views, entities, view_files, keep_keys=keep_keys)}) "
            f"TO {literal(str(partial))} {fmt}"
        )
        partial.replace(out)
    except duckdb.ConversionException as err:  # a timestamp text the checks let through
        raise FeatureDataError([Problem(str(entities.source), f"cannot be joined: {err}")]) from err
    finally:
        con.close()
        partial.unlink(missing_ok=True)


def athena_training_set_sql(views: Sequence[FeatureViewSpec], *, database: str, entity_table: str) -> str:
    """The training set as one Athena (Trino) query over the Glue tables of ``views`` in ``database``.

    ``entity_table`` is a table in the same database over the uploaded entity rows (its
    ``event_timestamp`` a timestamp). Athena has no ASOF join: each view's candidate rows within
    the TTL are ranked per distinct (keys, time) point and the first is joined back, which gives the
    same answer as :func:`training_set_sql`. Rows come back in no particular order.
    """
    event = quote(EVENT_TIMESTAMP)
    entity = f"{quote(database)}.{quote(entity_table)}"
    ctes: list[str] = []
    joins: list[str] = []
    selected = ["entity.*"]
    for index, view in enumerate(views):
        alias = f"v{index}"
        ts = quote(view.timestamp)
        keys = [quote(e) for e in view.entity_names]
        point = ", ".join([*keys, event])
        on = " AND ".join(f"f.{k} = p.{k}" for k in keys)
        order = ", ".join(
            [f"f.{ts} DESC"]
            + ([f"f.{quote(view.created_timestamp)} DESC NULLS LAST"] if view.created_timestamp else [])
            + [f"f.{quote(INGESTED_AT_COLUMN)} DESC NULLS LAST"]
        )
        features = ", ".join(f"f.{quote(f)}" for f in view.feature_names)
        ctes.append(
            f"{alias} AS (SELECT {', '.join(f'p.{c}' for c in [*keys, event])}, {features}, "
            f"row_number() OVER (PARTITION BY {', '.join(f'p.{c}' for c in [*keys, event])} ORDER BY {order}) AS rank_ "
            f"FROM (SELECT DISTINCT {point} FROM {entity}) p "
            f"JOIN {quote(database)}.{quote(view.name)} f ON {on} AND f.{ts} <= p.{event} "
            f"AND f.{ts} >= p.{event} - INTERVAL '{view.ttl_hours}' HOUR)"
        )
        match = " AND ".join(f"{alias}.{c} = entity.{c}" for c in [*keys, event])
        joins.append(f"LEFT JOIN {alias} ON {match} AND {alias}.rank_ = 1")
        selected += [f"{alias}.{quote(f)}" for f in view.feature_names]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM {entity} entity {' '.join(joins)}"


__all__ = [
    "DuckDbSettings",
    "athena_training_set_sql",
    "connect",
    "latest_rows_sql",
    "training_set_sql",
    "view_rows_sql",
    "write_training_set",
]
