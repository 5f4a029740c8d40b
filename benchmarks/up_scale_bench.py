"""`tenantml up --once --no-lifecycle` with many tenants: wall time and peak memory, run twice.

Target (issue 17, on the 2-core reference machine): 20 tenants (half EC2, half EKS, each in its
own account, non-overlapping VPCs) applied to the embedded emulator in <= 60 s and <= 4 GB peak
across every process (the CLI, the emulator threads, the Node runtime of the synthesis, Lambda
runtimes). The synthesis cache starts empty each run, so synthesis is included cold. The CPU
seconds (user + sys) of the `up` process and the children it waited for are printed too, and
the load average before and after: on a shared machine the wall time follows the load, the
CPU time much less.

    .venv/bin/python benchmarks/up_scale_bench.py [TENANTS] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from synth_bench import _tree_rss_kib  # the same measure: every process of the tree

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS, TARGET_MB = 60.0, 4096
TEMPLATES = [yaml.safe_load((ROOT / "tenants" / f"{name}.yaml").read_text()) for name in ("churn", "fraud")]


def write_specs(directory: Path, count: int) -> None:
    for i in range(count):
        spec = dict(TEMPLATES[i % 2])
        spec["name"] = f"team{i:02d}"
        spec["account_id"] = f"{100000000000 + i:012d}"
        spec["compute"] = {**spec["compute"], "vpc_cidr": f"10.{i // 16}.{(i % 16) * 16}.0/20"}
        (directory / f"team{i:02d}.yaml").write_text(yaml.safe_dump(spec))


def run(count: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "tenants").mkdir()
        write_specs(workdir / "tenants", count)
        env = {**os.environ, "TENANTML_SYNTH_CACHE": str(workdir / "cache")}
        log = workdir / "up.log"
        started = time.perf_counter()
        # to a file, not a pipe: 20 tenants print more than a pipe holds while nobody reads it
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tenantml.cli",
                    "up",
                    "--once",
                    "--no-lifecycle",
                    "--emulator-port",
                    "0",
                ],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            peak = 0
            # wait4, not poll(): it also returns the CPU time of the process and its reaped children
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                peak = max(peak, _tree_rss_kib(proc.pid))
                time.sleep(0.05)
        wall = time.perf_counter() - started
        cpu = usage.ru_utime + usage.ru_stime
        output = log.read_text()
        if proc.returncode:
            raise RuntimeError(f"up failed (exit {proc.returncode}):\n{output[-3000:]}")
    return wall, peak / 1024, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tenants", nargs="?", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    ok = True
    print(
        f"{'tenants':>7} {'run':>3} {'wall s':>7} {'target s':>8} {'cpu s':>6} {'peak MB':>8} "
        f"{'target MB':>9} {'load before/after':>17}"
    )
    for attempt in range(1, args.runs + 1):
        load_before = os.getloadavg()[0]
        wall, peak, cpu = run(args.tenants)
        load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
        ok &= wall <= TARGET_SECONDS and peak <= TARGET_MB
        print(
            f"{args.tenants:>7} {attempt:>3} {wall:>7.1f} {TARGET_SECONDS:>8.0f} {cpu:>6.1f} {peak:>8.0f} "
            f"{TARGET_MB:>9} {load:>17}"
        )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
