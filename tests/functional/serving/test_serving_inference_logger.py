"""The inference logger against a real (moto) Kinesis stream.

Throttling and partial failures are injected by :class:`FaultInjector`, a thin wrapper around the
real client: it fails chosen entries (or whole calls) the first time, sends the rest to the real
stream, and records how many records each call carried. What the tests check is what arrives on
the stream.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError
from wait_support import wait_until

from pipelines.data.features import FeatureSignature
from pipelines.inference_log.decoding import InferenceRecord, decode_kinesis_batch, parse_payloads
from pipelines.inference_log.format import (
    AGGREGATE_MAGIC,
    FRAME_MAGIC,
    PROBA_AGGREGATE_MAGIC,
    PROBA_FRAME_MAGIC,
)
from pipelines.inference_log.kinesis import PutRecordsClient
from pipelines.inference_log.logger import KinesisInferenceLogger, LogEntry, LoggerSettings
from pipelines.serving.schema import FeatureBatch, InputSchema

REGION = "eu-west-1"
SCHEMA = InputSchema(
    [
        FeatureSignature(name="amount", dtype="float64", kind="numeric"),
        FeatureSignature(name="color", dtype="str", kind="categorical"),
    ]
)


class FaultInjector:
    """Wraps a real Kinesis client; fails entries or calls the first time they are sent."""

    def __init__(self, client, *, fail_entries=frozenset(), throttle_calls: int = 0) -> None:
        self.client = client
        self.fail_entries = set(fail_entries)  # partition keys to fail once
        self.throttle_calls = throttle_calls
        self.call_sizes: list[int] = []

    def put_records(self, *, StreamName, Records):
        self.call_sizes.append(len(Records))
        if self.throttle_calls > 0:
            self.throttle_calls -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                "PutRecords",
            )
        failing = [r["PartitionKey"] in self.fail_entries for r in Records]
        self.fail_entries -= {r["PartitionKey"] for r in Records}
        sent = [r for r, fail in zip(Records, failing, strict=True) if not fail]
        real = self.client.put_records(StreamName=StreamName, Records=sent)["Records"] if sent else []
        results, it = [], iter(real)
        for fail in failing:
            results.append(
                {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard",
                }
                if fail
                else next(it)
            )
        return {"FailedRecordCount": sum(failing), "Records": results}


@pytest.fixture(params=["put-records-client-cbor", "put-records-client-json", "boto3"])
def sender(request, kinesis, aws):
    """The logger's own PutRecords client in both wire formats (CBOR is the server's default) and
    boto3's, against the same stream."""
    if request.param == "boto3":
        return kinesis
    return PutRecordsClient(REGION, aws, protocol=request.param.rsplit("-", 1)[1])


def _entry(request_id: str, rows: int = 1, *, error: bool = False) -> LogEntry:
    numeric = np.arange(rows, dtype=np.float64).reshape(rows, 1)
    numeric[0, 0] = np.nan
    categorical = np.array([["red"]] * rows, dtype=object)
    return LogEntry(
        request_id=request_id,
        model_version="4",
        batch=FeatureBatch(numeric=numeric, categorical=categorical, n_rows=rows),
        predictions=None if error else np.arange(rows) % 2,
        latency_ms=1.5,
        timestamp=time.time(),
        error=error,
    )


def _logger(client, stream, **settings) -> KinesisInferenceLogger:
    """A logger sending a record per request (format 4) unless ``aggregate_bytes`` says otherwise:
    most tests here count records per request."""
    settings = {"flush_interval": 0.02, "backoff_base": 0.001, "aggregate_bytes": 0, **settings}
    return KinesisInferenceLogger(LoggerSettings(stream_name=stream, **settings), SCHEMA, lambda: client)


