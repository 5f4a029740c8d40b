"""A 1,000,000-row x 30-feature training run through the state machine, in the emulator: peak memory per step.

What `tenantml up` does for one tenant (the example ``churn``: its stack applied under IAM
enforcement, its image pushed), then, instead of the bundled sample, a generated 1,000,000-row,
30-feature Parquet file (written by a separate process, so generating it is not measured) is
dropped under ``incoming/``. The data-arrival function starts the tenant's state machine; its steps
run as SageMaker jobs, each a process of its own started by the emulator's job runner. While the
execution runs, the resident memory of every job's process tree is sampled (``/proc``, every 0.2 s);
the figure is the highest of them (target: <= 4 GB), reported with each step's own peak, the
execution's wall time and the emulator process's own peak (moto holds the uploaded object in memory).

    .venv/bin/python benchmarks/pipeline_sfn_bench.py [--rows 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synth_bench import _tree_rss_kib

TARGET_MB = 4096.0
FEATURES = 30
SAMPLE_S = 0.2


def _generate(path: Path, rows: int) -> None:
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "rows, features, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((rows, features))\n"
        "logits = x @ rng.normal(0, 1, features) / np.sqrt(features) * 2\n"
        "frame = pd.DataFrame(x, columns=[f'f{i:02d}' for i in range(features)])\n"
        "frame['target'] = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype('int64')\n"
        "frame.to_parquet(path, index=False)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(rows), str(FEATURES), str(path)], check=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class JobMemory:
    """Samples every job process tree (children running ``pipelines.container``) until stopped."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self.emulator_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(SAMPLE_S):
            for child in _children(me):
                command = _command(child)
                if "pipelines.container" in command:
                    step = command.split("pipelines.container", 1)[1].split()[0:1]
                    key = step[0] if step else "job"
                    self.peaks[key] = max(self.peaks.get(key, 0), _tree_rss_kib(child))
            status = Path(f"/proc/{me}/status").read_text()
            rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            self.emulator_kib = max(self.emulator_kib, rss)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _run_once(data: Path, work: Path) -> dict[str, Any]:
    from core.spec import load_specs
    from tenantml.executions import execution_arn, follow_execution
    from tenantml.up import up

    result: dict[str, Any] = {}

    def big_run(context: Any, summary: Any) -> None:
        (applied,) = summary.applied
        spec = context.specs[0]
        outputs = applied.outputs
        admin = context.server_session.for_account(spec.account_id)
        admin.client("s3", spec.region).upload_file(
            str(data), outputs["data_bucket_name"], "incoming/bench/large.parquet"
        )
        started = time.perf_counter()
        context.runtime.wait_idle(timeout=300)
        history = context.runtime.history(outputs["data_arrival_function_name"])
        (run,) = json.loads(history[-1].payload)["runs"]
        arn = execution_arn(outputs["pipeline_state_machine_arn"], run["run_id"])
        with JobMemory() as memory:
            execution = follow_execution(
                admin.client("stepfunctions", spec.region),
                arn,
                timeout=3600,
                on_state=lambda state: print(f"  step {state}", flush=True),
            )
        result.update(
            status=execution["status"],
            seconds=round(time.perf_counter() - started, 1),
            job_peaks_mb={k: round(v / 1024, 1) for k, v in memory.peaks.items()},
            peak_job_mb=round(max(memory.peaks.values(), default=0) / 1024, 1),
            emulator_process_mb=round(memory.emulator_kib / 1024, 1),
        )

    os.chdir(work)
    up(
        load_specs(ROOT / "tenants", only="churn"),
        out_dir=work / "cdktf.out",
        port=0,
        once=True,
        report=lambda message: None,
        steps=[big_run],
        up_file=work / ".tenantml" / "up.json",
        state_dir=work / ".tenantml" / "state",
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="pipeline-sfn-bench-") as work:
            print(json.dumps(_run_once(args.child, Path(work))), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="pipeline-sfn-data-") as tmp:
        data = Path(tmp) / "large.parquet"
        _generate(data, args.rows)
        print(
            f"dataset: {args.rows:,} rows x {FEATURES} features, {data.stat().st_size / 2**20:.0f} MiB Parquet"
        )
        for round_ in range(args.rounds):
            # each round in a fresh process: the emulator, its moto server and the job runner start anew
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(data)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if done.returncode:
                print(done.stdout[-3000:], done.stderr[-3000:])
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            verdict = "within" if result["peak_job_mb"] <= TARGET_MB else "OVER"
            print(
                f"round {round_ + 1}: {result['status']} in {result['seconds']} s; peak job "
                f"{result['peak_job_mb']:,.0f} MB ({verdict} {TARGET_MB:,.0f} MB); per step "
                f"{result['job_peaks_mb']}; emulator process {result['emulator_process_mb']:,.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
