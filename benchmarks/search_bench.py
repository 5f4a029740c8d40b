"""fraud's hyperparameter search, one trial at a time against two side by side.

The search of ``tenants/fraud.yaml`` (random forest, 30 trials, 5-fold CV, roc_auc, TPE + median
pruning, seed 0) on ``tenantml.sample_data.sample_frame()``, as the training job runs it
(``pipelines.training.search.run_search``), with ``parallel_trials`` 1 and 2, each measured twice,
in turns, each in a fresh process (imports are not measured). Printed per run: wall seconds, CPU
seconds of the search (this process plus its reaped worker processes), worker processes, trials
complete / pruned, the best score, and the load average before and after (the machine is shared).
It also checks that the two runs of each batch size found the same trials (the search is
deterministic).

Context: issue 15 wants ``tenantml up --once`` (lifecycle included) ready in <= 30 s on a 2-vCPU
machine; fraud's training job, ~33 CPU seconds of search in one process, was its long pole. There is
no target for the search alone: B = 2 on 2 CPUs should take about half of B = 1's wall time.

    .venv/bin/python benchmarks/search_bench.py [--rounds 2] [--parallel 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TENANT = ROOT / "tenants" / "fraud.yaml"


def child(parallel_trials: int) -> dict[str, Any]:
    """One search in this (fresh) process; its figures as a dict."""
    sys.path.insert(0, str(ROOT))
    from core.spec import load_specs
    from pipelines.data.features import input_signature
    from pipelines.training.search import SearchSettings, run_search
    from tenantml.sample_data import sample_frame

    model = next(s for s in load_specs(TENANT.parent) if s.name == "fraud").model
    frame = sample_frame()
    signature = input_signature(frame, model.target)
    settings = SearchSettings(
        n_trials=model.search_trials,
        timeout_seconds=model.search_timeout_seconds,
        parallel_trials=parallel_trials,
    )
    before, started = os.times(), time.perf_counter()
    result = run_search(
        frame[[f.name for f in signature]],
        frame[model.target],
        signature=signature,
        estimator=model.estimator,
        problem=model.problem,
        metric=model.primary_metric,
        settings=settings,
    )
    wall, after = time.perf_counter() - started, os.times()
    return {
        "parallel_trials": parallel_trials,
        "wall_s": wall,
        "cpu_s": sum(after[:4]) - sum(before[:4]),
        "workers": result.workers,
        "n_complete": result.n_complete,
        "n_pruned": result.n_pruned,
        "best_score": result.best_score,
        "best_params": result.best_params,
        "trials": [[t.number, t.state, t.value] for t in result.trials],
    }


def measure(parallel_trials: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    ran = subprocess.run(
        [sys.executable, __file__, "--child", str(parallel_trials)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(ran.stdout.strip().splitlines()[-1])
    return {**figures, "load": (load_before, os.getloadavg()[0])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallel", default="1,2", help="batch sizes to compare, comma-separated")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0

    sizes = [int(b) for b in args.parallel.split(",")]
    print(f"fraud's search, {len(os.sched_getaffinity(0))} CPUs available, {args.rounds} rounds in turns")
    print(
        f"{'B':>3} {'workers':>7} {'wall s':>7} {'CPU s':>6} {'complete':>8} {'pruned':>6} {'best':>9}  load"
    )
    runs: dict[int, list[dict[str, Any]]] = {b: [] for b in sizes}
    for _ in range(args.rounds):
        for size in sizes:
            run = measure(size)
            runs[size].append(run)
            print(
                f"{size:>3} {run['workers']:>7} {run['wall_s']:>7.2f} {run['cpu_s']:>6.2f} "
                f"{run['n_complete']:>8} {run['n_pruned']:>6} {run['best_score']:>9.6f}  "
                f"{run['load'][0]:.2f} -> {run['load'][1]:.2f}",
                flush=True,
            )
    deterministic = all(all(r["trials"] == rs[0]["trials"] for r in rs) for rs in runs.values())
    print(f"each batch size found the same trials in every round: {'yes' if deterministic else 'NO'}")
    for size, rs in runs.items():
        print(f"B={size}: best params {rs[0]['best_params']}")
    return 0 if deterministic else 1


if __name__ == "__main__":
    sys.exit(main())
