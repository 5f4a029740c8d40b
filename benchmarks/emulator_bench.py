"""Emulator apply speed: `tenantml up --once` until every example tenant is applied, and a no-change re-apply.

Targets (issue 3, on the 2-core reference machine): both example tenants applied <= 10 s from
the start of `up` (emulator start, synth and apply; the ML lifecycle excluded), and a no-change
re-apply <= 2 s. Each measurement is taken twice, each time in a fresh process.

    .venv/bin/python benchmarks/emulator_bench.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPLY_TARGET_S = 10.0
REAPPLY_TARGET_S = 2.0

CHILD = r"""
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from tenantml.emulator.commands import apply_tenants
from core.spec import load_specs
from tenantml.up import up

measured = {}

def reapply(context, summary):
    measured["applied_s"] = time.perf_counter() - started
    clock = time.perf_counter()
    again = apply_tenants(context.out_dir, [s.name for s in context.specs], context.state_dir, context.endpoint)
    measured["reapply_s"] = time.perf_counter() - clock
    measured["reapply_changes"] = sum(len(a.result.applied) for a in again)

root = Path(sys.argv[1])
summary = up(load_specs(root / "tenants"), out_dir=Path("cdktf.out"), port=0, once=True, report=lambda m: None,
             steps=[reapply], up_file=Path(".tenantml/up.json"), state_dir=Path(".tenantml/state"))
resources = sum(len(a.result.applied) for a in summary.applied)
print(json.dumps({**measured, "resources": resources, "synth_s": summary.timings["synth"],
                  "apply_s": summary.timings["apply"]}))
"""


def run_once() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT)],
            cwd=workdir,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ok = True
    print(
        f"{'run':>3} {'resources':>9} {'up->applied s':>13} {'synth s':>8} {'apply s':>8} {'per resource ms':>15} "
        f"{'re-apply s':>10} {'re-apply changes':>16}"
    )
    for attempt in (1, 2):
        r = run_once()
        ok &= (
            r["applied_s"] <= APPLY_TARGET_S
            and r["reapply_s"] <= REAPPLY_TARGET_S
            and r["reapply_changes"] == 0
        )
        print(
            f"{attempt:>3} {r['resources']:>9} {r['applied_s']:>13.2f} {r['synth_s']:>8.2f} {r['apply_s']:>8.2f} "
            f"{1000 * r['apply_s'] / r['resources']:>15.1f} {r['reapply_s']:>10.2f} {r['reapply_changes']:>16}"
        )
    print(
        f"targets: applied <= {APPLY_TARGET_S} s, re-apply <= {REAPPLY_TARGET_S} s with no changes: "
        + ("met" if ok else "MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
