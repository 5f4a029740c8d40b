"""Event source mapping pollers: what Lambda's own pollers do for Kinesis streams and SQS queues.

One thread per mapping, reading through the emulator's API (boto3) as a consumer would.

Kinesis (per shard, in order): read up to ``BatchSize`` records after the checkpoint (the
first position is TRIM_HORIZON, AT_TIMESTAMP, or LATEST as it was when the mapping was
created), wait up to ``MaximumBatchingWindowInSeconds`` for a batch to fill, invoke, then

- success: move the checkpoint past the batch;
- ``ReportBatchItemFailures`` response: records before the lowest failed sequence number
  are done; retry from that record (a malformed response fails the whole batch);
- function error: retry the batch, split in two first when ``BisectBatchOnFunctionError``;
- after ``MaximumRetryAttempts`` retries (or ``MaximumRecordAgeInSeconds``), send the failed
  batch's metadata (``KinesisBatchInfo``) to the on-failure destination and move on.

SQS: receive up to ``BatchSize`` messages (within the batching window), invoke, delete the
messages that succeeded; failed ones reappear after the queue's visibility timeout, and
the queue's own redrive policy moves them to its dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tenantml.emulator.runtime import events, moto_hooks
from tenantml.emulator.runtime.functions import FunctionSpec, MappingSpec
from tenantml.emulator.runtime.interfaces import PollingRuntime

log = logging.getLogger("tenantml.emulator.runtime")

#: poll again at once: there may be more to do
AGAIN = 0.0
#: the longest wait between two idle passes of a Kinesis poller (see ``KinesisPoller.idle_wait``)
KINESIS_IDLE_WAIT_MAX = 2.0


class MappingPoller(threading.Thread):
    """A thread that polls one mapping's source until stopped or the mapping disappears."""

    def __init__(self, runtime: PollingRuntime, mapping: MappingSpec) -> None:
        super().__init__(daemon=True, name=f"tenantml-lambda-{mapping.source_service}-{mapping.uuid[:8]}")
        self.runtime = runtime
        self.mapping = mapping
        self.wake = threading.Event()
        self.wake.set()  # first pass at once
        self._stop_event = threading.Event()
        self._idle_pass: float | None = None

    def stop(self) -> None:
        self._stop_event.set()
        self.wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop_event.is_set() or self.runtime.stopping.is_set()

    def idle_since(self, since: float) -> bool:
        """True when a pass that started at or after ``since`` found nothing to do."""
        return self._idle_pass is not None and self._idle_pass >= since

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (cut short by stop); False when stopped."""
        self._stop_event.wait(seconds)
        return not self.stopped

    def idle_wait(self, idle_passes: int) -> float:
        """How long to wait after the ``idle_passes``-th idle pass in a row before polling again."""
        del idle_passes
        return self.runtime.poll_interval

    def run(self) -> None:
        wait = AGAIN
        idle_passes = 0
        while not self.stopped:
            if wait > 0:
                self.wake.wait(wait)
            self.wake.clear()
            if self.stopped:
                break
            started = time.monotonic()
            self._idle_pass = None
            try:
                next_wait = self.poll_once()
            except (BotoCoreError, ClientError) as err:  # e.g. the stream was deleted or moto reset
                log.debug(
                    "polling %s for mapping %s failed: %s", self.mapping.source_arn, self.mapping.uuid, err
                )
                next_wait = None
            except Exception:  # the thread's boundary: keep polling, but say what broke
                log.exception("polling %s for mapping %s failed", self.mapping.source_arn, self.mapping.uuid)
                next_wait = None
            if next_wait is None:
                self._idle_pass = started
                idle_passes += 1
                wait = self.idle_wait(idle_passes)
            else:
                idle_passes = 0
                wait = next_wait
            self.runtime.poller_pass_done()

    def poll_once(self) -> float | None:
        """One pass; returns None when idle, else how long to wait before the next pass."""
        raise NotImplementedError

    def function(self) -> FunctionSpec | None:
        return moto_hooks.find_function(self.mapping.function_arn)


class KinesisPoller(MappingPoller):
    def __init__(self, runtime: PollingRuntime, mapping: MappingSpec) -> None:
        super().__init__(runtime, mapping)
        # the stream is in the mapping's account: its administrator reads it, as Lambda does there
        self._client = runtime.session.for_account(mapping.account_id).client("kinesis", mapping.region)
        #: shard id -> the sequence number after which unread records start (None: AT_TIMESTAMP)
        self._after: dict[str, int | None] = {}
        self._latest = runtime.take_positions(mapping.uuid)
        self._first_seen: dict[str, float] = {}

    def idle_wait(self, idle_passes: int) -> float:
        """Twice as long after each idle pass in a row, up to :data:`KINESIS_IDLE_WAIT_MAX`.

        Every record put to a mapped stream wakes the pollers at once (``moto_hooks``), so idle
        passes only catch what no put announced. At a fixed 0.25 s, every idle stream cost four
        ``ListShards`` a second for as long as the emulator ran, and under ``up`` with 20 tenants
        (a stream each, applied one after the other) that grew with the square of the tenants.
        """
        return min(self.runtime.poll_interval * 2 ** (idle_passes - 1), KINESIS_IDLE_WAIT_MAX)

    def _start_position(self, shard_id: str) -> int | None:
        position = (self.mapping.starting_position or "TRIM_HORIZON").upper()
        if position == "TRIM_HORIZON":
            return 0
        if position == "AT_TIMESTAMP" and self.mapping.starting_position_timestamp is not None:
            return None
        if self._latest is None:  # made before the runtime was installed: LATEST is now
            self._latest = (
                moto_hooks.shard_positions(
                    self.mapping.account_id, self.mapping.region, self.mapping.source_arn
                )
                or {}
            )
        return self._latest.get(shard_id, 0)

    def _read(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        after = self._after[shard_id]
        kwargs: dict[str, Any] = {"StreamARN": self.mapping.source_arn, "ShardId": shard_id}
        if after is None:
            kwargs.update(
                ShardIteratorType="AT_TIMESTAMP", Timestamp=self.mapping.starting_position_timestamp
            )
        elif after == 0:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=str(after))
        iterator = self._client.get_shard_iterator(**kwargs)["ShardIterator"]
        return list(
            self._client.get_records(ShardIterator=iterator, Limit=limit, StreamARN=self.mapping.source_arn)[
                "Records"
            ]
        )

    def poll_once(self) -> float | None:
        mapping = self.mapping
        if not mapping.enabled:
            return None
        spec = self.function()
        if spec is None:
            return None
        shards = self._client.list_shards(StreamARN=mapping.source_arn)["Shards"]
        waits: list[float] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._after:
                self._after[shard_id] = self._start_position(shard_id)
            records = self._read(shard_id, mapping.batch_size)
            if not records:
                self._first_seen.pop(shard_id, None)
                continue
            if len(records) < mapping.batch_size and mapping.batching_window > 0:
                first_seen = self._first_seen.setdefault(shard_id, time.monotonic())
                remaining = first_seen + mapping.batching_window - time.monotonic()
                if remaining > 0:
                    waits.append(remaining)
                    continue
            self._first_seen.pop(shard_id, None)
            if not self._deliver(spec, shard_id, records):
                return None  # stopping, or the function is switched off (reserved concurrency 0)
            waits.append(AGAIN)
            if self.stopped:
                break
        return min(waits) if waits else None

    def _deliver(self, spec: FunctionSpec, shard_id: str, records: list[dict[str, Any]]) -> bool:
        """Invoke on ``records`` until done, retried or given up; False if interrupted (no checkpoint)."""
        mapping = self.mapping
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while pending:
            if self.stopped:
                return False
            batch, attempts = pending.popleft()
            event = events.kinesis_event(
                batch,
                shard_id=shard_id,
                stream_arn=mapping.source_arn,
                region=mapping.region,
                role_arn=spec.role,
            )
            result = self.runtime.execute_for_mapping(spec, json.dumps(event).encode())
            if result is None:
                return False
            attempts += 1
            retry = self._to_retry(batch, result)
            if not retry:
                continue
            condition = self._exhausted(retry, attempts)
            if condition:
                record = events.kinesis_failure_record(
                    retry,
                    shard_id=shard_id,
                    stream_arn=mapping.source_arn,
                    function_arn=spec.arn,
                    request_id=result.request_id,
                    condition=condition,
                    attempts=attempts,
                    function_error=result.failed,
                )
                self.runtime.deliver_failure(
                    spec.name,
                    mapping.on_failure_arn,
                    json.dumps(record),
                    f"a batch of {len(retry)} record(s) from {shard_id}",
                )
                continue
            if result.failed and mapping.bisect_on_error and len(retry) > 1:
                middle = len(retry) // 2
                pending.appendleft((retry[middle:], attempts))
                pending.appendleft((retry[:middle], attempts))
            else:
                pending.appendleft((retry, attempts))
            if not self.sleep(self.runtime.stream_retry_delay):
                return False
        self._after[shard_id] = int(records[-1]["SequenceNumber"])
        return True

    def _to_retry(self, batch: list[dict[str, Any]], result: Any) -> list[dict[str, Any]]:
        """The records to invoke again: none, the whole batch, or those from the lowest failure on."""
        if result.failed:
            return batch
        if not self.mapping.report_item_failures:
            return []
        failed = events.failed_item_ids(result.json())
        if failed is None:
            return batch
        if not failed:
            return []
        positions = [i for i, record in enumerate(batch) if record["SequenceNumber"] in set(failed)]
        if not positions:  # identifiers that are not in the batch fail it whole, as on AWS
            return batch
        return batch[min(positions) :]

    def _exhausted(self, batch: Sequence[dict[str, Any]], attempts: int) -> str | None:
        mapping = self.mapping
        if mapping.max_record_age is not None:
            arrived = batch[0].get("ApproximateArrivalTimestamp")
            if arrived is not None and time.time() - arrived.timestamp() > mapping.max_record_age:
                return "RecordAgeExceeded"
        if mapping.max_retry_attempts is not None and attempts > mapping.max_retry_attempts:
            return "RetryAttemptsExhausted"
        return None


class SqsPoller(MappingPoller):
    def __init__(self, runtime: PollingRuntime, mapping: MappingSpec) -> None:
        super().__init__(runtime, mapping)
        self._client = runtime.session.for_account(mapping.account_id).client("sqs", mapping.region)
        self._queue_url: str | None = None
        moto_hooks.detach_sqs_mapping(mapping.uuid)  # a mapping made before the runtime was installed

    def _url(self) -> str:
        if self._queue_url is None:
            parts = self.mapping.source_arn.split(":")
            self._queue_url = self._client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                "QueueUrl"
            ]
        return self._queue_url

    def poll_once(self) -> float | None:
        mapping = self.mapping
        if not mapping.enabled:
            return None
        spec = self.function()
        if spec is None:
            return None
        url = self._url()
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + mapping.batching_window
        while len(messages) < mapping.batch_size and not self.stopped:
            received = self._client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, mapping.batch_size - len(messages)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            if not received:
                if not messages or time.monotonic() >= window_ends:
                    break
                self.sleep(min(0.05, max(0.0, window_ends - time.monotonic())))
        if not messages:
            return None
        event = events.sqs_event(messages, queue_arn=mapping.source_arn, region=mapping.region)
        result = self.runtime.execute_for_mapping(spec, json.dumps(event).encode())
        if result is None:
            self._release(url, messages)
            return None
        failed: set[str]
        if result.failed:
            failed = {m["MessageId"] for m in messages}
        elif mapping.report_item_failures:
            ids = events.failed_item_ids(result.json())
            failed = {m["MessageId"] for m in messages} if ids is None else set(ids)
        else:
            failed = set()
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return AGAIN

    def _release(self, url: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self._client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )


def make_poller(runtime: PollingRuntime, mapping: MappingSpec) -> MappingPoller:
    if mapping.source_service == "kinesis":
        return KinesisPoller(runtime, mapping)
    return SqsPoller(runtime, mapping)


__all__ = ["KinesisPoller", "MappingPoller", "SqsPoller", "make_poller"]