def test_records_are_sent_in_batches_of_at_most_500(sender, stream, read_records):
    # given 1,234 requests buffered before the sender runs
    client = FaultInjector(sender)
    logger = _logger(client, stream)
    for i in range(1234):
        assert logger.submit(_entry(f"req{i}"))
    # when the logger closes
    assert logger.close(timeout=30)
    # then PutRecords carried at most 500 records per call, and every request arrived once
    assert client.call_sizes == [500, 500, 234]
    records = read_records(stream)
    assert sorted(r.request_id for r in records) == sorted(f"req{i}" for i in range(1234))
    assert logger.stats.sent_records == 1234 and logger.stats.failed_records == 0


def test_a_multi_row_request_is_one_record_with_all_its_rows(sender, stream, read_records):
    client = FaultInjector(sender)
    logger = _logger(client, stream)
    for i, rows in enumerate([600, 400, 234]):
        assert logger.submit(_entry(f"req{i}", rows))
    assert logger.close(timeout=30)
    assert client.call_sizes == [3]
    by_id = {r.request_id: r for r in read_records(stream)}
    assert {k: r.n_rows for k, r in by_id.items()} == {"req0": 600, "req1": 400, "req2": 234}
    first = by_id["req0"]
    assert first.rows()[0] == {"amount": None, "color": "red"} and first.predictions[:2] == [0, 1]
    assert (logger.stats.sent_records, logger.stats.sent_rows, logger.stats.lost_rows) == (3, 1234, 0)


def test_the_sender_wakes_for_a_full_call_not_for_every_few_multi_row_requests(kinesis, stream, read_records):
    # given a started logger that would otherwise wait a minute between sends
    client = FaultInjector(kinesis)
    logger = _logger(client, stream, flush_interval=60, wake_rows=2_000)
    logger.start()
    # when 100-row requests arrive one by one
    for i in range(40):
        assert logger.submit(_entry(f"big{i}", 100))
        # a yield that lets a sender woken too early show itself (it would send fewer than 20);
        # no length of it can fail a correct logger, whose flush interval is a minute
        time.sleep(0.005)
    wait_until(lambda: sum(client.call_sizes) >= 20, message=lambda: f"sent {client.call_sizes}")
    # then the 20th request (2,000 rows) woke the sender, not the 5th (500 rows, the old trigger)
    assert client.call_sizes and client.call_sizes[0] >= 20, client.call_sizes
    assert logger.close(timeout=30)
    assert sum(client.call_sizes) == 40 and len(read_records(stream)) == 40


def test_batches_also_respect_the_byte_limit(kinesis, stream, read_records):
    client = FaultInjector(kinesis)
    # a 2 KB byte budget fits only a handful of ~200-byte records per call
    logger = _logger(client, stream, max_bytes_per_call=2000)
    for i in range(30):
        logger.submit(_entry(f"r{i}"))
    assert logger.close(timeout=30)
    assert len(client.call_sizes) > 1 and max(client.call_sizes) < 30
    assert len(read_records(stream)) == 30


def test_partial_failures_resend_only_the_failed_entries(sender, stream, read_records):
    # given a stream that rejects three chosen entries the first time
    client = FaultInjector(sender, fail_entries={"r3", "r7", "r8"})
    logger = _logger(client, stream)
    for i in range(10):
        logger.submit(_entry(f"r{i}"))
    assert logger.close(timeout=30)
    # then the second call carried only the three failed entries, and each record arrived once
    assert client.call_sizes == [10, 3]
    assert sorted(r.request_id for r in read_records(stream)) == sorted(f"r{i}" for i in range(10))
    assert logger.stats.retried_records == 3 and logger.stats.failed_records == 0


def test_throttled_calls_are_retried_with_backoff(kinesis, stream, read_records):
    client = FaultInjector(kinesis, throttle_calls=2)
    sleeps: list[float] = []
    logger = KinesisInferenceLogger(
        LoggerSettings(stream_name=stream, flush_interval=0.02, backoff_base=0.01, aggregate_bytes=0),
        SCHEMA,
        lambda: client,
        sleep=lambda s: sleeps.append(s),
    )
    for i in range(5):
        logger.submit(_entry(f"t{i}"))
    assert logger.close(timeout=30)
    assert client.call_sizes == [5, 5, 5]
    # exponential backoff with jitter: each wait within [ceiling/2, ceiling], the ceiling doubling
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02
    assert len(read_records(stream)) == 5
    assert logger.stats.retried_calls == 2


