"""The CDK for Terraform app: one ``TenantPlatformStack`` per tenant spec, and a
``TenantKubernetesStack`` (``<tenant>-kubernetes``) for each tenant serving on EKS, applied after it.

The platform settings (``platform.yaml`` beside the tenants directory, or
``TENANTML_PLATFORM_FILE``) give every tenant backend its state region and bucket. The
bootstrap stacks (one per account) are a separate app, :func:`build_bootstrap_app`.

``cdktf synth`` runs this module (see ``cdktf.json``) and reads its output from
``CDKTF_OUTDIR``; ``tenantml synth`` goes through :mod:`tenantml.synthesis`, which calls
:func:`synth_into` in one or more worker processes and moves the result into place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import TenantSpecError
from core.platform import PLATFORM_ERROR, PlatformSpec, default_platform_file, load_platform, state_problems
from core.spec import TenantSpec, load_specs
from infra.cdk import App
from infra.core import synth_app
from stacks.bootstrap import BootstrapStack
from stacks.kubernetes import TenantKubernetesStack, needs_kubernetes_stack
from stacks.tenant_platform import TenantPlatformStack

DEFAULT_OUTDIR = Path("cdktf.out")
DEFAULT_TENANTS_DIR = Path("tenants")
LAMBDA_BUILD_DIR = ".lambda-build"


def build_app(specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec | None = None) -> App:
    """An app holding one stack per spec (nothing is written until ``app.synth()``).

    Raises :class:`TenantSpecError` naming every tenant whose remote state has no account.
    """
    platform = platform or PlatformSpec()
    problems = state_problems(specs, platform)
    if problems:
        raise TenantSpecError(problems, headline=PLATFORM_ERROR)
    app = App(outdir=str(outdir))
    build_dir = outdir / LAMBDA_BUILD_DIR
    for spec in specs:
        TenantPlatformStack(app, spec, build_dir=build_dir, platform=platform)
        if needs_kubernetes_stack(spec):
            TenantKubernetesStack(app, spec, platform=platform)
    return app


def build_bootstrap_app(accounts: Sequence[str], outdir: Path, platform: PlatformSpec) -> App:
    """An app holding one ``BootstrapStack`` per account (``stacks/bootstrap-<account>/``)."""
    app = App(outdir=str(outdir))
    for account in accounts:
        BootstrapStack(app, account, platform)
    return app


def synth_into(specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec | None = None) -> None:
    """Synthesize ``specs`` into ``outdir`` (``stacks/<stack>/cdk.tf.json`` and ``manifest.json``)."""
    synth_app(build_app(specs, outdir, platform), outdir)


def main() -> None:
    """Entry point for ``cdktf synth``, which passes the output directory as CDKTF_OUTDIR."""
    outdir = Path(os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR))
    tenants_dir = Path(os.environ.get("TENANTML_TENANTS_DIR", DEFAULT_TENANTS_DIR))
    platform_file = Path(os.environ.get("TENANTML_PLATFORM_FILE", default_platform_file(tenants_dir)))
    synth_into(load_specs(tenants_dir), outdir, load_platform(platform_file))


if __name__ == "__main__":
    main()
