"""The latest row per entity in a time window: what materialization copies to the online store."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from feature_support import BUCKET, CUSTOMER, MERCHANT, NOW, at, customer_rows, land, parquet_bytes

from pipelines.features.offline import OfflineStore

US = timedelta(microseconds=1)
TS = pa.timestamp("us", tz="UTC")


def _land(s3, rows, key="rows.parquet", *, now=NOW):
    return land(s3, key, parquet_bytes(customer_rows(rows)), CUSTOMER, now=now)


def test_one_row_per_entity_the_latest_before_until(s3):
    # given c1 at 09:00, 10:00 and 11:00 (11:00 is the exclusive end), c2 at 08:00 only
    nine, ten, eleven = at("2024-05-01T09:00"), at("2024-05-01T10:00"), at("2024-05-01T11:00")
    _land(s3, [("c1", 1.0, nine, nine), ("c1", 2.0, ten, ten), ("c1", 3.0, eleven, eleven)])
    _land(s3, [("c2", 4.0, at("2024-05-01T08:00"), nine)], "more.parquet")

    # when
    with OfflineStore(s3, BUCKET) as store:
        rows = store.latest_rows(CUSTOMER, since=None, until=eleven)

    # then
    assert rows.column_names == [
        "customer_id",
        "spend",
        "orders",
        "vip",
        "segment",
        "event_timestamp",
        "created_at",
    ]
    assert rows.schema.field("event_timestamp").type == TS
    assert rows.to_pydict()["customer_id"] == ["c1", "c2"]
    assert rows.to_pydict()["spend"] == [2.0, 4.0]
    assert rows.to_pydict()["event_timestamp"] == [ten, at("2024-05-01T08:00")]


def test_since_is_inclusive_and_skips_entities_without_a_newer_row(s3):
    # given c1 exactly at since, c2 one microsecond before it
    since = at("2024-05-02T00:00")
    _land(s3, [("c1", 1.0, since, since), ("c2", 2.0, since - US, since)])

    # when
    with OfflineStore(s3, BUCKET) as store:
        rows = store.latest_rows(CUSTOMER, since=since, until=since + timedelta(days=1))

    # then
    assert rows.to_pydict()["customer_id"] == ["c1"]


def test_ties_go_to_the_later_created_then_the_later_ingested_row(s3):
    # given, for c1 at 10:00: the original and two corrections in one file (the latest created in
    # the middle), and an older correction ingested after them
    ten = at("2024-05-01T10:00")
    minutes = [timedelta(minutes=m) for m in (0, 5, 1, 3)]
    _land(s3, [("c1", 5.0 + i, ten, ten + m) for i, m in enumerate(minutes[:3])], "fix.parquet", now=NOW)
    _land(s3, [("c1", 9.0, ten, ten + minutes[3])], "late.parquet", now=NOW + timedelta(hours=1))
    # and for merchant 7 at 10:00 three ingests without a created time, the last one in the middle
    for risk, hours, key in ((0.1, 0, "a.parquet"), (0.9, 2, "b.parquet"), (0.5, 1, "c.parquet")):
        body = parquet_bytes({"merchant_id": [7], "risk": [risk], "observed_at": pa.array([ten], TS)})
        land(s3, key, body, MERCHANT, now=NOW + timedelta(hours=hours))

    # when
    with OfflineStore(s3, BUCKET) as store:
        customers = store.latest_rows(CUSTOMER, since=None, until=ten + US)
        merchants = store.latest_rows(MERCHANT, since=None, until=ten + US)

    # then
    assert customers.to_pydict()["spend"] == [6.0]
    assert merchants.to_pydict() == {"merchant_id": [7], "risk": [0.9], "observed_at": [ten]}


def test_a_view_without_rows_gives_an_empty_table_of_its_columns(s3):
    # given nothing ingested for the view
    # when
    with OfflineStore(s3, BUCKET) as store:
        rows = store.latest_rows(MERCHANT, since=None, until=NOW)

    # then
    assert rows.num_rows == 0
    assert rows.schema == pa.schema(
        [("merchant_id", pa.int64()), ("risk", pa.float64()), ("observed_at", TS)]
    )


def test_a_cache_dir_keeps_downloads_and_drops_files_gone_from_the_bucket(s3, tmp_path):
    # given two ingested files, read once through a cache directory
    ten = at("2024-05-01T10:00")
    first = _land(s3, [("c1", 1.0, ten, ten)], "a.parquet")
    _land(s3, [("c2", 2.0, ten, ten)], "b.parquet")
    with OfflineStore(s3, BUCKET, cache_dir=tmp_path) as store:
        assert store.sync(CUSTOMER).downloaded == 2

    # when one file is deleted from the store, and the view is read again
    s3.delete_object(Bucket=BUCKET, Key=first.keys[0])
    with OfflineStore(s3, BUCKET, cache_dir=tmp_path) as store:
        synced = store.sync(CUSTOMER)
        rows = store.latest_rows(CUSTOMER, since=None, until=ten + US)

    # then nothing was downloaded again, and the deleted file's rows are gone
    assert (synced.downloaded, len(synced.files)) == (0, 1)
    assert rows.to_pydict()["customer_id"] == ["c2"]


def test_naive_bounds_are_refused(s3):
    with OfflineStore(s3, BUCKET) as store, pytest.raises(ValueError, match="until must be time-zone aware"):
        store.latest_rows(CUSTOMER, since=None, until=NOW.replace(tzinfo=None))
