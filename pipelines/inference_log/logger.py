"""Inference logs to the tenant's Kinesis stream, off the request path.

A request hands :meth:`KinesisInferenceLogger.submit` one :class:`LogEntry` (the request's arrays,
not yet encoded) and returns at once. A background thread per worker process encodes what is
buffered and sends it with ``PutRecords`` in batches of at most 500 records and 5 MiB:

- consecutive requests of one model version are aggregated into Kinesis records of about
  ``aggregate_bytes`` (128 KiB; format 5, see :mod:`pipelines.inference_log.format`), as the Kinesis
  Producer Library aggregates user records. Per-record work (a header, a PutRecords entry, a
  result to read) is then paid per aggregate, not per request: with a record per request, the
  sender's CPU for a one-row request went mostly to that, and logging cost 10 % of a one-row
  server's throughput; aggregated, 5 %. It also keeps a stream under its shards' limit of
  1,000 records per second, and Kinesis bills PUT payload units of 25 KB, which one-row
  records wasted. Readers split an aggregate back into its requests.
- a request larger than ``aggregate_bytes``, or with a value float32 cannot hold, is one record
  of its own (format 4); one too large for a 1 MiB record is split into chunks that repeat its id.
  ``aggregate_bytes=0`` writes a record per request.
- a classifier's logger (``classes`` given) also writes each answered request's class
  probabilities (formats 6 and 7): for two classes the positive class's, else one per class, as
  float64 made for the whole drain in one numpy pass, like the numeric values.
- encoding happens in the sender thread, never on the request path: ``submit`` appends a
  reference to the request's arrays under a lock, and wakes the sender only when 500 requests or
  ``wake_rows`` rows are waiting (else it sends every ``flush_interval``), so calls are few and
  large.

- The buffer is bounded in rows. When it is full, the entry is dropped and its rows counted
  (``dropped_buffer_full``); a request is never blocked by logging.
- ``ProvisionedThroughputExceededException`` and other throttling or server errors retry the
  whole call with exponential backoff and jitter; a partial failure (``FailedRecordCount`` > 0)
  resends only the failed records (an aggregate whole), with the same backoff. After
  ``max_attempts`` the remaining records are counted as ``failed_records`` (and their rows as
  ``failed_rows``) and reported in the log.
- :meth:`close` sends everything still buffered before it returns (the server calls it on
  lifespan shutdown), bounded by a timeout.

A record's partition key is its (first) request's id, so records spread over the shards and a
request's chunks stay in order on one shard. Counters count Kinesis records as ``*_records`` and
input rows as ``*_rows``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from pipelines.inference_log.encoding import ProbabilityBlock, RecordEncoder
from pipelines.inference_log.format import NumericBlock
from pipelines.inference_log.kinesis import (
    MAX_BYTES_PER_CALL,
    MAX_BYTES_PER_RECORD,
    MAX_RECORDS_PER_CALL,
    RETRYABLE_CODES,
    error_code,
    is_connection_error,
)
from pipelines.serving.schema import FeatureBatch, InputSchema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogEntry:
    """One request, as the handler knows it; encoded into a record in the background thread."""

    request_id: str
    model_version: str
    batch: FeatureBatch
    #: predictions per row (labels or values); None with error=True
    predictions: np.ndarray | None
    latency_ms: float
    timestamp: float
    error: bool = False
    #: class probabilities per row (rows x classes, the model's class order) of a classifier
    #: that has them; logged only by a logger given the classes
    probabilities: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return self.batch.n_rows


@dataclass
class LoggerStats:
    """Counters of one logger. Rows are input rows (predictions); records are Kinesis records
    (one per request, or per chunk of a large request)."""

    submitted_requests: int = 0
    submitted_rows: int = 0
    sent_records: int = 0
    sent_rows: int = 0
    #: rows of requests dropped because the buffer was full
    dropped_buffer_full: int = 0
    #: rows too large for a Kinesis record even alone (a single row over 1 MiB)
    dropped_oversized: int = 0
    failed_records: int = 0
    failed_rows: int = 0
    retried_calls: int = 0
    retried_records: int = 0
    put_calls: int = 0
    #: CPU time the sender thread has used (encoding, signing, sending): logging's cost to the worker
    sender_cpu_seconds: float = 0.0
    last_error: str | None = None

    @property
    def lost_rows(self) -> int:
        return self.dropped_buffer_full + self.dropped_oversized + self.failed_rows

    def as_dict(self) -> dict[str, Any]:
        # ``submitted_records``: the rows counter's name before records held whole requests
        return {**self.__dict__, "lost_rows": self.lost_rows, "submitted_records": self.submitted_rows}


@dataclass(frozen=True)
class LoggerSettings:
    stream_name: str
    #: rows held before new requests are dropped
    max_buffer_records: int = 100_000
    max_records_per_call: int = MAX_RECORDS_PER_CALL
    max_bytes_per_call: int = MAX_BYTES_PER_CALL
    max_bytes_per_record: int = MAX_BYTES_PER_RECORD
    #: send at least this often when traffic is light (seconds)
    flush_interval: float = 0.25
    #: rows buffered that wake the sender before ``flush_interval`` (so does a full call of requests)
    wake_rows: int = 10_000
    #: requests are aggregated into Kinesis records of about this many bytes (format 5); 0 sends
    #: a record per request (format 4)
    aggregate_bytes: int = 128 * 1024
    max_attempts: int = 8
    backoff_base: float = 0.05
    backoff_max: float = 2.0


class PendingRecord(NamedTuple):
    """One encoded Kinesis record and the rows it carries (for the counters). A tuple: the
    sender makes many per drain, and a frozen dataclass cost twice as much to make."""

    key: str
    data: bytes
    rows: int

    @property
    def size(self) -> int:
        return len(self.data) + len(self.key.encode())


def encode_records(
    entry: LogEntry,
    schema: InputSchema,
    *,
    max_bytes: int = MAX_BYTES_PER_RECORD,
    encoder: RecordEncoder | None = None,
    block: NumericBlock | None = None,
    probability_block: ProbabilityBlock | None = None,
) -> tuple[list[PendingRecord], int]:
    """The entry as format-4 records (format 6 with probabilities): one, or chunks of its rows when
    one would exceed ``max_bytes``. Returns the records and the number of rows dropped (a single
    row over the limit cannot be sent). Pass the logger's ``encoder`` to reuse its joined feature
    names (and to log probabilities: it holds the classes), and the entry's numeric ``block`` and
    ``probability_block`` when :meth:`RecordEncoder.numeric_blocks` and
    :meth:`RecordEncoder.probability_rows` made them."""
    if encoder is None:
        encoder = RecordEncoder(schema.numeric_names, schema.categorical_names)
    key = entry.request_id
    budget = max_bytes - len(key.encode())
    n = entry.n_rows
    if probability_block is None and entry.probabilities is not None and not entry.error:
        data, bounds = encoder.probability_rows([entry.probabilities])
        probability_block = data[bounds[0] : bounds[1]] if bounds[1] else None
    whole = _encode_chunk(encoder, entry, 0, n, 0, 1, block, probability_block)
    if len(whole) <= budget:  # nearly always: 1 MiB holds thousands of rows
        return [PendingRecord(key, whole, n)], 0
    parts = min(n, int(len(whole) / budget * 1.1) + 1)
    while True:
        bounds = [(n * i) // parts for i in range(parts + 1)]
        encoded = [
            _encode_chunk(encoder, entry, bounds[i], bounds[i + 1], i, parts, block, probability_block)
            for i in range(parts)
        ]
        largest = max(len(data) for data in encoded)
        if largest <= budget:
            return [PendingRecord(key, data, bounds[i + 1] - bounds[i]) for i, data in enumerate(encoded)], 0
        if parts >= n:  # one row per chunk and still too large: send what fits, drop the rest
            kept = [PendingRecord(key, data, 1) for data in encoded if len(data) <= budget]
            return kept, n - len(kept)
        # rows are of similar size: aim below the budget in one step rather than by halving
        parts = min(n, max(parts + 1, int(parts * largest / budget * 1.1) + 1))


def _encode_chunk(
    encoder: RecordEncoder,
    entry: LogEntry,
    start: int,
    stop: int,
    chunk: int,
    chunks: int,
    block: NumericBlock | None,
    probability_block: ProbabilityBlock | None = None,
) -> bytes:
    batch = entry.batch
    whole = start == 0 and stop == batch.n_rows
    categorical = batch.categorical
    predictions = entry.predictions
    if block is not None and not whole:  # the block's rows are of equal size: slice it like the rows
        row_bytes = len(block[1]) // batch.n_rows
        block = (block[0], memoryview(block[1])[start * row_bytes : stop * row_bytes])
    if probability_block is not None and not whole:
        row_bytes = len(probability_block) // batch.n_rows
        probability_block = memoryview(probability_block)[start * row_bytes : stop * row_bytes]
    return encoder.encode(
        request_id=entry.request_id,
        model_version=entry.model_version,
        timestamp=entry.timestamp,
        latency_ms=entry.latency_ms,
        error=entry.error,
        numeric=batch.numeric if whole else batch.numeric[start:stop],
        categorical=categorical if whole or categorical is None else categorical[start:stop],
        predictions=predictions if whole or predictions is None else predictions[start:stop],
        chunk=chunk,
        chunks=chunks,
        block=block,
        probability_block=probability_block,
    )


#: one request as the drain encodes it: the entry, its numeric block, and where its probability
#: block is in the drain's (start and stop byte offsets; equal when it has none)
_Encodable = tuple[LogEntry, NumericBlock | None, int, int]


def _runs(group: list[_Encodable], probabilities: memoryview) -> list[memoryview]:
    """The probability blocks of ``group``'s requests as few slices as possible: a group is
    usually consecutive requests, whose blocks are one run of the drain's bytes."""
    runs: list[list[int]] = []
    for _, _, start, stop in group:
        if stop == start:
            continue
        if runs and runs[-1][1] == start:
            runs[-1][1] = stop
        else:
            runs.append([start, stop])
    return [probabilities[start:stop] for start, stop in runs]


