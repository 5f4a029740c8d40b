"""Read-before-write only where it can matter: the forward path of materialization writes without
reading; late data, re-runs of old windows and the leftovers of a dead write are still checked, so
an older row never replaces a newer one. Requests are counted on the real boto3 client (botocore's
events) against moto's DynamoDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
from features_support import NOW, TABLE, VIEW, CallCounter, entity_items, rows, scan

from core.feature_layout import WATERMARK_ATTRIBUTE, watermark_pk
from pipelines.features.materialize import write_latest
from pipelines.features.online import WRITTEN_MAX_ATTRIBUTE, OnlineStore


def _sessions(store: OnlineStore, ids: list[int]) -> list[int | None]:
    got = store.get(VIEW, [{"customer_id": i} for i in ids])
    return [None if g is None else g["sessions_7d"] for g in got]


def test_each_window_after_the_last_writes_without_reading(store: OnlineStore, dynamodb: Any) -> None:
    # given: a first window, then the next one with newer rows for the same and new entities
    counter = CallCounter(dynamodb)
    first_until, second_until = NOW - timedelta(minutes=30), NOW

    # when
    first = write_latest(
        store, VIEW, rows(list(range(60)), at=NOW - timedelta(hours=1)), until=first_until, now=NOW
    )
    second = write_latest(
        store, VIEW, rows(list(range(30, 90)), at=NOW - timedelta(minutes=10), sessions=500),
        until=second_until, now=NOW,
    )  # fmt: skip

    # then: every row written, not one BatchGetItem, and the newer window won where they overlap
    assert (first.written, second.written) == (60, 60)
    assert counter.calls["BatchGetItem"] == 0
    assert counter.batch_sizes["BatchWriteItem"] == [25, 25, 10] * 2
    assert _sessions(store, [0, 29, 30, 89]) == [3, 32, 500, 559]
    assert len(scan(dynamodb)) == 90 + 1  # the entities and the watermark item


def test_late_rows_are_read_for_and_never_replace_newer_online_values(
    store: OnlineStore, dynamodb: Any
) -> None:
    # given: entities 1..3 materialized as of ten minutes ago
    write_latest(
        store, VIEW, rows([1, 2, 3], at=NOW - timedelta(minutes=10), sessions=100), until=NOW, now=NOW
    )
    before = entity_items(dynamodb)
    counter = CallCounter(dynamodb)

    # when: rows from three hours ago arrive late, for 1..3 and a new entity 4
    late = write_latest(
        store, VIEW, rows([1, 2, 3, 4], at=NOW - timedelta(hours=3), sessions=5), until=NOW, now=NOW
    )

    # then: the late rows were checked against what is stored; only entity 4 was written
    assert counter.batch_sizes["BatchGetItem"] == [4]
    assert (late.written, late.skipped) == (1, 3)
    assert _sessions(store, [1, 2, 3, 4]) == [100, 101, 102, 8]
    assert entity_items(dynamodb)[:3] == before


def test_a_rerun_of_an_old_window_reads_only_for_its_rows_older_than_what_was_written(
    store: OnlineStore,
) -> None:
    # given: 250 entities online as of an hour ago
    write_latest(
        store, VIEW, rows(list(range(250)), at=NOW - timedelta(hours=1), sessions=100), until=NOW, now=NOW
    )
    counter = CallCounter(store.client)

    # when: an old window is run again (200 rows from four hours ago), together with 50 rows newer
    # than anything written: one batch, as a re-run with a wider window hands them over
    old = rows(list(range(200)), at=NOW - timedelta(hours=4), sessions=1)
    new = rows(list(range(200, 250)), at=NOW - timedelta(minutes=5), sessions=900)
    result = store.write(VIEW, pa.concat_tables([old, new]))

    # then: the 200 old rows were read for (in BatchGetItem's chunks of 100) and all skipped; the 50
    # newer ones were written without a read
    assert counter.batch_sizes["BatchGetItem"] == [100, 100]
    assert result == 50
    assert _sessions(store, [0, 199, 200, 249]) == [100, 299, 900, 949]


def test_rows_of_a_write_that_died_midway_still_win_over_older_rows(
    store: OnlineStore, dynamodb: Any
) -> None:
    # given: a write of 60 rows as of an hour ago dies on its second BatchWriteItem, before any
    # watermark moved
    batches: list[int] = []

    def die_on_second(params: dict[str, Any], **_: Any) -> None:
        batches.append(len(params["RequestItems"][TABLE]))
        if len(batches) == 2:
            raise ConnectionError("connection reset by peer")

    dynamodb.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", die_on_second)
    with pytest.raises(ConnectionError):
        store.write(VIEW, rows(list(range(60)), at=NOW - timedelta(hours=1), sessions=100))
    dynamodb.meta.events.unregister("provide-client-params.dynamodb.BatchWriteItem", die_on_second)
    assert store.watermark(VIEW) is None and len(scan(dynamodb)) == 25 + 1

    # when: a run with older rows for the same entities
    written = store.write(VIEW, rows(list(range(60)), at=NOW - timedelta(hours=2), sessions=1))

    # then: the 25 rows the dead write had put online keep their newer values
    assert written == 35
    assert _sessions(store, [0, 24, 25, 59]) == [100, 124, 26, 60]


def test_a_watermark_item_from_before_written_max_makes_every_row_read_for(
    store: OnlineStore, dynamodb: Any
) -> None:
    # given: an item online and a watermark item as an earlier version left them: no written_max_us
    store.write(VIEW, rows([1], at=NOW - timedelta(minutes=10), sessions=100))
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": watermark_pk(VIEW.name)},
            WATERMARK_ATTRIBUTE: {"N": str(int(NOW.timestamp() * 1e6))},
        },
    )
    counter = CallCounter(dynamodb)

    # when: rows older than the stored one, for it and a new entity
    written = store.write(VIEW, rows([1, 2], at=NOW - timedelta(hours=2), sessions=5))

    # then: both were read for, the stored value stayed, and no bound is made up from these rows
    # alone (entity 1 is newer than both)
    assert counter.batch_sizes["BatchGetItem"] == [2]
    assert written == 1 and _sessions(store, [1, 2]) == [100, 6]
    state = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": watermark_pk(VIEW.name)}})["Item"]
    assert WRITTEN_MAX_ATTRIBUTE not in state