def test_records_still_failing_after_max_attempts_are_counted_not_retried_forever(kinesis, stream):
    client = FaultInjector(kinesis, throttle_calls=100)
    logger = _logger(client, stream, max_attempts=3)
    logger.submit(_entry("x", 4))
    assert logger.close(timeout=30) is True
    assert len(client.call_sizes) == 3
    assert (logger.stats.failed_records, logger.stats.failed_rows) == (1, 4)
    assert "ProvisionedThroughputExceededException" in logger.stats.last_error


def test_a_full_buffer_drops_and_counts_without_blocking(kinesis, stream, read_records):
    # given a sender that is stuck (the stream's client blocks until released)
    release = threading.Event()
    returned: list[int] = []

    class Stuck:
        def put_records(self, **kwargs):
            release.wait(30)
            returned.append(len(kwargs["Records"]))
            return kinesis.put_records(**kwargs)

    logger = _logger(Stuck(), stream, max_buffer_records=10)
    logger.start()
    assert logger.submit(_entry("first"))
    wait_until(lambda: logger.buffered_records == 0)  # the sender took it and is stuck
    # when more rows arrive than the buffer holds
    accepted = [logger.submit(_entry(f"r{i}", 3)) for i in range(5)]
    # then submit returned while the sender was still stuck (a blocking submit would have waited for it),
    # 3 requests (9 rows) fit, 2 requests (6 rows) were dropped and counted
    assert returned == []
    assert accepted == [True, True, True, False, False]
    assert logger.snapshot()["dropped_buffer_full"] == 6
    release.set()
    assert logger.close(timeout=30)
    assert len(read_records(stream)) == 1 + 3  # one record per request


def test_close_flushes_everything_buffered(kinesis, stream, read_records):
    logger = _logger(kinesis, stream, flush_interval=60)  # the timer alone would not send for a minute
    logger.start()
    for i in range(7):
        logger.submit(_entry(f"c{i}"))
    assert logger.close(timeout=10)
    assert len(read_records(stream)) == 7
    assert logger.submit(_entry("late")) is False  # a closed logger takes nothing more


def test_a_refused_connection_is_retried_then_counted(aws):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logger = _logger(PutRecordsClient(REGION, f"http://127.0.0.1:{port}"), "s", max_attempts=2)
    logger.submit(_entry("lost"))
    logger.close(timeout=10)
    assert logger.stats.retried_calls == 1 and logger.stats.failed_records == 1


def test_records_decode_with_the_monitor_lambda_decoder(kinesis, stream):
    import base64

    logger = _logger(kinesis, stream)
    logger.submit(_entry("ok"))
    logger.submit(_entry("failed", error=True))
    assert logger.close(timeout=10)
    shard = kinesis.list_shards(StreamName=stream)["Shards"]
    raw = []
    for s in shard:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        raw += kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]
    event = [
        {"kinesis": {"data": base64.b64encode(r["Data"]).decode(), "sequenceNumber": r["SequenceNumber"]}}
        for r in raw
    ]
    batch = decode_kinesis_batch(event)
    assert batch.failures == []
    by_id = {r.request_id: r for r in batch.records}
    assert isinstance(by_id["ok"], InferenceRecord) and by_id["ok"].predictions == [0]
    assert by_id["failed"].error is True


def test_unreachable_stream_is_reported_not_raised(sender):
    logger = _logger(sender, "no-such-stream")
    logger.submit(_entry("lost"))
    logger.close(timeout=10)
    assert logger.stats.failed_records == 1
    assert "ResourceNotFoundException" in logger.stats.last_error


# --- aggregation (format 5): the server's default ------------------------------------------------


