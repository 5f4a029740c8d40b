"""Synthesize tenant stacks without partial output.

Everything is built in a scratch directory next to the output and moved into place only
when every stack synthesized: a failure leaves the previous output untouched. All stacks
share one process and one jsii/Node runtime: a second runtime would halve the wall time of
a large synth but add ~180 MB, past the 400 MB budget (see benchmarks/synth_bench.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.platform import PlatformSpec, state_accounts, state_bucket_name
from core.spec import TenantSpec
from core.stack_names import kubernetes_stack_name

#: the bootstrap stacks go beside the tenant stacks, in their own cdktf output, so that nothing
#: that walks ``<out>/stacks`` (apply, destroy, preview, ``cdktf deploy``) takes them for tenants
BOOTSTRAP_DIR = "bootstrap"


@dataclass(frozen=True)
class SynthResult:
    tenant: str
    path: Path
    resource_count: int

    @property
    def stack(self) -> str:
        """The stack's name: the tenant's, or ``<tenant>-kubernetes`` for its Kubernetes stack."""
        return self.path.parent.name


@dataclass(frozen=True)
class BootstrapResult:
    account_id: str
    stack: str
    bucket: str
    region: str
    path: Path


def synth(
    specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec | None = None
) -> list[SynthResult]:
    """Synthesize ``specs`` into ``outdir/stacks/<stack>/`` (each tenant's stack, then its Kubernetes
    stack if it serves on EKS); other tenants' output is kept."""
    from stacks.app import synth_into  # imports the CDK: only when there is something to build

    # the scratch directory sits inside outdir so that publishing is a rename on one filesystem
    # (outdir may be a mount); a directory this run created goes again when the synth fails
    created = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".synth-", dir=outdir) as scratch:
            built = Path(scratch)
            synth_into(specs, built, platform)
            return _publish(specs, built, outdir)
    except BaseException:
        if created:
            shutil.rmtree(outdir, ignore_errors=True)
        raise


def synth_bootstrap(
    specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec
) -> list[BootstrapResult]:
    """One bootstrap stack per account the specs deploy into, in ``outdir/bootstrap/stacks/``.

    The directory is replaced as a whole once every stack synthesized (an account no tenant
    names any more loses its stack here, never its bucket: that takes a deliberate destroy).
    """
    from stacks.app import build_bootstrap_app  # imports the CDK
    from stacks.bootstrap import bootstrap_stack_name

    accounts = state_accounts(specs, platform)  # raises naming a tenant without an account
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / BOOTSTRAP_DIR
    with tempfile.TemporaryDirectory(prefix=".bootstrap-", dir=outdir) as scratch:
        built = Path(scratch) / BOOTSTRAP_DIR
        build_bootstrap_app(accounts, built, platform).synth()
        if target.exists():
            shutil.rmtree(target)
        os.replace(built, target)
    region = platform.state.region
    return [
        BootstrapResult(
            account_id=account,
            stack=bootstrap_stack_name(account),
            bucket=state_bucket_name(account, region),
            region=region,
            path=target / "stacks" / bootstrap_stack_name(account) / "cdk.tf.json",
        )
        for account in accounts
    ]


def _publish(specs: Sequence[TenantSpec], built: Path, outdir: Path) -> list[SynthResult]:
    results = []
    gone: list[str] = []
    for spec in specs:
        for stack in (spec.name, kubernetes_stack_name(spec.name)):
            target = outdir / "stacks" / stack
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            if not (built / "stacks" / stack).exists():
                gone.append(stack)  # a tenant that stopped serving on EKS has no Kubernetes stack
                continue
            os.replace(built / "stacks" / stack, target)
            stack_file = target / "cdk.tf.json"
            doc = json.loads(stack_file.read_text())
            results.append(
                SynthResult(spec.name, stack_file, sum(len(v) for v in doc.get("resource", {}).values()))
            )
    _merge_manifest(built / "manifest.json", outdir / "manifest.json", gone)
    return results


def _merge_manifest(new: Path, existing: Path, gone: list[str]) -> None:
    """Keep ``manifest.json`` listing every stack present, as ``cdktf deploy`` reads it."""
    merged = json.loads(new.read_text())
    stacks: dict[str, object] = (
        json.loads(existing.read_text()).get("stacks", {}) if existing.exists() else {}
    )
    for stack in gone:
        stacks.pop(stack, None)
    stacks.update(merged.get("stacks", {}))
    merged["stacks"] = dict(sorted(stacks.items()))
    tmp = existing.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2))
    os.replace(tmp, existing)
