"""One run per dataset object version, however often S3 delivers the event.

S3 delivers event notifications at least once, and Lambda retries asynchronous invocations, so
the same ``ObjectCreated`` event can reach the data-arrival handler twice, even at the same time.
Before a run starts, it claims the object version with a conditional write to the artifacts
bucket: ``PutObject`` of ``runs/by-object/<sha256 of the dedup key>.json`` with
``If-None-Match: *``. S3 performs that check atomically, so of two concurrent writers exactly
one succeeds and the other gets ``412 PreconditionFailed`` (or ``409 ConditionalRequestConflict``
while the first write is still in flight). No lock table is needed.

A claim whose run died without finishing (the process was killed, Lambda timed out) would block
the object forever; once its lease has expired, another delivery may take it over, again with a
conditional write (``If-Match`` on the claim's ETag) so only one taker wins.
moto 5.2.5 honours both conditions on ``PutObject``; its check-then-write is not atomic between
threads of one emulator process, which is a property of the emulator, not of S3.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pipelines.runs.arrivals import DataArrival
from pipelines.runs.s3_json import put_json, read_json

CLAIM_PREFIX = "runs/by-object"
#: a run that has not finished after this long is presumed dead (Lambda's maximum is 15 minutes;
#: a SageMaker job can run longer, so the claim is refreshed when each step starts)
DEFAULT_LEASE = timedelta(hours=2)

ClaimStatus = Literal["running", "succeeded", "failed"]


class RunClaim(BaseModel):
    """The content of a claim object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dedup_key: str
    run_id: str
    status: ClaimStatus
    claimed_at: datetime
    updated_at: datetime
    data_uri: str
    data_version_id: str | None = None
    #: where the run writes its record (``runs/<run_id>/run.json``)
    run_record_key: str


@dataclass(frozen=True)
class ClaimResult:
    """Whether this caller owns the run for an arrival, and the claim as stored."""

    acquired: bool
    claim: RunClaim
    key: str
    #: the claim object's ETag, for the owner's later conditional updates
    etag: str | None = None
    #: set when an expired claim of a dead run was taken over
    took_over: str | None = None


def claim_key(arrival: DataArrival) -> str:
    """The claim object's key for an arrival: one per bucket, key and object version."""
    digest = hashlib.sha256(arrival.dedup_key.encode("utf-8")).hexdigest()
    return f"{CLAIM_PREFIX}/{digest}.json"


def claim_arrival(
    s3: Any,
    bucket: str,
    arrival: DataArrival,
    run_id: str,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> ClaimResult:
    """Claim ``arrival`` for ``run_id``; ``acquired`` is false when another run already owns it.

    A claim that is still ``running`` after ``lease`` is taken over (conditionally); finished
    claims (succeeded or failed) are final: a bad file fails once, not on every redelivery.
    """
    now = now or datetime.now(UTC)
    key = claim_key(arrival)
    claim = RunClaim(
        dedup_key=arrival.dedup_key,
        run_id=run_id,
        status="running",
        claimed_at=now,
        updated_at=now,
        data_uri=arrival.uri,
        data_version_id=arrival.version_id,
        run_record_key=f"runs/{run_id}/run.json",
    )
    written = put_json(s3, bucket, key, claim.model_dump(mode="json"), if_none_match=True)
    if written is not None:
        return ClaimResult(acquired=True, claim=claim, key=key, etag=written)

    existing, etag = read_claim(s3, bucket, key)
    if existing is None:  # deleted between our write and our read: try once more
        written = put_json(s3, bucket, key, claim.model_dump(mode="json"), if_none_match=True)
        if written is not None:
            return ClaimResult(acquired=True, claim=claim, key=key, etag=written)
        existing, etag = read_claim(s3, bucket, key)
        if existing is None:
            raise RuntimeError(f"claim s3://{bucket}/{key} keeps changing; retry the event later")
    if existing.status == "running" and now - existing.updated_at > lease and etag is not None:
        written = put_json(s3, bucket, key, claim.model_dump(mode="json"), if_match=etag)
        if written is not None:
            return ClaimResult(acquired=True, claim=claim, key=key, etag=written, took_over=existing.run_id)
        existing, etag = read_claim(s3, bucket, key)
        if existing is None:
            raise RuntimeError(f"claim s3://{bucket}/{key} keeps changing; retry the event later")
    return ClaimResult(acquired=False, claim=existing, key=key, etag=etag)


def update_claim(
    s3: Any, bucket: str, result: ClaimResult, status: ClaimStatus, *, now: datetime | None = None
) -> ClaimResult:
    """Record progress or the outcome on an acquired claim (refreshes its lease).

    The write is conditional on the claim's ETag: if the lease expired and another delivery took
    the object over, nothing is overwritten and the result says the claim is no longer held.
    """
    if not result.acquired:
        raise ValueError(
            f"run {result.claim.run_id} does not own claim {result.key}; only the owner updates it"
        )
    claim = result.claim.model_copy(update={"status": status, "updated_at": now or datetime.now(UTC)})
    etag = put_json(s3, bucket, result.key, claim.model_dump(mode="json"), if_match=result.etag or None)
    if etag is None:
        # the lease expired and another delivery took the object over; it owns the outcome now
        existing, current = read_claim(s3, bucket, result.key)
        return ClaimResult(acquired=False, claim=existing or result.claim, key=result.key, etag=current)
    return ClaimResult(acquired=True, claim=claim, key=result.key, etag=etag, took_over=result.took_over)


def release_claim(s3: Any, bucket: str, result: ClaimResult) -> None:
    """Give an acquired claim back (the run could not start for a reason a retry may fix)."""
    if result.acquired:
        s3.delete_object(Bucket=bucket, Key=result.key)


def read_claim(s3: Any, bucket: str, key: str) -> tuple[RunClaim | None, str | None]:
    """The stored claim and its ETag, or ``(None, None)`` when there is none."""
    body, etag = read_json(s3, bucket, key)
    return (RunClaim.model_validate_json(body) if body is not None else None), etag


__all__ = [
    "CLAIM_PREFIX",
    "DEFAULT_LEASE",
    "ClaimResult",
    "RunClaim",
    "claim_arrival",
    "claim_key",
    "read_claim",
    "release_claim",
    "update_claim",
]
