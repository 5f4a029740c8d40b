"""Kinesis event source mappings: batches, partial batch failures, retries, bisection, on-failure destinations."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from runtime_support import create_function, create_queue, drain_queue, handler_zip, printed

STREAM = "inference-log"

#: prints each batch as "BATCH [[seq, data], ...]"; reports records whose data starts with "bad" as failed
PARTIAL_FAILURE_HANDLER = """
    import base64
    import json

    def handler(event, context):
        batch = [[r["kinesis"]["sequenceNumber"], base64.b64decode(r["kinesis"]["data"]).decode()]
                 for r in event["Records"]]
        print("BATCH " + json.dumps(batch))
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq, data in batch if data.startswith("bad")]}
"""

#: raises on any batch holding a record whose data starts with "bad"
RAISING_HANDLER = """
    import base64
    import json

    def handler(event, context):
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        print("BATCH " + json.dumps(data))
        if any(d.startswith("bad") for d in data):
            raise ValueError("poison record")
"""


@pytest.fixture
def stream_arn(aws) -> str:
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    return kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]


def _put(aws, *data: str) -> list[str]:
    response = aws.client("kinesis").put_records(
        StreamName=STREAM, Records=[{"Data": d.encode(), "PartitionKey": "model-a"} for d in data]
    )
    return [r["SequenceNumber"] for r in response["Records"]]


def _map(aws, function_arn: str, stream_arn: str, **settings) -> str:
    return aws.client("lambda").create_event_source_mapping(
        FunctionName=function_arn, EventSourceArn=stream_arn, StartingPosition="LATEST", **settings
    )["UUID"]


def test_given_a_mapping_with_a_batch_size_when_records_arrive_then_the_handler_gets_them_in_batches_in_order(
    aws, lambda_runtime, tmp_path, stream_arn
):
    _put(aws, "before the mapping")  # LATEST: not delivered
    arn = create_function(aws, "consumer", handler_zip(tmp_path, PARTIAL_FAILURE_HANDLER))
    _map(aws, arn, stream_arn, BatchSize=2, MaximumBatchingWindowInSeconds=1)

    seqs = _put(aws, "r1", "r2", "r3", "r4", "r5")
    assert lambda_runtime.wait_idle(15)

    batches = printed(aws, "/aws/lambda/consumer", "BATCH")
    assert batches == [
        [[seqs[0], "r1"], [seqs[1], "r2"]],
        [[seqs[2], "r3"], [seqs[3], "r4"]],
        [[seqs[4], "r5"]],
    ]


def test_given_a_partial_batch_failure_when_retries_run_out_then_only_the_failed_tail_is_retried_and_sent_on(
    aws, lambda_runtime, tmp_path, stream_arn
):
    failures_url, failures_arn = create_queue(aws, "stream-failures")
    arn = create_function(aws, "partial", handler_zip(tmp_path, PARTIAL_FAILURE_HANDLER))
    _map(
        aws,
        arn,
        stream_arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    seqs = _put(aws, "ok-1", "bad-2", "ok-3")
    assert lambda_runtime.wait_idle(15)
    later = _put(aws, "ok-4")
    assert lambda_runtime.wait_idle(15)

    batches = printed(aws, "/aws/lambda/partial", "BATCH")
    retried = [[seqs[1], "bad-2"], [seqs[2], "ok-3"]]
    assert batches == [[[seqs[0], "ok-1"], *retried], retried, retried, [[later[0], "ok-4"]]]
    (message,) = drain_queue(aws, failures_url)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert "functionError" not in record["responseContext"]
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        seqs[1],
        seqs[2],
        2,
    )
    assert (info["shardId"], info["streamArn"]) == ("shardId-000000000000", stream_arn)
    assert lambda_runtime.metrics("partial").destination_deliveries == 1


def test_given_bisect_on_error_when_a_batch_raises_then_it_is_split_until_the_poison_record_is_isolated(
    aws, lambda_runtime, tmp_path, stream_arn
):
    failures_url, failures_arn = create_queue(aws, "bisect-failures")
    arn = create_function(aws, "bisecting", handler_zip(tmp_path, RAISING_HANDLER))
    _map(
        aws,
        arn,
        stream_arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    seqs = _put(aws, "ok-1", "ok-2", "bad-3", "ok-4")
    assert lambda_runtime.wait_idle(15)

    batches = printed(aws, "/aws/lambda/bisecting", "BATCH")
    assert batches == [
        ["ok-1", "ok-2", "bad-3", "ok-4"],
        ["ok-1", "ok-2"],
        ["bad-3", "ok-4"],
        ["bad-3"],
        ["ok-4"],
    ]
    (message,) = drain_queue(aws, failures_url)
    record = json.loads(message["Body"])
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        seqs[2],
        seqs[2],
        1,
    )


def test_given_a_disabled_mapping_when_records_arrive_then_nothing_runs_until_it_is_enabled(
    aws, lambda_runtime, tmp_path, stream_arn
):
    arn = create_function(aws, "paused", handler_zip(tmp_path, PARTIAL_FAILURE_HANDLER))
    uuid = _map(aws, arn, stream_arn, BatchSize=10, Enabled=False)

    _put(aws, "waiting")
    assert lambda_runtime.wait_idle(10)
    assert printed(aws, "/aws/lambda/paused", "BATCH") == []

    aws.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=True)
    assert lambda_runtime.wait_idle(10)
    assert [[data for _, data in batch] for batch in printed(aws, "/aws/lambda/paused", "BATCH")] == [
        ["waiting"]
    ]


def test_given_an_idle_stream_when_time_passes_then_its_poller_backs_off_and_a_put_still_wakes_it(
    aws, lambda_runtime, tmp_path, stream_arn
):
    # given: a mapping on a stream nobody writes to, and the poller's own client counting its ListShards
    list_shards: list[float] = []
    poller_client = lambda_runtime.session.client("kinesis", aws.region)
    poller_client.meta.events.register(
        "before-call.kinesis.ListShards", lambda **_: list_shards.append(time.monotonic())
    )
    arn = create_function(aws, "consumer", handler_zip(tmp_path, PARTIAL_FAILURE_HANDLER))
    _map(aws, arn, stream_arn, BatchSize=10)

    # when: three seconds pass without a put
    time.sleep(3.0)
    idle_polls = len(list_shards)

    # then: the poller waited longer after each idle pass (at a fixed 0.05 s it polls ~60 times)
    assert 2 <= idle_polls <= 10, list_shards
    gaps = [b - a for a, b in itertools.pairwise(list_shards)]
    assert gaps[-1] > 4 * gaps[0], gaps

    # and: a record put now is still delivered, because the put wakes the poller
    seqs = _put(aws, "after a quiet spell")
    deadline = time.monotonic() + 15
    while not printed(aws, "/aws/lambda/consumer", "BATCH") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert printed(aws, "/aws/lambda/consumer", "BATCH") == [[[seqs[0], "after a quiet spell"]]]


def test_given_a_mapping_in_a_tenants_own_account_when_records_arrive_then_its_function_gets_them(
    aws, lambda_runtime, tmp_path
):
    # given: stream, function and mapping in another account (a tenant with its own account_id)
    from tenantml.emulator.iam_enforcement import ensure_admin

    ensure_admin("111122223333")  # as applying a tenant's stack in its account does
    other = aws.for_account("111122223333")
    kinesis = other.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    assert arn.split(":")[4] == "111122223333"
    function = create_function(other, "consumer", handler_zip(tmp_path, PARTIAL_FAILURE_HANDLER))
    _map(other, function, arn, BatchSize=10)

    # when
    seqs = _put(other, "r1", "r2")
    assert lambda_runtime.wait_idle(15)

    # then: the poller read the stream in its own account and delivered the records
    assert printed(other, "/aws/lambda/consumer", "BATCH") == [[[seqs[0], "r1"], [seqs[1], "r2"]]]
