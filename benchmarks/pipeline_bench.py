"""Training memory at scale, run twice in a fresh process (the orchestration: ``sfn_bench.py``).

Validation plus training on a generated 1,000,000-row, 30-feature dataset (numpy, written to
    Parquet by a separate process, so generating it is not measured): read the file, run every data
    check, and train with the pipeline's own ``train_model``: the search cross-validates on a
    stratified 100,000-row sample (``TrainingConfig.search_max_rows``; 3 trials, 3 folds), then the
    best parameters are fitted on all 1,000,000 rows. Target: peak memory <= 4 GB.

Peak memory is the process's high-water mark of resident memory (``VmHWM`` from
``/proc/self/status``, else ``ru_maxrss``): numpy and pyarrow allocate outside Python's
allocator, so tracemalloc would miss most of it. Wall time is reported for the measured work
and for the whole process (interpreter start and imports included).

    .venv/bin/python benchmarks/pipeline_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LARGE_TARGET_MB = 4096.0
LARGE_ROWS = 1_000_000
LARGE_FEATURES = 30
SEARCH_ROWS = 100_000


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 if sys.platform != "darwin" else maxrss / 1024 / 1024


# --- (a) the whole pipeline under moto --------------------------------------------------------


def child_generate(path: Path) -> dict[str, Any]:
    """Write the million-row dataset (its own process, so its memory does not count below)."""
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    features = rng.standard_normal((LARGE_ROWS, LARGE_FEATURES))
    weights = rng.normal(0, 1, LARGE_FEATURES)
    logits = features @ weights / np.sqrt(LARGE_FEATURES) * 2
    target = (rng.random(LARGE_ROWS) < 1 / (1 + np.exp(-logits))).astype("int64")
    frame = pd.DataFrame(features, columns=[f"f{i:02d}" for i in range(LARGE_FEATURES)])
    frame["target"] = target
    frame.to_parquet(path, index=False)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "parquet_mb": round(path.stat().st_size / 2**20, 1),
    }


def child_large(path: Path) -> dict[str, Any]:
    from core.spec import ModelSpec
    from pipelines.data.datasets import load_dataset
    from pipelines.data.validation import ValidationConfig, validate_dataset
    from pipelines.training.train import TrainingConfig, train_model

    spec = ModelSpec(
        name="large",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.7,
        estimator="logistic_regression",
    )
    timings: dict[str, float] = {}
    after_imports_mb = peak_rss_mb()
    measured = time.perf_counter()
    dataset = load_dataset(path, max_bytes=1024**3)
    timings["read"] = time.perf_counter() - measured
    step = time.perf_counter()
    report = validate_dataset(dataset.frame, spec, config=ValidationConfig(), dataset=str(path))
    timings["validate"] = time.perf_counter() - step

    step = time.perf_counter()
    # the pipeline's own training step: the search cross-validates on a stratified sample of
    # search_max_rows rows, the best parameters are then fitted on every row
    trained = train_model(
        dataset.frame,
        TrainingConfig.from_spec(
            spec, n_trials=3, cv_folds=3, timeout_seconds=600, search_max_rows=SEARCH_ROWS
        ),
    )
    search = trained.search
    timings["search_and_final_fit"] = time.perf_counter() - step
    timings["validate_and_train"] = time.perf_counter() - measured
    return {
        "rows": report.rows,
        "checks": len(report.checks),
        "best_cv_roc_auc": round(search.best_score, 4),
        "fitted_rows": trained.metadata.training_rows,
        "search_rows": trained.metadata.search_rows,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "after_imports_mb": round(after_imports_mb, 1),
        "peak_mb": round(peak_rss_mb(), 1),
    }


# --- the parent: fresh processes, two runs each -----------------------------------------------


def run_child(kind: str, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{kind} benchmark failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "process_seconds": round(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["generate", "large"], help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        children = {
            "generate": lambda: child_generate(args.path),
            "large": lambda: child_large(args.path),
        }
        result = children[args.child]()
        print(json.dumps(result))
        return 0

    ok = True
    print(
        f"validation + training on {LARGE_ROWS:,} rows x {LARGE_FEATURES} features "
        f"(search: 3 trials x 3 folds on {SEARCH_ROWS:,} rows; final fit on all rows); target peak <= 4 GB"
    )
    with tempfile.TemporaryDirectory(prefix="tenantml-bench-") as tmp:
        path = Path(tmp) / "large.parquet"
        generated = run_child("generate", str(path))
        print(
            f"  generated {generated['parquet_mb']} MB of Parquet in {generated['seconds']:.1f} s (not measured)"
        )
        for attempt in (1, 2):
            r = run_child("large", str(path))
            ok &= r["peak_mb"] <= LARGE_TARGET_MB
            s = r["seconds"]
            print(
                f"  run {attempt}: validate+train {s['validate_and_train']:.1f} s (read {s['read']:.1f}, "
                f"validate {s['validate']:.1f}, search on {r['search_rows']:,} rows + final fit on "
                f"{r['fitted_rows']:,} rows {s['search_and_final_fit']:.1f}), "
                f"process {r['process_seconds']:.1f} s; peak {r['peak_mb']:.0f} MB "
                f"(after imports {r['after_imports_mb']:.0f} MB); {r['checks']} checks, "
                f"cv roc_auc {r['best_cv_roc_auc']}"
            )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
