"""Model archives as SageMaker makes them, and content-addressed storage of them in S3.

SageMaker packs ``/opt/ml/model`` into ``model.tar.gz`` with the files at the archive root and
unpacks it the same way into a serving container. Archives made here are byte-for-byte
reproducible (sorted entries, zeroed timestamps and owners), so the same model gets the same
sha256 and therefore the same S3 key: an identical retrain uploads nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from core.errors import ModelArtifactError, Problem
from pipelines.data.uris import parse_s3_uri

MODEL_ARCHIVE_NAME = "model.tar.gz"
ARTIFACT_PREFIX = "models/sha256"
_CHUNK = 1024 * 1024
#: S3 PutObject's single-request limit; bigger archives go through a multipart upload
_SINGLE_PUT_LIMIT = 5 * 1024**3


@dataclass(frozen=True)
class StoredArtifact:
    """An archive in S3: where it is, its digest, and whether this call uploaded it."""

    uri: str
    sha256: str
    size_bytes: int
    uploaded: bool


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pack_model_dir(model_dir: Path, archive: Path | None = None) -> Path:
    """Pack every file under ``model_dir`` into a gzip tarball with the files at the root.

    ``archive`` defaults to ``model.tar.gz`` beside (not inside) ``model_dir``.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelArtifactError([Problem(str(model_dir), "model directory does not exist")])
    archive = Path(archive) if archive else model_dir.parent / MODEL_ARCHIVE_NAME
    if archive.resolve().is_relative_to(model_dir.resolve()):
        raise ModelArtifactError(
            [Problem(str(archive), "archive must not be written inside the model directory")]
        )
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    if not files:
        raise ModelArtifactError([Problem(str(model_dir), "model directory is empty; nothing to pack")])
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        archive.open("wb") as raw,
        # mtime=0 and no file name: gzip's header would otherwise make every archive unique
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in files:
            info = tarfile.TarInfo(path.relative_to(model_dir).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            # zeroed metadata: the archive's hash must depend on the content only
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return archive


def unpack_model_archive(archive: Path, destination: Path) -> Path:
    """Extract a ``model.tar.gz`` into ``destination``; refuse links, devices and paths that escape it."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            # the "data" filter rejects absolute paths, "..", links out of the tree and device files
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ModelArtifactError([Problem(str(archive), f"cannot be extracted: {err}")]) from err
    return destination


def artifact_key(sha256: str, prefix: str = ARTIFACT_PREFIX) -> str:
    return f"{prefix.strip('/')}/{sha256}/{MODEL_ARCHIVE_NAME}"


def upload_artifact(s3: Any, bucket: str, path: Path, *, prefix: str = ARTIFACT_PREFIX) -> StoredArtifact:
    """Store an archive under ``<prefix>/<sha256>/model.tar.gz``, skipping the upload when that key exists.

    S3 verifies the upload against the SHA-256 sent with it, so a corrupted transfer fails instead
    of leaving an object whose content does not match its key.
    """
    path = Path(path)
    digest = sha256_file(path)
    size = path.stat().st_size
    key = artifact_key(digest, prefix)
    uri = f"s3://{bucket}/{key}"
    if _exists(s3, bucket, key):
        return StoredArtifact(uri=uri, sha256=digest, size_bytes=size, uploaded=False)
    if size <= _SINGLE_PUT_LIMIT:
        checksum = base64.b64encode(bytes.fromhex(digest)).decode()
        with path.open("rb") as body:
            s3.put_object(
                Bucket=bucket, Key=key, Body=body, ChecksumSHA256=checksum, Metadata={"sha256": digest}
            )
    else:
        s3.upload_file(
            str(path), bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest}}
        )
    return StoredArtifact(uri=uri, sha256=digest, size_bytes=size, uploaded=True)


def download_artifact(s3: Any, uri: str, destination: Path, *, expected_sha256: str | None = None) -> Path:
    """Download an archive and check its sha256 (``expected_sha256``, else the digest in a
    content-addressed key); raises :class:`ModelArtifactError` on a mismatch."""
    bucket, key = parse_s3_uri(uri)
    parts = key.split("/")
    if expected_sha256 is None and len(parts) >= 2 and len(parts[-2]) == 64:
        expected_sha256 = parts[-2]
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, os.fspath(destination))
    if expected_sha256 is not None:
        actual = sha256_file(destination)
        if actual != expected_sha256:
            destination.unlink()
            raise ModelArtifactError([Problem(uri, f"sha256 mismatch: expected {expected_sha256}", actual)])
    return destination


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
            return False
        raise
    return True


__all__ = [
    "ARTIFACT_PREFIX",
    "MODEL_ARCHIVE_NAME",
    "StoredArtifact",
    "artifact_key",
    "download_artifact",
    "pack_model_dir",
    "sha256_file",
    "unpack_model_archive",
    "upload_artifact",
]