class KinesisInferenceLogger:
    """Bounded buffer + one sender thread; see the module docstring."""

    def __init__(
        self,
        settings: LoggerSettings,
        schema: InputSchema,
        client_factory: Callable[[], Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        classes: Sequence[Any] | None = None,
    ) -> None:
        """``classes``: the model's classes in its probability-column order when its predictions
        come with probabilities (then logged with each answered request)."""
        self.settings = settings
        self.schema = schema
        self._client_factory = client_factory
        self._client: Any = None
        self._sleep = sleep
        self._encoder = RecordEncoder(schema.numeric_names, schema.categorical_names, classes=classes)
        self._entries: deque[LogEntry] = deque()
        self._buffered = 0
        # a plain lock: the default RLock costs more on every request
        self._cond = threading.Condition(threading.Lock())
        self._closing = False
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.stats = LoggerStats()

    # --- request side ------------------------------------------------------------------------

    def submit(self, entry: LogEntry) -> bool:
        """Buffer ``entry``; False (and counted) when the buffer has no room. Never blocks for long."""
        n = entry.n_rows
        with self._cond:
            if self._closing or self._buffered + n > self.settings.max_buffer_records:
                self.stats.dropped_buffer_full += n
                return False
            self._entries.append(entry)
            self._buffered += n
            self.stats.submitted_requests += 1
            self.stats.submitted_rows += n
            if self._should_wake():
                self._cond.notify()
        return True

    def _should_wake(self) -> bool:
        """A full call's worth is waiting (called with the lock held)."""
        return (
            len(self._entries) >= self.settings.max_records_per_call
            or self._buffered >= self.settings.wake_rows
        )

    @property
    def buffered_records(self) -> int:
        return self._buffered

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {
                **self.stats.as_dict(),
                "buffered_records": self._buffered,
                "in_flight": self._in_flight,
                "stream_name": self.settings.stream_name,
                "max_buffer_records": self.settings.max_buffer_records,
            }

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make the client now (botocore takes ~0.2 s of GIL-holding work to build one, which would
        stall requests if it happened on the first flush under load), then start the sender."""
        if self._client is None:
            self._client = self._client_factory()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting entries, send what is buffered, stop the thread; True when all was sent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("inference log: %d records still unsent after %.1fs", self._buffered, timeout)
                return False
        else:
            self._drain(final=True)
        return self._buffered == 0 and self._in_flight == 0

    def flush(self) -> None:
        """Send everything buffered now, from the calling thread (tests, batch jobs)."""
        self._drain(final=True)

    # --- sender thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing and not self._should_wake():
                    self._cond.wait(self.settings.flush_interval)
                closing = self._closing
            try:
                self._drain(final=closing)
            except Exception as err:  # never let the thread die: logging must not stop
                log.exception("inference log sender failed")
                self.stats.last_error = f"{type(err).__name__}: {err}"
            self.stats.sender_cpu_seconds = time.thread_time()
            if closing:
                with self._cond:
                    if not self._entries:
                        return

    def _take(self) -> list[LogEntry]:
        with self._cond:
            entries = list(self._entries)
            self._entries.clear()
            self._in_flight += self._buffered
            self._buffered = 0
        return entries

    def _drain(self, *, final: bool) -> None:
        entries = self._take()
        if not entries:
            return
        rows = sum(e.n_rows for e in entries)
        try:
            encoder = self._encoder
            blocks: list[NumericBlock | None] = (
                encoder.numeric_blocks([e.batch.numeric for e in entries])  # type: ignore[arg-type]
                if encoder.numeric_features
                else [None] * len(entries)
            )
            probabilities, bounds = encoder.probability_rows(
                [None if e.error else e.probabilities for e in entries]
            )
            pending = self._encode(entries, blocks, probabilities, bounds)
            for chunk in self._chunks(pending):
                self._put_with_retries(chunk)
        finally:
            with self._cond:
                self._in_flight -= rows

    def _encode(
        self,
        entries: list[LogEntry],
        blocks: list[NumericBlock | None],
        probabilities: memoryview,
        bounds: list[int],
    ) -> list[PendingRecord]:
        """The drain's records: consecutive requests of one model version aggregated into records
        of about ``aggregate_bytes`` (format 5, or 7 with probabilities); a request larger than
        that, or holding a value float32 cannot (a float64 block), on its own (format 4 or 6,
        split if over the record limit). ``probabilities`` and ``bounds``: as
        :meth:`RecordEncoder.probability_rows` gives them for ``entries``."""
        limit = self.settings.aggregate_bytes
        logs_probabilities = self._encoder.classes is not None
        pending: list[PendingRecord] = []
        group: list[_Encodable] = []
        group_bytes = 0
        # bytes a row adds besides its numeric values: its prediction and categorical values
        row_extra = 24 + 16 * len(self._encoder.categorical_features)
        for i, (entry, block) in enumerate(zip(entries, blocks, strict=True)):
            start, stop = bounds[i], bounds[i + 1]
            size = 96 + len(entry.request_id) + entry.n_rows * row_extra + (len(block[1]) if block else 0)
            size += stop - start
            # an answered request without probabilities cannot share a format-7 record (whose
            # block has rows for every answered request): it goes alone, as format 4
            unmatched = logs_probabilities and start == stop and not entry.error
            if not limit or size > limit or (block is not None and block[0] != "f4") or unmatched:
                pending.extend(
                    self._encode_alone(entry, block, probabilities[start:stop] if stop > start else None)
                )
                continue
            if group and (group_bytes + size > limit or entry.model_version != group[0][0].model_version):
                pending.extend(self._encode_group(group, probabilities))
                group, group_bytes = [], 0
            group.append((entry, block, start, stop))
            group_bytes += size
        if group:
            pending.extend(self._encode_group(group, probabilities))
        return pending

    def _encode_alone(
        self, entry: LogEntry, block: NumericBlock | None, probabilities: ProbabilityBlock | None
    ) -> list[PendingRecord]:
        records, dropped = encode_records(
            entry,
            self.schema,
            max_bytes=self.settings.max_bytes_per_record,
            encoder=self._encoder,
            block=block,
            probability_block=probabilities,
        )
        self.stats.dropped_oversized += dropped
        return records

    def _encode_group(self, group: list[_Encodable], probabilities: memoryview) -> list[PendingRecord]:
        """One aggregated record of ``group`` (halved until each part fits in a record);
        ``probabilities``: the drain's probability blocks, which ``group`` holds offsets into."""
        if len(group) == 1:
            entry, block, start, stop = group[0]
            return self._encode_alone(entry, block, probabilities[start:stop] if stop > start else None)
        entries = [entry for entry, _, _, _ in group]
        data = self._encoder.encode_aggregate(
            request_ids=[e.request_id for e in entries],
            model_version=entries[0].model_version,
            timestamps=[e.timestamp for e in entries],
            latencies_ms=[e.latency_ms for e in entries],
            errors=[e.error for e in entries],
            n_rows=[e.n_rows for e in entries],
            predictions=[e.predictions for e in entries],
            categorical=[e.batch.categorical for e in entries]
            if self._encoder.categorical_features
            else None,
            numeric_block="f4" if group[0][1] is not None else None,
            numeric_parts=[block[1] for _, block, _, _ in group if block is not None],
            probability_parts=_runs(group, probabilities),
        )
        record = PendingRecord(entries[0].request_id, data, sum(e.n_rows for e in entries))
        if record.size <= self.settings.max_bytes_per_record:
            return [record]
        half = len(group) // 2
        return self._encode_group(group[:half], probabilities) + self._encode_group(
            group[half:], probabilities
        )

    def _chunks(self, records: list[PendingRecord]) -> list[list[PendingRecord]]:
        chunks: list[list[PendingRecord]] = []
        current: list[PendingRecord] = []
        size = 0
        for record in records:
            record_size = record.size
            if current and (
                len(current) >= self.settings.max_records_per_call
                or size + record_size > self.settings.max_bytes_per_call
            ):
                chunks.append(current)
                current, size = [], 0
            current.append(record)
            size += record_size
        if current:
            chunks.append(current)
        return chunks

    def _put_with_retries(self, records: list[PendingRecord]) -> None:
        attempt = 0
        while records:
            attempt += 1
            try:
                response = self._put(records)
            except Exception as err:  # noqa: BLE001 - classified below: retried, or counted and reported
                code = error_code(err)
                if code not in RETRYABLE_CODES and not is_connection_error(err):
                    self._give_up(records, f"{code or type(err).__name__}: {err}")
                    return
                if attempt >= self.settings.max_attempts:
                    self._give_up(records, f"{code}: still failing after {attempt} attempts")
                    return
                self.stats.retried_calls += 1
                self.stats.retried_records += len(records)
                self._backoff(attempt)
                continue
            failed_count = int(response.get("FailedRecordCount", 0) or 0)
            results = response.get("Records", [])
            if failed_count == 0:
                self._delivered(records)
                return
            retry, sent, codes = [], [], set()
            for record, result in zip(records, results, strict=False):
                if result.get("ErrorCode"):
                    retry.append(record)
                    codes.add(result["ErrorCode"])
                else:
                    sent.append(record)
            self._delivered(sent)
            if attempt >= self.settings.max_attempts:
                self._give_up(retry, f"{', '.join(sorted(codes))} after {attempt} attempts")
                return
            self.stats.retried_records += len(retry)
            records = retry
            self._backoff(attempt)

    def _delivered(self, records: list[PendingRecord]) -> None:
        self.stats.sent_records += len(records)
        self.stats.sent_rows += sum(r.rows for r in records)

    def _put(self, records: list[PendingRecord]) -> dict[str, Any]:
        if self._client is None:
            self._client = self._client_factory()
        self.stats.put_calls += 1
        return self._client.put_records(
            StreamName=self.settings.stream_name,
            Records=[{"Data": r.data, "PartitionKey": r.key} for r in records],
        )

    def _backoff(self, attempt: int) -> None:
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        self._sleep(random.uniform(ceiling / 2, ceiling))

    def _give_up(self, records: list[PendingRecord], reason: str) -> None:
        self.stats.failed_records += len(records)
        self.stats.failed_rows += sum(r.rows for r in records)
        self.stats.last_error = reason
        log.error(
            "inference log: %d records not delivered to %s: %s",
            len(records),
            self.settings.stream_name,
            reason,
        )
