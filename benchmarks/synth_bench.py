"""Synth speed and memory: 1 and 50 tenants cold (empty synthesis cache), each run twice; with
``--thousand``, 1,000 tenants cold and then again after one spec changed (warm cache), twice.

Targets (issue 17, on the 2-core reference machine): 1 tenant <= 1.0 s, 50 tenants <= 5 s,
1,000 tenants <= 60 s cold, re-synthesizing 1,000 after one spec changed <= 5 s; peak memory of
every process (python, workers, node runtimes) <= 1 GB. Wall time is measured around a fresh
``python`` process, so interpreter start-up, imports and the jsii runtime start are included.

    .venv/bin/python benchmarks/synth_bench.py [--thousand]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = [yaml.safe_load((ROOT / "tenants" / f"{name}.yaml").read_text()) for name in ("churn", "fraud")]
TARGETS = {1: 1.0, 50: 5.0}
THOUSAND_COLD_TARGET, THOUSAND_WARM_TARGET = 60.0, 5.0
SAMPLE_SECONDS = 0.01
MEMORY_TARGET_MB = 1024


def write_specs(directory: Path, count: int) -> None:
    """``count`` distinct tenants alternating between the EC2 and the EKS example."""
    for i in range(count):
        spec = dict(TEMPLATES[i % 2])
        spec["name"] = f"team{i:02d}"
        # distinct, non-overlapping /20s (specs with overlapping VPCs are refused): 4,096 fit in 10/8
        spec["compute"] = {**spec["compute"], "vpc_cidr": f"10.{i // 16}.{(i % 16) * 16}.0/20"}
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
    """``count`` tenants with an empty synthesis cache."""
    with tempfile.TemporaryDirectory() as tmp:
        specs, out = Path(tmp) / "tenants", Path(tmp) / "out"
        specs.mkdir()
        write_specs(specs, count)
        return _timed(specs, out, Path(tmp) / "cache")


def run_changed(count: int) -> tuple[dict[str, float], dict[str, float]]:
    """``count`` tenants cold, then again after one spec changed (the others come from the cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        specs, out, cache = Path(tmp) / "tenants", Path(tmp) / "out", Path(tmp) / "cache"
        specs.mkdir()
        write_specs(specs, count)
        cold = _timed(specs, out, cache)
        first = specs / "team00.yaml"
        spec = yaml.safe_load(first.read_text())
        spec["streaming"] = {**spec.get("streaming", {}), "shards": 2}
        first.write_text(yaml.safe_dump(spec))
        return cold, _timed(specs, out, cache)


def _timed(specs: Path, out: Path, cache: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_synth_child.py"), str(specs), str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TENANTML_SYNTH_CACHE": str(cache)},
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
    thousand = "--thousand" in sys.argv[1:]
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
    if thousand:
        for attempt in (1, 2):
            cold, warm = run_changed(1000)
            for label, r, target in (
                ("cold", cold, THOUSAND_COLD_TARGET),
                ("1 changed", warm, THOUSAND_WARM_TARGET),
            ):
                ok &= r["wall_seconds"] <= target and r["peak_mb"] <= MEMORY_TARGET_MB
                print(
                    f"{'1000 ' + label:>7} {attempt:>3} {r['resources']:>9} {r['wall_seconds']:>7.2f} {target:>8.1f} {r['peak_mb']:>36.1f}"
                )
    print(f"memory target: {MEMORY_TARGET_MB} MB")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
