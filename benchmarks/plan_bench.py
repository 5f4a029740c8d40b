"""`plan` with refresh: both example tenants planned against what exists in the emulator.

Target (issue 14, on the 2-core reference machine): planning both example tenants, with every
resource of their states read back from the emulator, <= 2 s. Synthesis and the first apply are
set-up, not measured; the plan is measured twice, each against the same applied emulator.
IAM enforcement follows ``TENANTML_EMULATOR_IAM`` (off when unset; ``tenantml up`` enforces it,
and then each tenant signs into its own account) and is printed with the figures.

    .venv/bin/python benchmarks/plan_bench.py
    TENANTML_EMULATOR_IAM=enforce .venv/bin/python benchmarks/plan_bench.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN_TARGET_S = 2.0


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from core.spec import load_specs
    from tenantml.emulator import server
    from tenantml.emulator.commands import apply_tenants, plan_tenants
    from tenantml.synthesis import synth

    ok = True
    with tempfile.TemporaryDirectory() as workdir:
        out_dir, state_dir = Path(workdir) / "cdktf.out", Path(workdir) / "state"
        synth(load_specs(ROOT / "tenants"), out_dir)
        running = server.start(0)
        try:
            session = server.make_session(running.endpoint)
            applied = apply_tenants(out_dir, None, state_dir, session)
            resources = sum(len(a.result.applied) for a in applied)
            print(f"IAM enforcement: {'on' if running.enforce_iam else 'off'}")
            print(f"{'run':>3} {'tenants':>7} {'resources read':>14} {'plan s':>7} {'changes':>7}")
            for attempt in (1, 2):
                started = time.perf_counter()
                plans = plan_tenants(out_dir, None, state_dir, session)
                seconds = time.perf_counter() - started
                changes = sum(p.plan.has_changes for p in plans)
                ok &= seconds <= PLAN_TARGET_S and changes == 0
                print(f"{attempt:>3} {len(plans):>7} {resources:>14} {seconds:>7.2f} {changes:>7}")
        finally:
            running.stop()
    print(f"target: plan with refresh <= {PLAN_TARGET_S} s with no changes: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
