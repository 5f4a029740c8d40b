"""moto 5.2.5 numbers Kinesis records "highest + 1" without a lock; the emulator serializes puts.

Without the fix, two server workers logging to the emulator at once lose records: concurrent
PutRecords calls take the same sequence number and the later record replaces the earlier one,
while both callers are told their records were stored.
"""

from __future__ import annotations

import inspect
import sys
import threading

import boto3
import pytest
from moto.kinesis.models import KinesisBackend, Shard

from tenantml.emulator import server as emulator_server

REGION = "eu-west-1"
STREAM = "concurrent-log"
THREADS = 6
CALLS = 40
RECORDS_PER_CALL = 25


@pytest.fixture
def endpoint(emulator: emulator_server.EmulatorServer) -> str:
    """The session's emulator (conftest), emptied first."""
    emulator_server.reset(emulator.endpoint)
    return emulator.endpoint


def _kinesis(endpoint: str):
    return boto3.client(
        "kinesis",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _read_all(kinesis) -> list[dict]:
    records = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records += [{**r, "ShardId": shard["ShardId"]} for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page["NextShardIterator"]
    return records


def test_the_moto_internals_the_fix_wraps_keep_their_shape() -> None:
    # the fix wraps these methods (by position of stream_arn/stream_name) and relies on this numbering;
    # a moto upgrade that changes them must fail here
    assert list(inspect.signature(inspect.unwrap(KinesisBackend.put_records)).parameters) == [
        "self",
        "stream_arn",
        "stream_name",
        "records",
    ]
    assert list(inspect.signature(inspect.unwrap(KinesisBackend.put_record)).parameters)[:3] == [
        "self",
        "stream_arn",
        "stream_name",
    ]
    assert list(inspect.signature(inspect.unwrap(KinesisBackend.get_records)).parameters)[:3] == [
        "self",
        "stream_arn",
        "shard_iterator",
    ]
    assert "get_max_sequence_number()" in inspect.getsource(Shard.put_record)


def test_concurrent_put_records_from_many_threads_are_all_stored_with_unique_sequence_numbers(endpoint):
    # given a 2-shard stream on the emulator
    _kinesis(endpoint).create_stream(StreamName=STREAM, ShardCount=2)
    clients = [_kinesis(endpoint) for _ in range(THREADS)]
    acknowledged: list[tuple[str, str]] = []
    errors: list[str] = []
    start = threading.Barrier(THREADS)

    def send(worker: int) -> None:
        start.wait()
        for call in range(CALLS):
            records = [
                {"Data": f"{worker}-{call}-{i}".encode(), "PartitionKey": f"k{worker}-{call}-{i}"}
                for i in range(RECORDS_PER_CALL)
            ]
            try:
                response = clients[worker].put_records(StreamName=STREAM, Records=records)
            except Exception as err:  # noqa: BLE001 - reported by the assertion below
                errors.append(f"{type(err).__name__}: {err}")
                return
            acknowledged.extend((r["ShardId"], r["SequenceNumber"]) for r in response["Records"])

    # when several threads put records at once (a tiny switch interval makes their calls interleave)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=send, args=(w,)) for w in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(interval)

    # then every acknowledged record is on the stream, each under its own sequence number
    total = THREADS * CALLS * RECORDS_PER_CALL
    assert errors == []
    assert len(acknowledged) == len(set(acknowledged)) == total, "two records were given one sequence number"
    stored = _read_all(_kinesis(endpoint))
    assert sorted(r["Data"].decode() for r in stored) == sorted(
        f"{w}-{c}-{i}" for w in range(THREADS) for c in range(CALLS) for i in range(RECORDS_PER_CALL)
    )
    assert {(r["ShardId"], r["SequenceNumber"]) for r in stored} == set(acknowledged)


def _moto_shard_get_records(shard: Shard, last_sequence_id: str, limit: int | None):
    """moto 5.2.5's own ``Shard.get_records`` (walks every record), the reference for the fast one."""
    last_sequence_int = int(last_sequence_id)
    results, secs_behind_latest = [], 0.0
    for sequence_number, record in shard.records.items():
        if sequence_number > last_sequence_int:
            results.append(record)
            last_sequence_int = sequence_number
            very_last_record = shard.records[next(reversed(shard.records))]
            secs_behind_latest = very_last_record.created_at - record.created_at
        if len(results) == limit:
            break
    return results, last_sequence_int, int(secs_behind_latest * 1000)


def test_a_shard_answers_by_position_exactly_as_moto_walks_it(emulator) -> None:
    # given: a shard that has taken records and expired its oldest ones (the emulator's fix installed)
    assert Shard.get_records.__module__ == "tenantml.emulator.moto_internals"
    shard = Shard(0, 0, 2**128)
    for i in range(200):
        assert shard.put_record(f"key-{i}", f"data-{i}", "") == str(i + 1)
    for sequence in range(1, 31):
        del shard.records[sequence]

    # then: min and max, and every read from every position with every limit, equal moto's walk
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (31, 200)
    for last in (0, 5, 30, 31, 99, 199, 200, 250):
        for limit in (None, 1, 7, 500):
            fast, slow = shard.get_records(str(last), limit), _moto_shard_get_records(shard, str(last), limit)
            assert [r.sequence_number for r in fast[0]] == [r.sequence_number for r in slow[0]]
            assert fast[1:] == slow[1:], (last, limit)
    assert Shard(1, 0, 1).get_records("0", None) == ([], 0, 0)
