"""S3 URI helpers (no AWS calls, no heavy imports)."""

from __future__ import annotations

from urllib.parse import unquote, urlparse


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; raises ``ValueError`` for anything else."""
    parsed = urlparse(uri)
    key = unquote(parsed.path.lstrip("/"))
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise ValueError(f"not an S3 object URI (expected s3://bucket/key): {uri!r}")
    return parsed.netloc, key


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


__all__ = ["parse_s3_uri", "s3_uri"]
