"""Child process of synth_bench: synthesize a spec directory, as ``tenantml synth`` does."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

started = time.perf_counter()


def main() -> None:
    tenants_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    from core.spec import load_specs
    from tenantml.synthesis import synth

    results = synth(load_specs(tenants_dir), out_dir)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "tenants": len(results),
                "resources": sum(r.resource_count for r in results),
                "in_process_seconds": round(wall, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
