"""The offline store: a view's validated rows as Parquet under ``feature-store/<view>/``, read by DuckDB.

The files of a view are downloaded to a local cache (named by their ETag, so a rewritten file is
fetched again and one that is gone is dropped) and DuckDB reads them there; no DuckDB extension
and no network access is needed. :meth:`OfflineStore.latest_rows` is what materialization copies
to the online store; :meth:`OfflineStore.training_set` is the point-in-time join.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from core.feature_layout import PARTITION_COLUMN, offline_prefix
from core.feature_spec import FeatureViewSpec
from pipelines.features.entities import stage_entity_table
from pipelines.features.point_in_time import DuckDbSettings, connect, latest_rows_sql, write_training_set
from pipelines.features.validation import offline_schema, timestamp_columns


@dataclass(frozen=True)
class SyncResult:
    """A view's files in the local cache, and what bringing them up to date cost."""

    files: tuple[Path, ...]
    downloaded: int
    downloaded_bytes: int
    seconds: float


@dataclass(frozen=True)
class TrainingSetResult:
    out: Path
    rows: int
    #: the columns of ``out``: the entity table's, then each view's features
    columns: tuple[str, ...]
    views: tuple[str, ...]
    #: S3 to the local cache, and the join itself
    download_seconds: float
    join_seconds: float


class OfflineStore:
    """The offline store of one data bucket; use it as a context manager (it owns a temporary
    directory unless ``cache_dir`` is given, in which case downloads are kept there between runs)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        cache_dir: Path | None = None,
        memory_limit: str = "2GB",
        threads: int | None = None,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._owned = (
            None if cache_dir is not None else tempfile.TemporaryDirectory(prefix="tenantml-features-")
        )
        self.cache_dir = cache_dir if cache_dir is not None else Path(self._owned.name)  # type: ignore[union-attr]
        self._memory_limit = memory_limit
        self._threads = threads

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owned is not None:
            self._owned.cleanup()

    # --- the local copy --------------------------------------------------------------------------

    def sync(
        self, view: FeatureViewSpec, *, first_date: str | None = None, last_date: str | None = None
    ) -> SyncResult:
        """Bring the cached files of ``view`` up to date (only partitions in [first_date, last_date])."""
        started = time.perf_counter()
        local_root = self.cache_dir / "views" / view.name
        wanted: dict[Path, str] = {}

        def in_range(partition: str) -> bool:
            day = partition.removeprefix(f"{PARTITION_COLUMN}=")
            return not ((first_date and day < first_date) or (last_date and day > last_date))

        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=offline_prefix(view.name)
        ):
            for item in page.get("Contents", []):
                key: str = item["Key"]
                partition, _, name = key[len(offline_prefix(view.name)) :].partition("/")
                if not name.endswith(".parquet") or not in_range(partition):
                    continue
                etag = item["ETag"].strip('"')
                wanted[local_root / partition / f"{name.removesuffix('.parquet')}-{etag}.parquet"] = key
        downloaded = downloaded_bytes = 0
        for path, key in sorted(wanted.items()):
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            self._s3.download_file(self.bucket, key, str(partial))
            partial.replace(path)
            downloaded += 1
            downloaded_bytes += path.stat().st_size
        if local_root.exists():
            for stale in local_root.rglob("*.parquet"):
                if stale not in wanted and in_range(stale.parent.name):
                    stale.unlink()
        return SyncResult(
            files=tuple(sorted(wanted)),
            downloaded=downloaded,
            downloaded_bytes=downloaded_bytes,
            seconds=time.perf_counter() - started,
        )

    def _files_or_empty(self, view: FeatureViewSpec, files: tuple[Path, ...]) -> tuple[Path, ...]:
        """``files``, or one empty file of the view's schema: DuckDB needs a file to know the columns."""
        if files:
            return files
        empty = self.cache_dir / "empty" / f"{view.name}.parquet"
        empty.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(offline_schema(view).empty_table(), empty)
        return (empty,)

    def _settings(self) -> DuckDbSettings:
        return DuckDbSettings(
            temp_directory=self.cache_dir / "duckdb-tmp",
            memory_limit=self._memory_limit,
            threads=self._threads,
        )

    # --- reads -----------------------------------------------------------------------------------

    def latest_rows(self, view: FeatureViewSpec, *, since: datetime | None, until: datetime) -> pa.Table:
        """One row per entity: its latest with ``since <= event time < until`` (ties: the later
        created, then the later ingested). Columns: entities, features, the event time (and the
        created time when the view declares one), timestamps in UTC."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be time-zone aware, got {value.isoformat()}")
        synced = self.sync(
            view,
            first_date=since.astimezone(UTC).date().isoformat() if since else None,
            last_date=until.astimezone(UTC).date().isoformat(),
        )
        files = self._files_or_empty(view, synced.files)
        bounds = [until.astimezone(UTC).isoformat()]
        if since is not None:
            bounds.insert(0, since.astimezone(UTC).isoformat())
        con = connect(self._settings())
        try:
            table = con.execute(
                latest_rows_sql(view, files, bounded_below=since is not None), bounds
            ).to_arrow_table()
        finally:
            con.close()
        schema = offline_schema(view)
        columns = [*view.entity_names, *view.feature_names, *timestamp_columns(view)]
        return table.cast(pa.schema([schema.field(c) for c in columns]))

    def training_set(
        self, views: list[FeatureViewSpec], entities: Path, out: Path, *, keep_keys: bool = True
    ) -> TrainingSetResult:
        """The point-in-time training set of ``entities`` (:mod:`pipelines.features.point_in_time`),
        written to ``out``; without ``keep_keys``, as the pipeline trains on it (no entity keys, no
        ``event_timestamp``). Raises :class:`~core.errors.FeatureDataError` for a bad entity table,
        with nothing written to ``out``."""
        work = Path(tempfile.mkdtemp(prefix="entities-", dir=self.cache_dir))
        try:
            staged = stage_entity_table(entities, views, work)
            download = 0.0
            view_files: dict[str, tuple[Path, ...]] = {}
            for view in views:
                synced = self.sync(view)
                download += synced.seconds
                view_files[view.name] = self._files_or_empty(view, synced.files)
            started = time.perf_counter()
            write_training_set(views, staged, view_files, out, self._settings(), keep_keys=keep_keys)
            joined = time.perf_counter() - started
        finally:
            shutil.rmtree(work, ignore_errors=True)
        columns = tuple(pq.read_schema(out).names) if out.suffix.lower() != ".csv" else _csv_header(out)
        return TrainingSetResult(
            out=out,
            rows=staged.rows,
            columns=columns,
            views=tuple(v.name for v in views),
            download_seconds=download,
            join_seconds=joined,
        )


def _csv_header(path: Path) -> tuple[str, ...]:
    import csv

    with path.open(newline="") as handle:
        return tuple(next(csv.reader(handle), []))


__all__ = ["OfflineStore", "SyncResult", "TrainingSetResult"]
