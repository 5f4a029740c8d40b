"""The CDK for Terraform app: one ``TenantPlatformStack`` per tenant spec.

``cdktf synth`` runs this module (see ``cdktf.json``); ``tenantml synth`` calls :func:`synth`.
Both write ``<outdir>/stacks/<tenant>/cdk.tf.json``. :func:`synth` builds into a scratch
directory next to the output and moves the result into place only when every stack
synthesized, so a failure leaves the previous output untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.cdk import App
from stacks.tenant_platform import TenantPlatformStack
from tenantml.spec import TenantSpec, load_specs

DEFAULT_OUTDIR = Path("cdktf.out")
DEFAULT_TENANTS_DIR = Path("tenants")
LAMBDA_BUILD_DIR = ".lambda-build"


@dataclass(frozen=True)
class SynthResult:
    tenant: str
    path: Path
    resource_count: int


def build_app(specs: Sequence[TenantSpec], outdir: Path) -> App:
    """An app holding one stack per spec (nothing is written until ``app.synth()``)."""
    app = App(outdir=str(outdir))
    build_dir = outdir / LAMBDA_BUILD_DIR
    for spec in specs:
        TenantPlatformStack(app, spec, build_dir=build_dir)
    return app


def _count_resources(stack_file: Path) -> int:
    doc = json.loads(stack_file.read_text())
    return sum(len(v) for v in doc.get("resource", {}).values())


def synth(specs: Sequence[TenantSpec], outdir: Path = DEFAULT_OUTDIR) -> list[SynthResult]:
    """Synthesize ``specs`` into ``outdir/stacks/<tenant>/``; other tenants' output is kept."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=outdir) as scratch:
        scratch_dir = Path(scratch)
        build_app(specs, scratch_dir).synth()
        results = []
        for spec in specs:
            built = scratch_dir / "stacks" / spec.name
            target = outdir / "stacks" / spec.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(built, target)
            stack_file = target / "cdk.tf.json"
            results.append(SynthResult(spec.name, stack_file, _count_resources(stack_file)))
        _merge_manifest(scratch_dir / "manifest.json", outdir / "manifest.json")
    return results


def _merge_manifest(new: Path, existing: Path) -> None:
    """Keep ``manifest.json`` listing every stack present, as ``cdktf deploy`` reads it."""
    manifest = json.loads(new.read_text())
    if existing.exists():
        old = json.loads(existing.read_text())
        stacks = {**old.get("stacks", {}), **manifest.get("stacks", {})}
        manifest["stacks"] = dict(sorted(stacks.items()))
    tmp = existing.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, existing)


def main() -> None:
    """Entry point for ``cdktf synth``: the CLI passes the output directory as CDKTF_OUTDIR."""
    outdir = Path(os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR))
    tenants_dir = Path(os.environ.get("TENANTML_TENANTS_DIR", DEFAULT_TENANTS_DIR))
    build_app(load_specs(tenants_dir), outdir).synth()


if __name__ == "__main__":
    main()