def test_small_requests_are_aggregated_into_one_record_and_each_arrives_once(
    sender, stream, read_records, stream_data
):
    # given 300 one-row requests, every tenth a failed one, and the default aggregation
    client = FaultInjector(sender)
    logger = _logger(client, stream, aggregate_bytes=LoggerSettings(stream_name="s").aggregate_bytes)
    for i in range(300):
        assert logger.submit(_entry(f"a{i}", error=i % 10 == 0))
    assert logger.close(timeout=30)
    # then one call carried one Kinesis record holding all 300 requests, each readable on its own
    assert client.call_sizes == [1]
    assert [data[:4] for data in stream_data(stream)] == [AGGREGATE_MAGIC]
    records = read_records(stream)
    assert [r.request_id for r in records] == [f"a{i}" for i in range(300)]
    assert [r.error for r in records] == [i % 10 == 0 for i in range(300)]
    assert records[1].rows() == [{"amount": None, "color": "red"}] and records[1].predictions == [0]
    assert (logger.stats.sent_records, logger.stats.sent_rows, logger.stats.lost_rows) == (1, 300, 0)


def test_aggregates_keep_to_their_size_and_a_large_request_is_a_record_of_its_own(
    kinesis, stream, read_records, stream_data
):
    # given 40 ten-row requests and one of 600 rows, aggregates of about 2 KB
    client = FaultInjector(kinesis)
    logger = _logger(client, stream, aggregate_bytes=2048)
    for i in range(20):
        logger.submit(_entry(f"s{i}", 10))
    logger.submit(_entry("big", 600))
    for i in range(20, 40):
        logger.submit(_entry(f"s{i}", 10))
    assert logger.close(timeout=30)
    raw = stream_data(stream)
    # then the large request went alone (format 4, as does a request left alone at the end of a
    # run), the others in several aggregates of at most ~2 KB
    singles = [parse_payloads(data)[0]["request_id"] for data in raw if data[:4] == FRAME_MAGIC]
    aggregates = [data for data in raw if data[:4] == AGGREGATE_MAGIC]
    assert "big" in singles and len(singles) <= 3
    assert len(aggregates) > 2 and max(len(data) for data in aggregates) <= 2048 + 512
    assert sorted(r.request_id for r in read_records(stream)) == sorted(
        ["big", *(f"s{i}" for i in range(40))]
    )
    assert logger.stats.sent_rows == 40 * 10 + 600


def test_a_failed_aggregate_is_resent_whole_and_its_requests_arrive_once(sender, stream, read_records):
    # given small aggregates, and a stream that rejects the first one (its key: its first request's id) once
    client = FaultInjector(sender, fail_entries={"f0"})
    logger = _logger(client, stream, aggregate_bytes=1024)
    for i in range(30):
        logger.submit(_entry(f"f{i}", 5))
    assert logger.close(timeout=30)
    # then the retry carried only that aggregate, and every request arrived exactly once
    assert len(client.call_sizes) == 2 and client.call_sizes[1] == 1 and client.call_sizes[0] > 1
    assert sorted(r.request_id for r in read_records(stream)) == sorted(f"f{i}" for i in range(30))
    assert logger.stats.retried_records == 1 and logger.stats.failed_records == 0


