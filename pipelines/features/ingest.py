"""Ingesting a landed feature file into the offline store, all or nothing.

``features/<view>/<file>`` is read, validated against the view (:mod:`pipelines.features.validation`)
and written as one Parquet file per event date under ``feature-store/<view>/``. The ingest id is a
hash of the bucket, key and version of the landed object, so a redelivered arrival event rewrites
the same keys instead of adding a second copy of the rows.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.feature_layout import INGESTED_AT_COLUMN, offline_key
from core.feature_spec import FeatureViewSpec
from pipelines.features.landed import DEFAULT_MAX_BYTES, parse_landed, read_landed_object
from pipelines.features.validation import TIMESTAMP, offline_schema, validate_rows


@dataclass(frozen=True)
class IngestResult:
    view: str
    source: str
    #: the landed object's version id (its ETag in an unversioned bucket)
    source_version: str
    ingest_id: str
    rows: int
    #: event dates written, ascending (``YYYY-MM-DD``)
    partitions: tuple[str, ...]
    #: offline keys written, one per partition
    keys: tuple[str, ...]


def ingest_id(bucket: str, key: str, version: str) -> str:
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:32]


def ingest_landed(
    s3: Any,
    bucket: str,
    key: str,
    view: FeatureViewSpec,
    *,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> IngestResult:
    """Validate the landed object ``key`` and write its rows to the offline store of ``view``.

    Raises :class:`~core.errors.FeatureDataError` listing every problem, with nothing written. A
    write that fails midway deletes the files this call wrote before the error propagates.
    """
    now = now or datetime.now(UTC)
    landed = read_landed_object(s3, bucket, key, max_bytes=max_bytes)
    table = parse_landed(landed)
    rows = validate_rows(table, view, source=landed.uri, now=now, from_text=not landed.is_parquet)
    rows = rows.append_column(
        pa.field(INGESTED_AT_COLUMN, TIMESTAMP), pa.array([now] * rows.num_rows, type=TIMESTAMP)
    )
    identity = ingest_id(bucket, key, landed.version)
    dates = pc.strftime(rows[view.timestamp], format="%Y-%m-%d")
    partitions = sorted(set(dates.to_pylist()))
    written: list[str] = []
    try:
        for day in partitions:
            part = rows.filter(pc.equal(dates, day)).sort_by(view.timestamp)
            target = offline_key(view.name, day, identity)
            s3.put_object(Bucket=bucket, Key=target, Body=_parquet(part.cast(offline_schema(view))))
            written.append(target)
    except BaseException:
        for target in written:
            s3.delete_object(Bucket=bucket, Key=target)
        raise
    return IngestResult(
        view=view.name,
        source=landed.uri,
        source_version=landed.version,
        ingest_id=identity,
        rows=rows.num_rows,
        partitions=tuple(partitions),
        keys=tuple(written),
    )


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


__all__ = ["IngestResult", "ingest_id", "ingest_landed"]
