"""Synth speed and memory: one tenant, and 50 tenants, each run twice.

Targets (issue 2, on the 2-core reference machine): one tenant <= 1.5 s wall, 50 tenants
<= 8 s wall, python + node peak memory <= 400 MB. Wall time is measured around a fresh
``python`` process, so interpreter start-up, imports and the jsii runtime start are included.

    .venv/bin/python benchmarks/synth_bench.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = [yaml.safe_load((ROOT / "tenants" / f"{name}.yaml").read_text()) for name in ("churn", "fraud")]
TARGETS = {1: 1.5, 50: 8.0}
SAMPLE_SECONDS = 0.01
MEMORY_TARGET_MB = 400


def write_specs(directory: Path, count: int) -> None:
    """``count`` distinct tenants alternating between the EC2 and the EKS example."""
    for i in range(count):
        spec = dict(TEMPLATES[i % 2])
        spec["name"] = f"team{i:02d}"
        spec["compute"] = {**spec["compute"], "vpc_cidr": f"10.{i % 250}.0.0/16"}
        spec.pop("account_id", None)
        (directory / f"team{i:02d}.yaml").write_text(yaml.safe_dump(spec))


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (python, workers, node runtimes)."""
    total, stack = 0, [str(pid)]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += (task / "children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        specs, out = Path(tmp) / "tenants", Path(tmp) / "out"
        specs.mkdir()
        write_specs(specs, count)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "_synth_child.py"), str(specs), str(out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _tree_rss_kib(proc.pid))
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"synth failed:\n{stderr}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "wall_seconds": round(wall, 3), "peak_mb": round(peak_kib / 1024, 1)}


def main() -> int:
    ok = True
    print(
        f"{'tenants':>7} {'run':>3} {'resources':>9} {'wall s':>7} {'target s':>8} {'peak MB (python+node, all processes)':>36}"
    )
    for count, target in TARGETS.items():
        for attempt in (1, 2):
            r = run(count)
            ok &= r["wall_seconds"] <= target and r["peak_mb"] <= MEMORY_TARGET_MB
            print(
                f"{count:>7} {attempt:>3} {r['resources']:>9} {r['wall_seconds']:>7.2f} {target:>8.1f} {r['peak_mb']:>36.1f}"
            )
    print(f"memory target: {MEMORY_TARGET_MB} MB")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
