"""Materialization helpers against moto: the window, the watermark, idempotence, freshness."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from features_support import NOW, REGION, VIEW, rows, scan

from core.contract import metrics_namespace
from core.errors import FeatureDataError
from core.feature_layout import FRESHNESS_METRIC
from pipelines.features.materialize import publish_freshness, window, write_latest
from pipelines.features.online import OnlineStore


def test_the_first_window_starts_one_ttl_ago_and_the_next_at_the_watermark(store: OnlineStore) -> None:
    first = window(store, VIEW, now=NOW)
    assert (first.since, first.until) == (NOW - timedelta(hours=24), NOW)

    write_latest(store, VIEW, rows([1]), until=first.until, now=NOW)
    later = NOW + timedelta(minutes=30)
    second = window(store, VIEW, now=later)

    assert (second.since, second.until) == (NOW, later)


def test_a_window_ending_in_the_future_or_backwards_or_naive_is_refused(store: OnlineStore) -> None:
    with pytest.raises(FeatureDataError) as caught:
        window(store, VIEW, since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1), now=NOW)
    assert "until: is after now" in str(caught.value)

    with pytest.raises(FeatureDataError, match="since: is after until"):
        window(store, VIEW, since=NOW - timedelta(hours=1), until=NOW - timedelta(hours=2), now=NOW)

    with pytest.raises(FeatureDataError, match="since: must be time-zone aware"):
        window(store, VIEW, since=datetime(2026, 12, 1), now=NOW)


def test_materializing_twice_writes_the_same_items_and_advances_the_watermark_once(
    store: OnlineStore, dynamodb: Any
) -> None:
    # given
    latest = rows(list(range(60)), at=NOW - timedelta(minutes=10))
    seen: list[tuple[int, int]] = []

    # when
    first = write_latest(store, VIEW, latest, until=NOW, now=NOW, progress=lambda d, t: seen.append((d, t)))
    after_first = scan(dynamodb)
    second = write_latest(store, VIEW, latest, until=NOW, now=NOW)

    # then
    assert (first.rows, first.written, first.skipped) == (60, 60, 0)
    assert first.watermark == second.watermark == NOW == store.watermark(VIEW)
    assert first.newest == NOW - timedelta(minutes=10)
    assert scan(dynamodb) == after_first
    assert seen == [(25, 60), (50, 60), (60, 60)]


def test_a_backfill_counts_its_older_rows_as_skipped_and_never_moves_the_watermark_back(
    store: OnlineStore,
) -> None:
    write_latest(store, VIEW, rows([1, 2], at=NOW - timedelta(minutes=5)), until=NOW, now=NOW)

    result = write_latest(
        store, VIEW, rows([1, 2, 3], at=NOW - timedelta(hours=5)), until=NOW - timedelta(hours=4), now=NOW
    )

    assert (result.written, result.skipped) == (1, 2)
    assert result.watermark == NOW and store.watermark(VIEW) == NOW
    assert result.newest == NOW - timedelta(minutes=5)


def test_freshness_is_the_age_of_the_newest_online_row(aws: None) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)

    age = publish_freshness(cloudwatch, "acme", VIEW, NOW - timedelta(minutes=7), NOW)
    nothing = publish_freshness(cloudwatch, "acme", "empty_view", None, NOW)

    assert age == 420.0 and nothing is None
    stats = cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace("acme"),
        MetricName=FRESHNESS_METRIC,
        Dimensions=[{"Name": "Tenant", "Value": "acme"}, {"Name": "View", "Value": VIEW.name}],
        StartTime=NOW - timedelta(minutes=5),
        EndTime=NOW + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [420.0]
    listed = cloudwatch.list_metrics(Namespace=metrics_namespace("acme"))["Metrics"]
    assert {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "View"} == {VIEW.name}
