"""The CDK for Terraform app: one ``TenantPlatformStack`` per tenant spec, and a
``TenantKubernetesStack`` (``<tenant>-kubernetes``) for each tenant serving on EKS, applied after it.

``cdktf synth`` runs this module (see ``cdktf.json``) and reads its output from
``CDKTF_OUTDIR``; ``tenantml synth`` goes through :mod:`tenantml.synthesis`, which calls
:func:`synth_into` in one or more worker processes and moves the result into place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from core.spec import TenantSpec, load_specs
from infra.cdk import App
from stacks.kubernetes import TenantKubernetesStack, needs_kubernetes_stack
from stacks.tenant_platform import TenantPlatformStack

DEFAULT_OUTDIR = Path("cdktf.out")
DEFAULT_TENANTS_DIR = Path("tenants")
LAMBDA_BUILD_DIR = ".lambda-build"


def build_app(specs: Sequence[TenantSpec], outdir: Path) -> App:
    """An app holding one stack per spec (nothing is written until ``app.synth()``)."""
    app = App(outdir=str(outdir))
    build_dir = outdir / LAMBDA_BUILD_DIR
    for spec in specs:
        TenantPlatformStack(app, spec, build_dir=build_dir)
        if needs_kubernetes_stack(spec):
            TenantKubernetesStack(app, spec)
    return app


def synth_into(specs: Sequence[TenantSpec], outdir: Path) -> None:
    """Synthesize ``specs`` into ``outdir`` (``stacks/<stack>/cdk.tf.json`` and ``manifest.json``)."""
    build_app(specs, outdir).synth()


def main() -> None:
    """Entry point for ``cdktf synth``, which passes the output directory as CDKTF_OUTDIR."""
    outdir = Path(os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR))
    tenants_dir = Path(os.environ.get("TENANTML_TENANTS_DIR", DEFAULT_TENANTS_DIR))
    synth_into(load_specs(tenants_dir), outdir)


if __name__ == "__main__":
    main()
