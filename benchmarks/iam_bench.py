"""What IAM enforcement costs the emulator's apply: both example tenants applied with it off and on.

Target (issue 14): enforcement costs <= 20 % of apply time. One process synthesizes the example
tenants once and starts one in-process emulator; after a discarded warm-up apply (moto builds its
backends on first use), each round resets the emulator and applies both tenants to a fresh state
with IAM off, then again with IAM enforced (every request signed by the account's administrator
and checked against its policies), and prints both times and their ratio.

    .venv/bin/python benchmarks/iam_bench.py [rounds, default 2]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_OVERHEAD = 0.20


def main() -> int:
    from core.spec import load_specs
    from tenantml.emulator import iam_enforcement, server
    from tenantml.emulator.commands import apply_tenants
    from tenantml.synthesis import synth

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        specs = load_specs(ROOT / "tenants")
        synth(specs, work / "cdktf.out")
        tenants = [s.name for s in specs]
        emulator = server.start(0, enforce_iam=False)
        try:

            def timed_apply(enforced: bool, label: str) -> tuple[float, int]:
                server.reset(emulator.endpoint)
                iam_enforcement.set_enforced(enforced)
                try:
                    clock = time.perf_counter()
                    applied = apply_tenants(work / "cdktf.out", tenants, work / label, emulator.endpoint)
                    return time.perf_counter() - clock, sum(len(a.result.applied) for a in applied)
                finally:
                    iam_enforcement.set_enforced(False)

            timed_apply(False, "warm-up")
            ok = True
            print(f"{'round':>5} {'resources':>9} {'IAM off s':>9} {'IAM enforced s':>14} {'overhead':>8}")
            for attempt in range(1, rounds + 1):
                off, resources = timed_apply(False, f"off-{attempt}")
                on, resources_on = timed_apply(True, f"on-{attempt}")
                overhead = on / off - 1
                ok &= overhead <= TARGET_OVERHEAD and resources == resources_on
                print(f"{attempt:>5} {resources:>9} {off:>9.2f} {on:>14.2f} {overhead:>+8.1%}")
        finally:
            emulator.stop()
    print(f"target: enforcement costs <= {TARGET_OVERHEAD:.0%} of apply time: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
