"""The online store against moto's DynamoDB: typed round trips, chunking, TTL, older-never-wins,
bad input that leaves the table untouched."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from features_support import NOW, TABLE, VIEW, CallCounter, entity_items, rows, scan

from core.errors import FeatureDataError, FeatureStoreConfigError
from core.feature_spec import FeatureViewSpec
from pipelines.features.online import OnlineStore


def test_values_come_back_with_the_types_the_view_declares(store: OnlineStore) -> None:
    # given: one row with every type, and one whose string and bool are null
    at = datetime(2026, 12, 1, 11, 30, 15, 123456, tzinfo=UTC)
    table = rows([42, 7], at=at, segment=["gold", None], is_active=[True, None], spend_30d=[0.1, 1e-7])

    # when
    written = store.write(VIEW, table)
    got = store.get(VIEW, [{"customer_id": "42"}, {"customer_id": 7}])

    # then: int stays int, float float, null stays null (absent), the event time to the microsecond
    assert written == 2
    assert got[0] == {
        "sessions_7d": 3,
        "spend_30d": 0.1,
        "segment": "gold",
        "is_active": True,
        "event_timestamp": at,
    }
    assert type(got[0]["sessions_7d"]) is int and type(got[0]["spend_30d"]) is float
    assert got[1] == {
        "sessions_7d": 4,
        "spend_30d": 1e-7,
        "segment": None,
        "is_active": None,
        "event_timestamp": at,
    }


def test_an_unknown_entity_is_none_and_a_string_key_of_an_int_entity_is_the_same_entity(
    store: OnlineStore,
) -> None:
    store.write(VIEW, rows([42]))

    got = store.get(VIEW, [{"customer_id": 43}, {"customer_id": " 42"}, {"customer_id": 42.0}])

    assert got[0] is None
    assert got[1] is not None and got[1] == got[2]


def test_a_non_integer_key_of_an_int_entity_is_refused_naming_the_entity(store: OnlineStore) -> None:
    with pytest.raises(FeatureDataError) as caught:
        store.get(VIEW, [{"customer_id": "4x2"}, {"customer_id": 4.5}, {"customer": 1}])

    text = str(caught.value)
    assert "view 'customer_activity', entity 'customer_id': must be an integer (got '4x2')" in text
    assert "(got 4.5)" in text
    assert "entity 'customer': is not a key of the view" in text


def test_writes_and_reads_go_in_batches_within_aws_limits(store: OnlineStore, dynamodb: Any) -> None:
    # given: 260 entities, more than 10 write batches and 2 read batches
    counter = CallCounter(dynamodb)
    ids = list(range(1000, 1260))

    # when
    written = store.write(VIEW, rows(ids))
    got = store.get(VIEW, [{"customer_id": i} for i in ids])

    # then
    assert written == 260
    assert [g["sessions_7d"] for g in got] == [3 + i for i in range(260)]  # type: ignore[index]
    assert counter.batch_sizes["BatchWriteItem"] == [25] * 10 + [10]
    # the get's only: a first write has nothing stored to be older than (a backfill's reads are
    # in test_features_written_max.py)
    assert counter.batch_sizes["BatchGetItem"] == [100, 100, 60]
    assert len(entity_items(dynamodb)) == 260


def test_one_entity_is_one_get_item_and_reads_as_a_batch_does(store: OnlineStore, dynamodb: Any) -> None:
    # given: two entities online, and a client counting its calls
    store.write(VIEW, rows([1, 2], segment=["gold", None]))
    counter = CallCounter(dynamodb)

    # when: one entity (twice under two spellings: one key), a missing one, then both in one call
    alone = store.get(VIEW, [{"customer_id": 2}, {"customer_id": "2"}])
    missing = store.get(VIEW, [{"customer_id": 3}])
    both = store.get(VIEW, [{"customer_id": 1}, {"customer_id": 2}])

    # then: a GetItem for each single key, a BatchGetItem for the pair, and the same values either way
    assert counter.calls["GetItem"] == 2 and counter.batch_sizes["BatchGetItem"] == [2]
    assert alone == [both[1], both[1]] and missing == [None]
    assert both[1] is not None and both[1]["segment"] is None and both[1]["sessions_7d"] == 4


def test_unprocessed_keys_of_a_read_are_fetched_again(dynamodb: Any) -> None:
    # given: 100 items of about 300 KB: one BatchGetItem response stops at 16 MB, as DynamoDB's does,
    # and hands the rest back as UnprocessedKeys
    view = FeatureViewSpec.model_validate(
        {
            "name": "documents",
            "entities": [{"name": "doc_id", "type": "string"}],
            "features": [{"name": "body", "type": "string"}],
        }
    )
    at = NOW - timedelta(minutes=5)
    table = pa.table(
        {
            "doc_id": [f"d{i}" for i in range(100)],
            "body": [f"{i:03d}" + "x" * 300_000 for i in range(100)],
            "event_timestamp": pa.array([at] * 100, pa.timestamp("us", tz="UTC")),
        }
    )
    store = OnlineStore(dynamodb, TABLE, backoff_base=0.001, clock=NOW.timestamp)
    store.write(view, table)
    counter = CallCounter(dynamodb)

    # when
    got = store.get(view, [{"doc_id": f"d{i}"} for i in range(100)])

    # then: every document, after more than one call for the one chunk of 100 keys
    assert [g["body"][:3] for g in got] == [f"{i:03d}" for i in range(100)]  # type: ignore[index]
    assert counter.calls["BatchGetItem"] >= 2
    assert (
        counter.batch_sizes["BatchGetItem"][0] == 100 and sum(counter.batch_sizes["BatchGetItem"][1:]) < 100
    )


def test_an_item_past_its_ttl_is_missing_although_dynamodb_still_holds_it(dynamodb: Any) -> None:
    # given: a row 23.5 hours old in a view with a 24 hour TTL
    writer = OnlineStore(dynamodb, TABLE, clock=NOW.timestamp)
    writer.write(VIEW, rows([1], at=NOW - timedelta(hours=23, minutes=30)))

    # when: read now, and an hour later (DynamoDB's TTL deletion has not run: it is lazy)
    now = writer.get(VIEW, [{"customer_id": 1}])
    later = OnlineStore(dynamodb, TABLE, clock=(NOW + timedelta(hours=1)).timestamp).get(
        VIEW, [{"customer_id": 1}]
    )

    # then
    assert now[0] is not None and later == [None]
    assert len(entity_items(dynamodb)) == 1
    assert int(entity_items(dynamodb)[0]["expires_at"]["N"]) == int((NOW + timedelta(minutes=30)).timestamp())


def test_rows_already_past_their_ttl_are_not_written(store: OnlineStore, dynamodb: Any) -> None:
    written = store.write(VIEW, rows([1, 2], at=NOW - timedelta(hours=25)))

    assert written == 0 and scan(dynamodb) == []


def test_a_backfill_of_older_rows_never_replaces_newer_online_values(
    store: OnlineStore, dynamodb: Any
) -> None:
    # given: entities 1 and 2 online as of an hour ago
    store.write(VIEW, rows([1, 2], at=NOW - timedelta(hours=1), sessions=100))
    before = scan(dynamodb)

    # when: a backfill of rows from three hours ago for 1 and 2, and a new entity 3
    written = store.write(VIEW, rows([1, 2, 3], at=NOW - timedelta(hours=3), sessions=5))

    # then: only entity 3 was written; 1 and 2 keep their newer values
    assert written == 1
    got = store.get(VIEW, [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}])
    assert [g["sessions_7d"] for g in got] == [100, 101, 7]  # type: ignore[index]
    assert [i for i in scan(dynamodb) if i["pk"]["S"] != "customer_activity#customer_id=3"] == before


def test_a_newer_row_and_a_correction_at_the_same_event_time_replace_the_online_value(
    store: OnlineStore,
) -> None:
    store.write(VIEW, rows([1], at=NOW - timedelta(hours=2), sessions=1))

    newer = store.write(VIEW, rows([1], at=NOW - timedelta(hours=1), sessions=2))
    corrected = store.write(VIEW, rows([1], at=NOW - timedelta(hours=1), sessions=3))

    assert newer == corrected == 1
    assert store.get(VIEW, [{"customer_id": 1}])[0]["sessions_7d"] == 3  # type: ignore[index]


def test_duplicate_rows_of_one_entity_keep_the_newest(store: OnlineStore) -> None:
    table = rows(
        [5, 5, 5],
        event_timestamp=pa.array(
            [NOW - timedelta(hours=3), NOW - timedelta(hours=1), NOW - timedelta(hours=2)],
            pa.timestamp("us", tz="UTC"),
        ),
    )

    written = store.write(VIEW, table)

    assert written == 1
    assert store.get(VIEW, [{"customer_id": 5}])[0]["sessions_7d"] == 4  # type: ignore[index]


def test_every_finite_float64_comes_back_exactly(store: OnlineStore) -> None:
    # the values are one JSON attribute: no DynamoDB number-range limit, no rounding
    extremes = [1e200, -1.7976931348623157e308, 5e-324, 0.1 + 0.2]
    store.write(VIEW, rows([0, 1, 2, 3], spend_30d=extremes))

    got = store.get(VIEW, [{"customer_id": i} for i in range(4)])

    assert [g["spend_30d"] for g in got] == extremes  # type: ignore[index]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_bad_float_is_refused_naming_entity_and_feature_and_nothing_is_written(
    store: OnlineStore, dynamodb: Any, bad: float
) -> None:
    # given: 30 good rows and a bad one at the end (past the first write chunk)
    ids = list(range(31))
    spend = [1.0] * 30 + [bad]

    with pytest.raises(FeatureDataError) as caught:
        store.write(VIEW, rows(ids, spend_30d=spend))

    assert "entity customer_id=30, view 'customer_activity', feature 'spend_30d'" in str(caught.value)
    assert scan(dynamodb) == []


def test_wrong_column_types_missing_columns_and_naive_times_are_refused(
    store: OnlineStore, dynamodb: Any
) -> None:
    wrong = rows([1]).set_column(1, "sessions_7d", pa.array(["three"]))
    with pytest.raises(FeatureDataError, match="feature 'sessions_7d': declared int64, the rows hold string"):
        store.write(VIEW, wrong)

    with pytest.raises(FeatureDataError, match="rows lack column\\(s\\) segment"):
        store.write(VIEW, rows([1]).drop_columns(["segment"]))

    naive = rows([1]).set_column(5, "event_timestamp", pa.array([datetime(2026, 12, 1)], pa.timestamp("us")))
    with pytest.raises(FeatureDataError, match="'event_timestamp': must be a time-zone-aware timestamp"):
        store.write(VIEW, naive)

    null_key = rows([1, 2]).set_column(0, "customer_id", pa.array([1, None], pa.int64()))
    with pytest.raises(
        FeatureDataError, match="row 2: view 'customer_activity', entity 'customer_id': is missing"
    ):
        store.write(VIEW, null_key)
    assert scan(dynamodb) == []


def test_the_watermark_is_none_until_set_and_keeps_microseconds(store: OnlineStore) -> None:
    assert store.watermark(VIEW) is None

    until = datetime(2026, 12, 1, 11, 59, 59, 999999, tzinfo=UTC)
    store.set_watermark(VIEW, until)

    assert store.watermark(VIEW) == until
    assert store.get(VIEW, [{"customer_id": 1}]) == [None]  # the watermark item is no entity


def test_a_missing_table_is_a_config_error_naming_it(dynamodb: Any) -> None:
    store = OnlineStore(dynamodb, "no-such-table")

    with pytest.raises(FeatureStoreConfigError, match="'no-such-table' does not exist"):
        store.get(VIEW, [{"customer_id": 1}])
