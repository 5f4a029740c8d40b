"""Reading one landed feature file (``features/<view>/...`` in the data bucket) into Arrow.

The object's size is checked with ``HeadObject`` before its body is fetched, and the body read is
pinned to the version (or ETag) the head described, so the ingest id and the rows come from one
object. CSV columns are read as text: the validation converts them per row, so that a bad value
is reported with its row instead of turning the whole column into another type.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from core.errors import FeatureDataError, Problem
from pipelines.data.s3_read import read_pinned

#: a landed file is parsed in memory on the ingesting Lambda or job; larger feeds are split
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class LandedObject:
    """The bytes of one landed object and which version of it they are."""

    bucket: str
    key: str
    #: the S3 version id, or the ETag in an unversioned bucket (either identifies the bytes)
    version: str
    data: bytes

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_parquet(self) -> bool:
        """By the extension, else by Parquet's magic bytes (anything else is read as CSV)."""
        lower = self.key.lower()
        if lower.endswith((".parquet", ".pq")):
            return True
        return not lower.endswith(".csv") and self.data[:4] == _PARQUET_MAGIC


def read_landed_object(s3: Any, bucket: str, key: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LandedObject:
    uri = f"s3://{bucket}/{key}"
    pinned = read_pinned(
        s3,
        bucket,
        key,
        max_bytes,
        missing=lambda: FeatureDataError([Problem(uri, "the landed object does not exist")]),
        too_large=lambda size: FeatureDataError([_too_large(uri, size, max_bytes)]),
    )
    # an object written before versioning is named by its ETag
    version = pinned.version_id or pinned.etag.strip('"')
    return LandedObject(bucket=bucket, key=key, version=version, data=pinned.data)


def parse_landed(landed: LandedObject) -> pa.Table:
    """The object's rows: Parquet as typed, CSV with every column as text (empty cells null)."""
    is_parquet = landed.is_parquet
    try:
        if is_parquet:
            return pq.read_table(io.BytesIO(landed.data))
        return read_csv_as_text(io.BytesIO(landed.data))
    except (pa.ArrowInvalid, OSError) as err:
        kind = "Parquet" if is_parquet else "CSV"
        raise FeatureDataError([Problem(landed.uri, f"is not a readable {kind} file: {err}")]) from err


def read_csv_as_text(source: Any) -> pa.Table:
    """A CSV file with every column as text, so that no value is coerced before it is checked."""
    names = pacsv.open_csv(source).schema.names
    source.seek(0)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names}, strings_can_be_null=True, null_values=[""]
    )
    return pacsv.read_csv(source, convert_options=convert)


def _too_large(uri: str, size: int, max_bytes: int) -> Problem:
    return Problem(
        uri, f"is {size} bytes, over the limit of {max_bytes} bytes: split it into smaller files", size
    )


__all__ = ["DEFAULT_MAX_BYTES", "LandedObject", "parse_landed", "read_csv_as_text", "read_landed_object"]
