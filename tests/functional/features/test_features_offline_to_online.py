"""Materialization end to end under moto: landed rows, the offline store's latest rows per window,
the online table, incrementally."""

from __future__ import annotations

from typing import Any

import boto3
from feature_support import BUCKET, CUSTOMER, at, customer_rows, land, parquet_bytes
from features_support import REGION, TABLE, create_table

from pipelines.features.materialize import window, write_latest
from pipelines.features.offline import OfflineStore
from pipelines.features.online import OnlineStore


def _materialize(s3: Any, online: OnlineStore, now: Any) -> Any:
    span = window(online, CUSTOMER, now=now)
    with OfflineStore(s3, BUCKET) as offline:
        latest = offline.latest_rows(CUSTOMER, since=span.since, until=span.until)
    return write_latest(online, CUSTOMER, latest, until=span.until, now=now)


def test_landed_rows_reach_the_online_store_and_the_next_run_reads_only_the_new_window(s3: Any) -> None:
    # given: c1 at 09:00 and 10:00, c2 at 08:00, landed before noon
    noon = at("2024-05-01T12:00")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb)
    nine, ten, eight = at("2024-05-01T09:00"), at("2024-05-01T10:00"), at("2024-05-01T08:00")
    land(
        s3,
        "a.parquet",
        parquet_bytes(customer_rows([("c1", 1.0, nine, nine), ("c1", 2.0, ten, ten)])),
        CUSTOMER,
        now=noon,
    )
    land(s3, "b.parquet", parquet_bytes(customer_rows([("c2", 4.0, eight, eight)])), CUSTOMER, now=noon)

    # when: materialized at noon
    first = _materialize(s3, OnlineStore(dynamodb, TABLE, clock=noon.timestamp), noon)

    # then: the latest row of each entity is online
    online = OnlineStore(dynamodb, TABLE, clock=noon.timestamp)
    got = online.get(CUSTOMER, [{"customer_id": "c1"}, {"customer_id": "c2"}])
    assert [(g["spend"], g["orders"], g["segment"], g["event_timestamp"]) for g in got] == [  # type: ignore[index]
        (2.0, 2, "s2", ten),
        (4.0, 4, "s4", eight),
    ]
    assert (first.rows, first.written, first.watermark, first.newest) == (2, 2, noon, ten)

    # given: a newer c1 row lands at 12:30
    later = at("2024-05-01T13:00")
    half_past = at("2024-05-01T12:30")
    land(
        s3,
        "c.parquet",
        parquet_bytes(customer_rows([("c1", 150.0, half_past, half_past)])),
        CUSTOMER,
        now=later,
    )

    # when: the next run, from the watermark
    second = _materialize(s3, OnlineStore(dynamodb, TABLE, clock=later.timestamp), later)

    # then: only c1 was read and written; c2 keeps its row
    assert (second.rows, second.written, second.watermark, second.newest) == (1, 1, later, half_past)
    got = OnlineStore(dynamodb, TABLE, clock=later.timestamp).get(
        CUSTOMER, [{"customer_id": "c1"}, {"customer_id": "c2"}]
    )
    assert got[0]["spend"] == 150.0 and got[0]["vip"] is True  # type: ignore[index]
    assert got[1]["spend"] == 4.0  # type: ignore[index]
