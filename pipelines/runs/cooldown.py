"""The retrain cooldown: one retrain per model per cooldown, taken with a conditional S3 write.

Standard library and boto3 only, shared by the slim alarm Lambda and
:mod:`pipelines.runs.retraining` (in-process retrains). The holder is one JSON object,
``retraining/<model>/cooldown.json`` in the artifacts bucket: ``{"run_id", "started_at", "until",
"cause"}`` (ISO 8601 times). It is created with ``If-None-Match: *`` and replaced, once expired,
with ``If-Match: <etag>``; of two alarms racing for it S3 lets exactly one win, and the loser
reads the winner's claim.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.errors import RetrainContentionError
from pipelines.runs.s3_json import put_json, read_json

RETRAINING_PREFIX = "retraining"


def cooldown_key(model: str) -> str:
    return f"{RETRAINING_PREFIX}/{model}/cooldown.json"


def _until(holder: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(holder["until"]))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_holder(s3: Any, bucket: str, model: str) -> tuple[dict[str, Any] | None, str | None]:
    body, etag = read_json(s3, bucket, cooldown_key(model))
    return (json.loads(body) if body is not None else None), etag


def claim_cooldown(s3: Any, bucket: str, model: str, holder: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Take the cooldown for ``holder`` unless an unexpired one is held; return whoever holds it now
    (``holder`` itself, the same object, when this call took it)."""
    key = cooldown_key(model)
    for _ in range(3):
        existing, etag = read_holder(s3, bucket, model)
        if existing is not None and now < _until(existing):
            return existing
        replacing = existing is not None and etag
        written = put_json(
            s3, bucket, key, holder, if_match=etag if replacing else None, if_none_match=not replacing
        )
        if written is not None:
            return holder
        # another alarm wrote first: read its claim on the next pass
    existing, _ = read_holder(s3, bucket, model)
    if existing is None:
        raise RetrainContentionError(f"cooldown s3://{bucket}/{key} keeps changing; retry the alarm later")
    return existing


__all__ = ["RETRAINING_PREFIX", "claim_cooldown", "cooldown_key", "read_holder"]
