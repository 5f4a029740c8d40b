"""Throughput of the monitor's hot path on one core: decode + drift computation.

Each timed batch starts from the Lambda Kinesis event form (base64 of inference records as the
serving logger writes them, by its own encoder: requests of ``--rows`` rows aggregated into
Kinesis records of about ``--aggregate-bytes`` (format 5, the server's default), or with
``--aggregate-bytes 0`` one format-4 record per request; ``--probabilities``: a binary
classifier's, logged with the positive class's probability per row, formats 7 and 6), so the
numbers INCLUDE decoding
(base64 + orjson + structure checks + one numpy matrix per batch, float32 restored,
``decode_records``) plus ``compute_window_metrics`` (30 numeric features: PSI against the
baseline bins and KS against its 1,000-value sample, prediction PSI, latency percentiles). They
exclude AWS calls (publishing and the snapshot). Building the synthetic events is not timed.
Records/s counts requests (what a record was before aggregation); rows/s counts their rows; a
batch holds about ``--batch`` requests.

Run: ``.venv/bin/python benchmarks/monitor_bench.py [--records 200000] [--batch 10000] [--rows 1] [--aggregate-bytes 131072] [--probabilities]``
"""

from __future__ import annotations

import os

# one core, one BLAS thread: set before numpy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import base64
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from core.spec import ModelSpec, ProblemType
from pipelines.data.features import FeatureSignature
from pipelines.inference_log.decoding import parse_payloads
from pipelines.inference_log.logger import KinesisInferenceLogger, LogEntry, LoggerSettings
from pipelines.monitoring.baseline import compute_baseline
from pipelines.monitoring.window import compute_window_metrics, decode_records
from pipelines.serving.schema import FeatureBatch, InputSchema

N_FEATURES = 30


def make_baseline(rng: np.random.Generator):
    names = [f"f{i:02d}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(rng.normal(size=(20_000, N_FEATURES)), columns=names)
    frame["target"] = rng.integers(0, 2, len(frame))
    spec = ModelSpec(
        name="bench",
        problem=ProblemType.CLASSIFICATION,
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.5,
    )
    return names, compute_baseline(frame, spec, predictions=rng.integers(0, 2, len(frame)))


class _Capture:
    """A PutRecords client that keeps what it is sent."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def put_records(self, *, StreamName: str, Records: list[dict]) -> dict:
        self.data += [r["Data"] for r in Records]
        return {"FailedRecordCount": 0, "Records": [{} for _ in Records]}


def make_events(
    rng: np.random.Generator,
    names: list[str],
    n: int,
    batch: int,
    rows: int = 1,
    aggregate_bytes: int = LoggerSettings(stream_name="-").aggregate_bytes,
    probabilities: bool = False,
) -> list[list[dict]]:
    shift = np.linspace(0.0, 0.5, N_FEATURES)  # some features drift, some do not
    values = rng.normal(size=(n * rows, N_FEATURES)) + shift
    predictions = rng.integers(0, 2, n * rows)
    positive = np.where(predictions == 1, 0.75, 0.25)  # the positive class's probability, per row
    proba = np.column_stack((1.0 - positive, positive))
    latencies = rng.lognormal(3.0, 0.4, n).tolist()
    now = time.time()
    schema = InputSchema([FeatureSignature(name=name, dtype="float64", kind="numeric") for name in names])
    capture = _Capture()
    logger = KinesisInferenceLogger(
        LoggerSettings(stream_name="bench", aggregate_bytes=aggregate_bytes),
        schema,
        lambda: capture,
        classes=[0, 1] if probabilities else None,
    )
    for i in range(n):
        error = i % 97 == 0
        numeric = values[i * rows : (i + 1) * rows]
        logger.submit(
            LogEntry(
                request_id=f"{i:032x}",
                model_version="1",
                batch=FeatureBatch(numeric, None, rows),
                predictions=None if error else predictions[i * rows : (i + 1) * rows],
                latency_ms=latencies[i],
                timestamp=now + i * 1e-3,
                error=error,
                probabilities=None if error else proba[i * rows : (i + 1) * rows],
            )
        )
        if logger.buffered_records >= 50_000:
            logger.flush()
    logger.flush()
    events, records, requests, sequence = [], [], 0, 10**20
    for body in capture.data:
        sequence += 1
        records.append(
            {
                "eventID": f"shardId-000000000000:{sequence}",
                "kinesis": {"data": base64.b64encode(body).decode(), "sequenceNumber": str(sequence)},
            }
        )
        requests += len(parse_payloads(body))
        if requests >= batch:
            events.append(records)
            records, requests = [], 0
    if records:
        events.append(records)
    return events


def run_once(events: list[list[dict]], baseline) -> tuple[float, float, int, int]:
    """Seconds decoding, seconds computing, records, rows."""
    decode_s = compute_s = 0.0
    total = total_rows = 0
    for raw in events:
        t0 = time.perf_counter()
        decoded = decode_records(raw)
        records = [r.record for r in decoded.records]
        t1 = time.perf_counter()
        metrics = compute_window_metrics(records, baseline)
        t2 = time.perf_counter()
        decode_s += t1 - t0
        compute_s += t2 - t1
        total += metrics.request_count
        total_rows += metrics.row_count
    return decode_s, compute_s, total, total_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1, help="rows per record (request)")
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU to pin to")
    parser.add_argument(
        "--aggregate-bytes",
        type=int,
        default=LoggerSettings(stream_name="-").aggregate_bytes,
        help="the server's inference_log.aggregate_bytes (0: a record per request, format 4)",
    )
    parser.add_argument(
        "--probabilities", action="store_true", help="log class probabilities too (formats 6 and 7)"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rng = np.random.default_rng(7)
    names, baseline = make_baseline(rng)
    events = make_events(
        rng, names, args.records, args.batch, args.rows, args.aggregate_bytes, args.probabilities
    )
    kinesis_records = sum(len(e) for e in events)
    print(
        f"{args.records} requests of {args.rows} row(s) x {N_FEATURES} numeric features in {kinesis_records} "
        f"Kinesis records (aggregate_bytes {args.aggregate_bytes}"
        f"{', with class probabilities' if args.probabilities else ''}), batches of about {args.batch} requests, "
        f"pinned to CPU {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
    )
    for run in range(1, args.runs + 1):
        decode_s, compute_s, total, rows = run_once(events, baseline)
        elapsed = decode_s + compute_s
        print(
            f"run {run}: {total / elapsed:,.0f} records/s = {rows / elapsed:,.0f} rows/s end to end "
            f"(decode {total / decode_s:,.0f} records/s, drift math {total / compute_s:,.0f} records/s; "
            f"{elapsed:.2f}s = {decode_s:.2f}s decode + {compute_s:.2f}s compute)"
        )


if __name__ == "__main__":
    main()
