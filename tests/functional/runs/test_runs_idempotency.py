"""Claims on object versions: a conditional PutObject (If-None-Match) in the artifacts bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.runs.arrivals import DataArrival
from pipelines.runs.idempotency import (
    CLAIM_PREFIX,
    claim_arrival,
    claim_key,
    read_claim,
    release_claim,
    update_claim,
)

T0 = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def arrival(resources) -> DataArrival:
    return DataArrival(bucket=resources.data_bucket, key="incoming/a.parquet", version_id="v1", etag="e1")


def test_the_first_claim_wins_and_a_duplicate_sees_its_run(clients, resources, arrival):
    first = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-1", now=T0)
    second = claim_arrival(
        clients.s3, resources.artifacts_bucket, arrival, "run-2", now=T0 + timedelta(seconds=1)
    )

    assert first.acquired and first.key == claim_key(arrival)
    assert (
        first.key.startswith(f"{CLAIM_PREFIX}/")
        and first.key.endswith(".json")
        and len(first.key) == 15 + 64 + 5
    )
    assert not second.acquired
    assert (second.claim.run_id, second.claim.status) == ("run-1", "running")
    stored, _ = read_claim(clients.s3, resources.artifacts_bucket, first.key)
    assert stored.run_id == "run-1" and stored.data_version_id == "v1"
    assert stored.run_record_key == "runs/run-1/run.json"


def test_a_new_version_or_another_key_is_a_new_claim(clients, resources, arrival):
    claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-1", now=T0)
    newer = arrival.model_copy(update={"version_id": "v2", "etag": "e2"})
    other = arrival.model_copy(update={"key": "incoming/b.parquet"})

    assert claim_arrival(clients.s3, resources.artifacts_bucket, newer, "run-2", now=T0).acquired
    assert claim_arrival(clients.s3, resources.artifacts_bucket, other, "run-3", now=T0).acquired


def test_a_running_claim_past_its_lease_is_taken_over_once(clients, resources, arrival):
    claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-dead", now=T0)
    later = T0 + timedelta(hours=3)

    taken = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-new", now=later)
    again = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-other", now=later)

    assert taken.acquired and taken.took_over == "run-dead"
    assert not again.acquired and again.claim.run_id == "run-new"


def test_a_live_or_finished_claim_is_never_taken_over(clients, resources, arrival):
    live = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-1", now=T0)
    assert not claim_arrival(
        clients.s3, resources.artifacts_bucket, arrival, "run-2", now=T0 + timedelta(minutes=30)
    ).acquired

    update_claim(clients.s3, resources.artifacts_bucket, live, "failed", now=T0 + timedelta(minutes=1))
    much_later = claim_arrival(
        clients.s3, resources.artifacts_bucket, arrival, "run-3", now=T0 + timedelta(days=30)
    )

    assert not much_later.acquired
    assert (much_later.claim.run_id, much_later.claim.status) == ("run-1", "failed")


def test_an_owner_whose_lease_was_taken_over_does_not_overwrite_the_new_owner(clients, resources, arrival):
    stale = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-slow", now=T0)
    claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-new", now=T0 + timedelta(hours=3))

    result = update_claim(clients.s3, resources.artifacts_bucket, stale, "succeeded")

    assert not result.acquired and result.claim.run_id == "run-new"
    stored, _ = read_claim(clients.s3, resources.artifacts_bucket, stale.key)
    assert (stored.run_id, stored.status) == ("run-new", "running")
    with pytest.raises(ValueError, match="does not own claim"):
        update_claim(clients.s3, resources.artifacts_bucket, result, "failed")


def test_a_released_claim_can_be_claimed_again(clients, resources, arrival):
    first = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-1", now=T0)
    release_claim(clients.s3, resources.artifacts_bucket, first)

    retry = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, "run-2", now=T0)

    assert retry.acquired
    body = clients.s3.get_object(Bucket=resources.artifacts_bucket, Key=retry.key)["Body"].read()
    assert json.loads(body)["run_id"] == "run-2"


def test_without_a_version_the_etag_identifies_the_object(clients, resources):
    a = DataArrival(bucket=resources.data_bucket, key="incoming/a.csv", etag="e1")
    assert claim_arrival(clients.s3, resources.artifacts_bucket, a, "run-1", now=T0).acquired
    assert not claim_arrival(clients.s3, resources.artifacts_bucket, a, "run-2", now=T0).acquired
    changed = a.model_copy(update={"etag": "e2"})
    assert claim_arrival(clients.s3, resources.artifacts_bucket, changed, "run-3", now=T0).acquired
