"""JSON objects in S3 written with conditions: how concurrent writers agree without a database.

S3's conditional writes (``If-None-Match: *`` to create, ``If-Match: <etag>`` to replace what was
read) let exactly one of two concurrent writers win; the other gets ``412 PreconditionFailed`` (or
``409 ConditionalRequestConflict`` while the winner's write is in flight). Run claims and retrain
cooldowns are both kept this way.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

#: the error codes of a conditional write that lost to another writer
LOST_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404"})


def read_json(s3: Any, bucket: str, key: str) -> tuple[bytes | None, str | None]:
    """The object's bytes and ETag, or ``(None, None)`` when there is no such object."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _MISSING_CODES:
            return None, None
        raise
    return response["Body"].read(), response.get("ETag")


def put_json(
    s3: Any, bucket: str, key: str, body: Any, *, if_match: str | None = None, if_none_match: bool = False
) -> str | None:
    """Write ``body`` as JSON; the new ETag, or ``None`` when the condition failed (another writer won).

    Without a condition the write always happens (and a lost race cannot occur).
    """
    condition: dict[str, str] = {}
    if if_match is not None:
        condition["IfMatch"] = if_match
    elif if_none_match:
        condition["IfNoneMatch"] = "*"
    try:
        response = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(body, indent=2).encode("utf-8"),
            ContentType="application/json",
            **condition,
        )
    except ClientError as err:
        if condition and err.response.get("Error", {}).get("Code") in LOST_RACE_CODES:
            return None
        raise
    return response.get("ETag")
