"""Batch inference: a Parquet or CSV file (local or S3) through a loaded model, chunk by chunk.

Parquet is read with ``pyarrow.parquet.ParquetFile.iter_batches`` and CSV with pandas'
``chunksize``, so memory stays bounded by ``chunk_rows`` whatever the file size. The output keeps
the input columns and adds ``prediction`` and, for classifiers, ``probability_<class>`` columns;
its format follows its suffix (``.parquet``/``.pq`` or ``.csv``). S3 inputs are downloaded to a
temporary file first and S3 outputs uploaded once complete, so a failed run leaves no partial object.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InferenceInputError, ServingConfigError
from pipelines.data.uris import parse_s3_uri
from pipelines.serving.loader import LoadedModel

DEFAULT_CHUNK_ROWS = 50_000
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BatchSummary:
    rows: int
    chunks: int
    output: str
    seconds: float


def file_format(location: str) -> str:
    name = location.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise ServingConfigError(f"{location}: unknown file type; use a .parquet, .pq or .csv name")


def predict_file(
    model: LoadedModel,
    source: str,
    destination: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    s3: Any = None,
    progress: Progress | None = None,
) -> BatchSummary:
    import time

    if chunk_rows < 1:
        raise ServingConfigError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    started = time.perf_counter()
    in_format, out_format = file_format(source), file_format(destination)
    with tempfile.TemporaryDirectory(prefix="tenantml-predict-") as tmp:
        local_in = _local_input(source, Path(tmp), s3)
        local_out = (
            Path(tmp) / f"output.{out_format}" if destination.startswith("s3://") else Path(destination)
        )
        local_out.parent.mkdir(parents=True, exist_ok=True)
        total = _row_count(local_in, in_format)
        rows = chunks = 0
        writer = _Writer(local_out, out_format)
        try:
            for frame in _read_chunks(local_in, in_format, chunk_rows):
                try:
                    batch = model.schema.batch_from_frame(frame, first_row=rows + 1)
                    result = model.predictor.predict(batch)
                except InferenceInputError as err:
                    raise InferenceInputError(f"{source}: {err}") from err
                out = frame.copy()
                out["prediction"] = result.predictions
                if result.probabilities is not None:
                    for j, label in enumerate(model.predictor.classes or []):
                        out[f"probability_{label}"] = result.probabilities[:, j]
                writer.write(out)
                rows += len(frame)
                chunks += 1
                if progress:
                    progress(rows, total)
        finally:
            writer.close()
        if destination.startswith("s3://"):
            if s3 is None:
                raise ServingConfigError("an S3 output needs an S3 client")
            bucket, key = parse_s3_uri(destination)
            s3.upload_file(str(local_out), bucket, key)
    return BatchSummary(rows=rows, chunks=chunks, output=destination, seconds=time.perf_counter() - started)


def _local_input(source: str, tmp: Path, s3: Any) -> Path:
    if source.startswith("s3://"):
        if s3 is None:
            raise ServingConfigError("an S3 input needs an S3 client")
        bucket, key = parse_s3_uri(source)
        path = tmp / ("input" + "".join(Path(key).suffixes))
        try:
            s3.download_file(bucket, key, str(path))
        except Exception as err:
            raise ServingConfigError(f"{source}: cannot download: {err}") from err
        return path
    path = Path(source)
    if not path.is_file():
        raise ServingConfigError(f"{source}: no such file")
    return path


def _row_count(path: Path, fmt: str) -> int | None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


def _read_chunks(path: Path, fmt: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield record_batch.to_pandas()
    else:
        with pd.read_csv(path, chunksize=chunk_rows) as reader:
            yield from reader


class _Writer:
    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._parquet: Any = None
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            frame.to_csv(self.path, mode="w" if self._header else "a", header=self._header, index=False)
            self._header = False
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        else:
            table = table.cast(self._parquet.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "csv" and self._header:
            self.path.write_text("")


__all__ = ["DEFAULT_CHUNK_ROWS", "BatchSummary", "file_format", "predict_file"]
