"""CPU the model server's inference-log sender spends per request, with and without class probabilities.

The sender thread (``KinesisInferenceLogger``) is logging's cost to a worker: it encodes what the
handlers buffered and sends it. This times its work on one core, in-process, with a PutRecords
client that only keeps the bytes (no network, no signing): requests of 30 numeric features, 1 and
100 rows, answered by a binary classifier, logged the way the server does, once as formats 4/5
(predictions only, what a regressor or a server before class probabilities writes) and once as
formats 6/7 (with the positive class's probability per row). Reported: sender CPU microseconds
per request (``time.thread_time``, the median of ``--rounds``) and bytes per request on the
stream. CPU time, not wall time, so other load on a shared machine moves it little; the
end-to-end figure is ``serving_bench.py --logging-only``.

Run: ``.venv/bin/python benchmarks/log_sender_bench.py [--requests 20000] [--rounds 5]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from pipelines.data.features import FeatureSignature
from pipelines.inference_log.logger import KinesisInferenceLogger, LogEntry, LoggerSettings
from pipelines.serving.schema import FeatureBatch, InputSchema

N_FEATURES = 30


class _Keep:
    """A PutRecords client that keeps the bytes it is sent and answers success."""

    def __init__(self) -> None:
        self.bytes = 0

    def put_records(self, *, StreamName: str, Records: list[dict]) -> dict:
        self.bytes += sum(len(r["Data"]) for r in Records)
        return {"FailedRecordCount": 0, "Records": [{} for _ in Records]}


def entries(rng: np.random.Generator, n: int, rows: int) -> list[LogEntry]:
    values = np.round(rng.normal(size=(n * rows, N_FEATURES)), 3)
    positive = rng.uniform(size=n * rows)
    probabilities = np.column_stack((1.0 - positive, positive))
    now = time.time()
    return [
        LogEntry(
            request_id=f"{i:032x}",
            model_version="1",
            batch=FeatureBatch(values[i * rows : (i + 1) * rows], None, rows),
            predictions=(positive[i * rows : (i + 1) * rows] > 0.5).astype(np.int64),
            latency_ms=1.5,
            timestamp=now + i * 1e-3,
            probabilities=probabilities[i * rows : (i + 1) * rows],
        )
        for i in range(n)
    ]


def sender_cpu(batch: list[LogEntry], schema: InputSchema, classes: list[int] | None) -> tuple[float, int]:
    """Sender CPU seconds for ``batch`` (submitted, then flushed from this thread), and bytes sent."""
    client = _Keep()
    logger = KinesisInferenceLogger(
        LoggerSettings(stream_name="bench", max_buffer_records=10**9), schema, lambda: client, classes=classes
    )
    for entry in batch:
        logger.submit(entry)
    started = time.thread_time()
    logger.flush()
    return time.thread_time() - started, client.bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    schema = InputSchema(
        [FeatureSignature(name=f"f{j:02d}", dtype="float64", kind="numeric") for j in range(N_FEATURES)]
    )
    rng = np.random.default_rng(0)
    print(f"{'rows/request':>12} {'logged':<28} {'sender us/request':>18} {'bytes/request':>14}")
    for rows in (1, 100):
        n = max(args.requests // rows, 200)
        batch = entries(rng, n, rows)
        figures = {}
        for label, classes in (("predictions (formats 4/5)", None), ("+ probabilities (6/7)", [0, 1])):
            samples = [sender_cpu(batch, schema, classes) for _ in range(args.rounds)]
            cpu = statistics.median(s for s, _ in samples) / n * 1e6
            figures[label] = cpu
            print(f"{rows:>12} {label:<28} {cpu:>18.2f} {samples[0][1] / n:>14.0f}")
        before, after = figures.values()
        print(
            f"{rows:>12} {'probabilities add':<28} {after - before:>18.2f} ({100 * (after / before - 1):+.1f} %)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
