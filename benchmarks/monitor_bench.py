"""Throughput of the monitor's hot path on one core: decode + drift computation.

Each timed batch starts from the Lambda Kinesis event form (base64 of the JSON InferenceRecord,
as the serving logger writes it), so the numbers INCLUDE decoding (base64 + orjson + pydantic
validation, ``decode_records``) plus ``compute_window_metrics`` (30 numeric features: PSI against
the baseline bins and KS against its 1,000-value sample, prediction PSI, latency percentiles).
They exclude AWS calls (publishing and the snapshot). Building the synthetic events is not timed.

Run: ``.venv/bin/python benchmarks/monitor_bench.py [--records 200000] [--batch 10000]``
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
import orjson
import pandas as pd

from pipelines.baseline import compute_baseline
from pipelines.monitoring import compute_window_metrics, decode_records
from tenantml.spec import ModelSpec, ProblemType

N_FEATURES = 30


def make_baseline(rng: np.random.Generator):
    names = [f"f{i:02d}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(rng.normal(size=(20_000, N_FEATURES)), columns=names)
    frame["target"] = rng.integers(0, 2, len(frame))
    spec = ModelSpec(name="bench", problem=ProblemType.CLASSIFICATION, target="target",
                     primary_metric="roc_auc", minimum_metric=0.5)
    return names, compute_baseline(frame, spec, predictions=rng.integers(0, 2, len(frame)))


def make_events(rng: np.random.Generator, names: list[str], n: int, batch: int) -> list[list[dict]]:
    shift = np.linspace(0.0, 0.5, N_FEATURES)  # some features drift, some do not
    values = rng.normal(size=(n, N_FEATURES)) + shift
    predictions = rng.integers(0, 2, n).tolist()
    latencies = rng.lognormal(3.0, 0.4, n).tolist()
    now = time.time()
    events, sequence = [], 10**20
    for start in range(0, n, batch):
        records = []
        for i in range(start, min(start + batch, n)):
            body = orjson.dumps({
                "request_id": f"req-{i}", "model_version": "1",
                "features": dict(zip(names, values[i].tolist(), strict=True)),
                "prediction": predictions[i], "latency_ms": latencies[i], "error": i % 97 == 0,
                "timestamp": now + i * 1e-3,
            })
            sequence += 1
            records.append({"eventID": f"shardId-000000000000:{sequence}",
                            "kinesis": {"data": base64.b64encode(body).decode(), "sequenceNumber": str(sequence)}})
        events.append(records)
    return events


def run_once(events: list[list[dict]], baseline) -> tuple[float, float, float]:
    """Seconds decoding, seconds computing, records."""
    decode_s = compute_s = 0.0
    total = 0
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
    return decode_s, compute_s, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU to pin to")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rng = np.random.default_rng(7)
    names, baseline = make_baseline(rng)
    events = make_events(rng, names, args.records, args.batch)
    print(f"{args.records} records x {N_FEATURES} numeric features, batches of {args.batch}, "
          f"pinned to CPU {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}")
    for run in range(1, args.runs + 1):
        decode_s, compute_s, total = run_once(events, baseline)
        elapsed = decode_s + compute_s
        print(f"run {run}: {total / elapsed:,.0f} records/s end to end (decode {total / decode_s:,.0f}/s, "
              f"drift math {total / compute_s:,.0f}/s; {elapsed:.2f}s = {decode_s:.2f}s decode + {compute_s:.2f}s compute)")


if __name__ == "__main__":
    main()