def test_requests_of_different_model_versions_are_never_aggregated_together(kinesis, stream, stream_data):
    logger = _logger(kinesis, stream, aggregate_bytes=64 * 1024)
    for i in range(12):
        logger.submit(dataclasses.replace(_entry(f"v{i}"), model_version="4" if i // 3 % 2 else "5"))
    assert logger.close(timeout=30)
    versions = [{p["model_version"] for p in parse_payloads(data)} for data in stream_data(stream)]
    assert sorted(len(v) for v in versions) == [1, 1, 1, 1]  # runs of 3 requests: 5, 4, 5, 4


def test_an_aggregate_over_the_record_limit_is_split_until_each_part_fits(
    kinesis, stream, read_records, stream_data
):
    client = FaultInjector(kinesis)
    logger = _logger(client, stream, aggregate_bytes=10**6, max_bytes_per_record=1500)
    for i in range(40):
        logger.submit(_entry(f"p{i}", 4))
    assert logger.close(timeout=30)
    raw = stream_data(stream)
    assert len(raw) > 2 and max(len(data) for data in raw) <= 1500
    assert sorted(r.request_id for r in read_records(stream)) == sorted(f"p{i}" for i in range(40))


def test_a_200_answer_that_is_not_putrecords_result_is_retried_not_counted_delivered(aws):
    import http.server

    class Proxy(http.server.BaseHTTPRequestHandler):
        """A proxy that answers every request with its own page."""

        calls = 0

        def do_POST(self):
            Proxy.calls += 1
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"<html>maintenance</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = PutRecordsClient(REGION, f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(ClientError, match="200 answer without the 1 record results: <html>maintenance"):
            client.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}])
        logger = _logger(client, "s", max_attempts=3)
        logger.submit(_entry("maybe-lost"))
        logger.close(timeout=10)
    finally:
        server.shutdown()
    # then each attempt was retried and the request is counted as failed, not as sent
    assert Proxy.calls == 1 + 3
    assert (logger.stats.sent_records, logger.stats.failed_records, logger.stats.retried_calls) == (0, 1, 2)
    assert "InvalidResponse" in logger.stats.last_error


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_classifiers_logger_sends_each_answered_requests_probabilities_whatever_record_it_lands_in(
    kinesis, stream, stream_data, n_classes
):
    # given requests of a classifier with probabilities: small ones, failed ones, and a large one in
    # the middle of a run (alone, format 6), with aggregates small enough to be split at the record limit
    rng = np.random.default_rng(n_classes)
    client = FaultInjector(kinesis)
    logger = KinesisInferenceLogger(
        LoggerSettings(
            stream_name=stream, flush_interval=0.02, aggregate_bytes=4096, max_bytes_per_record=3000
        ),
        SCHEMA,
        lambda: client,
        classes=["no", "yes"] if n_classes == 2 else ["a", "b", "c"],
    )
    sent: dict[str, np.ndarray | None] = {}
    for i, rows in enumerate([1, 3, 1, 200, 2, 1, 5, 1, 1, 4] * 4):
        failed = i % 7 == 5
        probabilities = None if failed else rng.dirichlet(np.ones(n_classes), size=rows)
        sent[f"q{i}"] = probabilities
        entry = dataclasses.replace(_entry(f"q{i}", rows, error=failed), probabilities=probabilities)
        assert logger.submit(entry)
    assert logger.close(timeout=30)

    # then every request arrives once, an answered one with exactly its probabilities
    raw = stream_data(stream)
    assert {data[:4] for data in raw} <= {PROBA_FRAME_MAGIC, PROBA_AGGREGATE_MAGIC, FRAME_MAGIC}
    assert any(data[:4] == PROBA_FRAME_MAGIC for data in raw) and any(
        data[:4] == PROBA_AGGREGATE_MAGIC for data in raw
    )
    assert max(len(data) for data in raw) <= 3000
    chunks: dict[str, list[dict]] = {}
    for data in raw:
        for payload in parse_payloads(data):
            chunks.setdefault(payload["request_id"], []).append(payload)
    assert sorted(chunks) == sorted(sent) and len(chunks["q3"]) > 1  # the 200-row request was split
    for request_id, probabilities in sent.items():
        parts = sorted(chunks[request_id], key=lambda p: p["chunk"])
        if probabilities is None:
            assert all("probabilities" not in p and p["error"] for p in parts)
            continue
        got = np.concatenate([p["probabilities"] for p in parts])
        if n_classes == 2:  # the positive class's column is logged, the other is one minus it
            got, probabilities = got[:, 1], probabilities[:, 1]
        np.testing.assert_array_equal(got, probabilities)
    assert logger.stats.lost_rows == 0
