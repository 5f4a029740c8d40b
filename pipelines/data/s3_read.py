"""A bounded read of one S3 object, pinned to the version HeadObject described.

Datasets and landed feature files are read the same way: HeadObject first (a missing object and an
object over the limit are refused before any byte is fetched), then GetObject pinned to that
version (or, for an object written before versioning, its ETag), so the size check, the bytes and
whatever is recorded about them cover one object; one byte past the limit is read, in case the
object was replaced in between. The callers raise their own errors, named for their input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

_MISSING = {"404", "NoSuchKey", "NoSuchBucket"}


@dataclass(frozen=True)
class PinnedObject:
    data: bytes
    #: None for an object written before versioning was enabled (S3 reports it as "null")
    version_id: str | None
    etag: str


def read_pinned(
    s3: Any,
    bucket: str,
    key: str,
    max_bytes: int,
    *,
    missing: Callable[[], Exception],
    too_large: Callable[[int], Exception],
) -> PinnedObject:
    """The object's bytes; raises ``missing()`` when it does not exist, ``too_large(size)`` over ``max_bytes``."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _MISSING:
            raise missing() from err
        raise
    size = int(head["ContentLength"])
    if size > max_bytes:
        raise too_large(size)
    version_id = head.get("VersionId")
    if version_id == "null":
        version_id = None
    pin = {"VersionId": version_id} if version_id else {"IfMatch": head["ETag"]}
    body = s3.get_object(Bucket=bucket, Key=key, **pin)["Body"]
    try:
        data = body.read(max_bytes + 1)
    finally:
        body.close()
    if len(data) > max_bytes:
        raise too_large(len(data))
    return PinnedObject(data=data, version_id=version_id, etag=head["ETag"])


__all__ = ["PinnedObject", "read_pinned"]
