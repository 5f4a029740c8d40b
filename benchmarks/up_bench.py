"""`tenantml up --once` until ready, lifecycle included: wall time and where it goes, twice.

Runs the real command in a fresh temporary directory (empty state, fresh emulator, the synthesis
cache left as it is) for the example tenants, and timestamps every line it prints as it arrives,
so the figure splits into stages: start-up to the first synthesis line, synthesis, state bootstrap,
apply (each tenant's image push and data landing as soon as its stack is applied), the lifecycle
(each pipeline run to Done, each champion served as its run ends), ready. ``--only`` picks tenants
(comma-separated) from ``tenants/`` into the temporary directory; the default is every example tenant. Target (issue 15): ready in <= 30 s for
the example tenants, lifecycle included.

    .venv/bin/python benchmarks/up_bench.py [--only churn,fraud] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 30.0
#: (stage, the first line that starts it)
STAGES = (
    ("synth", re.compile(r"^synthesizing ")),
    ("bootstrap", re.compile(r"^bootstrapping ")),
    ("apply", re.compile(r"^applying ")),
    ("lifecycle (every tenant applied)", re.compile(r"^run sample lifecycle")),
    ("training set built", re.compile(r"^\S+: point-in-time training set of ")),
    ("ready", re.compile(r"^tenantml is up in ")),
)
_STEP = re.compile(r"^(\S+): pipeline step (\S+)")
#: per tenant: its data landed (as soon as its stack is applied), its champion served (as its run ends)
_TENANT_MARKS = (
    ("data landed", re.compile(r"^(\S+): dropped the sample dataset ")),
    ("served", re.compile(r"^(\S+): serving model version ")),
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(tenants: Path) -> dict[str, float]:
    """Stage marks in seconds from the start; ``cpu`` is the CPU seconds of up and every process it reaped."""
    cpu_before = _children_cpu()
    with tempfile.TemporaryDirectory(prefix="up-bench-") as work:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tenantml.cli",
                "up",
                "--once",
                "--tenants",
                str(tenants),
                "--emulator-port",
                "0",
            ],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        marks: dict[str, float] = {}
        assert process.stdout is not None
        for line in process.stdout:
            now = time.perf_counter() - started
            text = line.strip()
            for stage, pattern in STAGES:
                if stage not in marks and pattern.search(text):
                    marks[stage] = now
            if step := _STEP.match(text):
                marks[f"{step.group(1)} {step.group(2)}"] = now
            for mark, pattern in _TENANT_MARKS:
                if found := pattern.match(text):
                    marks.setdefault(f"{found.group(1)} {mark}", now)
        process.wait()
        if process.returncode or "ready" not in marks:
            raise SystemExit(f"up exited {process.returncode} before it was ready")
        marks["cpu"] = _children_cpu() - cpu_before
        return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated tenants of tenants/ (default: all)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="up-bench-tenants-") as tmp:
        # the platform settings sit beside the tenants directory, as in the repository
        tenants = Path(tmp) / "tenants"
        tenants.mkdir()
        names = (
            args.only.split(",") if args.only else [p.stem for p in sorted((ROOT / "tenants").glob("*.yaml"))]
        )
        for name in names:
            shutil.copy(ROOT / "tenants" / f"{name}.yaml", tenants / f"{name}.yaml")
        shutil.copy(ROOT / "platform.yaml", Path(tmp) / "platform.yaml")
        print(f"tenants: {', '.join(names)}; load average {os.getloadavg()[0]:.2f}")
        for round_ in range(args.rounds):
            marks = run_once(tenants)
            cpu = marks.pop("cpu")
            verdict = "within" if marks["ready"] <= TARGET_S else "OVER"
            timeline = ", ".join(f"{k} {v:.1f}" for k, v in sorted(marks.items(), key=lambda kv: kv[1]))
            print(
                f"round {round_ + 1}: ready in {marks['ready']:.1f} s ({verdict} {TARGET_S:g} s), "
                f"{cpu:.1f} CPU s (up and its processes, to exit); at s: {timeline}"
            )
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
