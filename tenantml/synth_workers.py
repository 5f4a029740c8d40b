"""Synthesis across worker processes, for many tenants at once.

One jsii/Node runtime executes every construct call of its process serially, so a large synthesis
spends most of its time waiting on one Node process; with a runtime per core the tenants build in
parallel. Each worker is a fresh ``python`` process that synthesizes one chunk of at most
:data:`CHUNK_TENANTS` tenants and exits: a process's memory grows with the tenants it holds, so
chunks bound the peak (1,000 tenants in chunks of 250, two at a time: ~730 MB in all, Node included). Workers run
without ``-O``: the generated CDK bindings' type checks cost little now that a tenant makes a
couple of dozen jsii calls, and ``-O`` has no cached bytecode for the installed libraries, so each
worker compiled the CDK bindings from source (~0.5 s).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.errors import SynthesisError
from core.platform import PlatformSpec
from core.spec import TenantSpec
from core.stack_names import kubernetes_stack_name
from tenantml.synth_cache import CachedStack

#: below this many tenants to build, a worker's start (~1.2 s of CPU: interpreter, imports, its own
#: Node runtime) costs more than building in parallel saves at ~30 ms a tenant (50 tenants: 4.4 s in
#: one process against 7.3 s with two workers, on the shared 2-core machine)
PARALLEL_MIN_TENANTS = 100
CHUNK_TENANTS = 250


def collect_stacks(specs: Sequence[TenantSpec], outdir: Path) -> dict[str, list[CachedStack]]:
    """What one synthesis into ``outdir`` wrote for each tenant (its stacks' counts and manifest entries)."""
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    version = str(manifest.get("version", ""))
    found: dict[str, list[CachedStack]] = {}
    for spec in specs:
        found[spec.name] = []
        for stack in (spec.name, kubernetes_stack_name(spec.name)):
            stack_file = outdir / "stacks" / stack / "cdk.tf.json"
            if not stack_file.exists():
                continue  # a tenant not serving on EKS has no Kubernetes stack
            doc = json.loads(stack_file.read_text(encoding="utf-8"))
            count = sum(len(v) for v in doc.get("resource", {}).values())
            found[spec.name].append(CachedStack(stack, count, manifest["stacks"][stack], version))
    return found


def run_workers(
    specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec, workers: int
) -> dict[str, list[CachedStack]]:
    """Synthesize ``specs`` into ``outdir/stacks/`` with ``workers`` processes at a time."""
    count = max(workers, math.ceil(len(specs) / CHUNK_TENANTS))
    size = math.ceil(len(specs) / count)
    chunks = [list(specs[i : i + size]) for i in range(0, len(specs), size)]
    outdir.mkdir(parents=True, exist_ok=True)
    requests = []
    for i, chunk in enumerate(chunks):
        request = outdir / f"chunk-{i}.json"
        request.write_text(
            json.dumps(
                {
                    "specs": [s.model_dump(mode="json") for s in chunk],
                    "platform": platform.model_dump(mode="json"),
                    "outdir": str(outdir / f"chunk-{i}"),
                }
            ),
            encoding="utf-8",
        )
        requests.append(request)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(_run_worker, requests))
    found: dict[str, list[CachedStack]] = {}
    (outdir / "stacks").mkdir(exist_ok=True)
    for i, answer in enumerate(answers):
        for tenant, stacks in answer.items():
            found[tenant] = [
                CachedStack(s["name"], int(s["resources"]), s["manifest"], s["version"]) for s in stacks
            ]
            for stack in stacks:
                (outdir / f"chunk-{i}" / "stacks" / stack["name"]).rename(outdir / "stacks" / stack["name"])
    return found


def _run_worker(request: Path) -> dict[str, list[dict[str, object]]]:
    done = subprocess.run(
        [sys.executable, "-m", "tenantml.synth_workers", str(request)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SynthesisError(f"a synthesis worker failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main(request_file: str) -> None:
    from stacks.app import synth_into  # imports the CDK

    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    specs = [TenantSpec.model_validate(s) for s in request["specs"]]
    outdir = Path(request["outdir"])
    synth_into(specs, outdir, PlatformSpec.model_validate(request["platform"]))
    answer = {
        tenant: [
            {
                "name": s.name,
                "resources": s.resource_count,
                "manifest": dict(s.manifest),
                "version": s.manifest_version,
            }
            for s in stacks
        ]
        for tenant, stacks in collect_stacks(specs, outdir).items()
    }
    print(json.dumps(answer))


if __name__ == "__main__":
    _main(sys.argv[1])
