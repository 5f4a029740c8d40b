"""Load tabular datasets (Parquet or CSV) from a local path or ``s3://bucket/key``, with provenance.

The byte-size limit is checked before anything is read (S3 ``HeadObject`` / file size), and the
exact bytes that were parsed are hashed, so a model's lineage names the data it really saw.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import train_test_split

from core.errors import DatasetNotFoundError, DatasetTooLargeError, DataValidationError, Problem
from core.spec import ModelSpec, ProblemType
from pipelines.data.s3_read import read_pinned
from pipelines.data.uris import parse_s3_uri

FileFormat = Literal["parquet", "csv"]

#: default byte limit for one dataset; training instances have a few GB of memory and a parsed
#: frame takes several times its Parquet size
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

_PARQUET_MAGIC = b"PAR1"
_EXTENSIONS: dict[str, FileFormat] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class DatasetProvenance(BaseModel):
    """Where a dataset came from and a fingerprint of the bytes that were parsed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    version_id: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    format: FileFormat | Literal["directory"]
    #: for a directory (a training channel): the files it was assembled from, in order
    parts: tuple[DatasetProvenance, ...] = ()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A parsed dataset and its provenance."""

    frame: pd.DataFrame
    provenance: DatasetProvenance


def load_dataset(
    uri: str | os.PathLike[str],
    *,
    s3: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    file_format: FileFormat | None = None,
) -> Dataset:
    """Load one Parquet or CSV file from a local path, ``file://`` URI or ``s3://bucket/key``.

    ``s3`` is a boto3 S3 client; one is created on first use of an S3 URI when not given. The
    format comes from ``file_format``, else the extension, else the content (Parquet magic bytes).
    Raises :class:`DatasetNotFoundError`, :class:`DatasetTooLargeError` (before reading) or
    :class:`DataValidationError` (empty, corrupt, or no rows), each naming the file.
    """
    text = os.fspath(uri)
    if text.startswith("s3://"):
        if s3 is None:
            import boto3

            s3 = boto3.client("s3")
        data, version_id = _read_s3(s3, text, max_bytes)
    else:
        if text.startswith("file://"):
            text = unquote(urlparse(text).path)
        data, version_id = _read_local(Path(text), max_bytes), None
    fmt = file_format or _detect_format(text, data)
    frame = _parse(text, data, fmt)
    provenance = DatasetProvenance(
        uri=text,
        version_id=version_id,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        format=fmt,
    )
    return Dataset(frame=frame, provenance=provenance)


def load_directory(directory: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """Load and concatenate every Parquet/CSV file in a directory (a SageMaker input channel).

    Files are read in name order; hidden files and markers such as ``_SUCCESS`` are skipped. The
    size limit applies to the sum of the files. The provenance hash covers the file names and
    each file's hash, so renaming or changing any part changes it.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DatasetNotFoundError([Problem(str(root), "directory does not exist")])
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    if not files:
        raise DataValidationError(
            [Problem(str(root), "directory holds no data files; expected *.parquet or *.csv")]
        )
    total = sum(p.stat().st_size for p in files)
    if total > max_bytes:
        raise DatasetTooLargeError([_too_large(str(root), total, max_bytes)])
    parts = [load_dataset(p, max_bytes=max_bytes) for p in files]
    columns = list(parts[0].frame.columns)
    for path, part in zip(files, parts, strict=True):
        if list(part.frame.columns) != columns:
            raise DataValidationError(
                [
                    Problem(
                        str(path),
                        f"columns differ from {files[0].name}; "
                        "every file of a channel needs the same columns",
                        list(part.frame.columns),
                    )
                ]
            )
    frame = pd.concat([p.frame for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].frame
    manifest = "".join(
        f"{path.relative_to(root).as_posix()} {part.provenance.sha256}\n"
        for path, part in zip(files, parts, strict=True)
    )
    provenance = DatasetProvenance(
        uri=str(root),
        sha256=hashlib.sha256(manifest.encode()).hexdigest(),
        size_bytes=total,
        format="directory",
        parts=tuple(p.provenance for p in parts),
    )
    return Dataset(frame=frame, provenance=provenance)


def split_holdout(
    frame: pd.DataFrame, spec: ModelSpec, *, test_size: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout); stratified on the target for classification."""
    stratify = frame[spec.target] if spec.problem is ProblemType.CLASSIFICATION else None
    train, holdout = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _too_large(where: str, size: int, max_bytes: int) -> Problem:
    return Problem(
        where,
        f"is {size} bytes, over the limit of {max_bytes} bytes; raise max_bytes or split the data",
        size,
    )


def _read_local(path: Path, max_bytes: int) -> bytes:
    if not path.exists():
        raise DatasetNotFoundError([Problem(str(path), "file does not exist")])
    if path.is_dir():
        raise DataValidationError([Problem(str(path), "is a directory; use load_directory() for a channel")])
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetTooLargeError([_too_large(str(path), size, max_bytes)])
    with path.open("rb") as handle:
        # read one byte past the limit: the file may have grown since stat()
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DatasetTooLargeError([_too_large(str(path), len(data), max_bytes)])
    return data


def _read_s3(s3: Any, uri: str, max_bytes: int) -> tuple[bytes, str | None]:
    bucket, key = parse_s3_uri(uri)
    pinned = read_pinned(
        s3,
        bucket,
        key,
        max_bytes,
        missing=lambda: DatasetNotFoundError([Problem(uri, "S3 object does not exist")]),
        too_large=lambda size: DatasetTooLargeError([_too_large(uri, size, max_bytes)]),
    )
    return pinned.data, pinned.version_id


def _detect_format(name: str, data: bytes) -> FileFormat:
    suffix = Path(urlparse(name).path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if data[:4] == _PARQUET_MAGIC:
        return "parquet"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataValidationError(
            [Problem(name, "unknown file format: neither Parquet nor UTF-8 text (CSV); use .parquet or .csv")]
        ) from err
    return "csv"


def _parse(name: str, data: bytes, fmt: FileFormat) -> pd.DataFrame:
    if not data or data.isspace():
        raise DataValidationError([Problem(name, "file is empty")])
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            frame = pd.read_csv(io.BytesIO(data), encoding="utf-8")
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        # pandas and pyarrow raise several unrelated types for corrupt input; name the file, keep the cause
        raise DataValidationError([Problem(name, f"cannot be read as {fmt}: {_first_line(err)}")]) from err
    if frame.shape[1] == 0:
        raise DataValidationError([Problem(name, f"{fmt} file has no columns")])
    if frame.shape[0] == 0:
        raise DataValidationError([Problem(name, f"{fmt} file has a header but no rows")])
    return frame


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]


__all__ = [
    "DEFAULT_MAX_BYTES",
    "Dataset",
    "DatasetProvenance",
    "FileFormat",
    "load_dataset",
    "load_directory",
    "split_holdout",
]
