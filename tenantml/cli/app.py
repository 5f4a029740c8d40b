"""The ``tenantml`` command-line tool."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tenantml.cli.options import (
    OutDir,
    PlatformFile,
    TenantName,
    TenantsDir,
    console,
    load_platform_for,
    reports_errors,
    require_running,
)

app = typer.Typer(
    name="tenantml",
    help="A multi-tenant MLOps platform on AWS, defined as code: synthesize, preview and run every tenant's platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_command_groups() -> None:
    """Commands that live next to the code they drive."""
    from tenantml.cli import bootstrap, changed, features, monitor, pipeline, preview, serving, traffic

    for group in (bootstrap, pipeline, serving, traffic, preview, monitor, changed, features):
        group.register(app)


@app.command()
@reports_errors
def synth(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
    platform: PlatformFile = None,
) -> None:
    """Synthesize one Terraform JSON stack per tenant into OUT/stacks/<tenant>/cdk.tf.json."""
    from core.spec import load_specs

    specs = load_specs(tenants, only=tenant)  # validates every file before anything is written
    settings = load_platform_for(tenants, platform)
    started = time.perf_counter()
    with console.status(f"Synthesizing {len(specs)} tenant stack(s)..."):
        from tenantml.synthesis import synth as synth_stacks

        results = synth_stacks(specs, out, settings)
    elapsed = time.perf_counter() - started
    table = Table(title=f"Synthesized {len(results)} stack(s) in {elapsed:.2f} s")
    table.add_column("tenant")
    table.add_column("resources", justify="right")
    table.add_column("stack")
    for result in results:
        table.add_row(result.tenant, str(result.resource_count), str(result.path))
    console.print(table)


@app.command()
@reports_errors
def validate(tenants: TenantsDir = Path("tenants"), tenant: TenantName = None) -> None:
    """Validate tenant spec files without synthesizing anything."""
    from core.spec import load_specs

    specs = load_specs(tenants, only=tenant)
    for spec in specs:
        console.print(
            f"[green]ok[/] {spec.name} ({spec.environment.value}, {spec.compute.kind}, {spec.region})"
        )


EmulatorPort = Annotated[
    int | None,
    typer.Option(
        "--emulator-port",
        help="Port of the AWS emulator on 127.0.0.1 (default 4599, or a free one if taken).",
    ),
]


@app.command()
@reports_errors
def up(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
    emulator_port: EmulatorPort = None,
    platform: PlatformFile = None,
    once: Annotated[
        bool, typer.Option("--once", help="Exit after everything is up, with a summary.")
    ] = False,
    lifecycle: Annotated[
        bool,
        typer.Option(
            "--lifecycle/--no-lifecycle", help="Run each tenant's ML pipeline on the sample dataset."
        ),
    ] = True,
) -> None:
    """Run every tenant's platform on the embedded AWS emulator until Ctrl-C (or once)."""
    from core.spec import load_specs
    from tenantml.lifecycle import drop_sample_dataset, run_sample_lifecycle_and_serve
    from tenantml.up_console import run_up

    specs = load_specs(tenants, only=tenant)
    settings = load_platform_for(tenants, platform)
    run_up(
        specs,
        console,
        platform=settings,
        out_dir=out,
        port=emulator_port,
        once=once,
        # each tenant's data lands as soon as its stack is applied; each champion is served as
        # soon as its run ended, while the other tenants' runs go on
        tenant_steps=[drop_sample_dataset] if lifecycle else [],
        steps=[run_sample_lifecycle_and_serve] if lifecycle else [],
    )


@app.command()
@reports_errors
def plan(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every attribute of created resources.")
    ] = False,
    platform: PlatformFile = None,
) -> None:
    """Show what applying the tenants' stacks to the emulator would create, change, replace or destroy."""
    from core.spec import load_specs
    from tenantml.emulator import server as emulator
    from tenantml.emulator.commands import plan_tenants, render_plan
    from tenantml.synthesis import synth as synth_stacks
    from tenantml.up import read_running

    specs = load_specs(tenants, only=tenant)
    synth_stacks(specs, out, load_platform_for(tenants, platform))
    running = read_running()
    if running is None:
        console.print("[dim]no `tenantml up` is running: planning against an empty emulator[/]")
        with emulator.running(0) as server, tempfile.TemporaryDirectory() as empty_state:
            plans = plan_tenants(out, [s.name for s in specs], Path(empty_state), server.endpoint)
    else:
        plans = plan_tenants(
            out, [s.name for s in specs], running.state_dir, running.endpoint, on_lock_wait=_print_lock_wait
        )
    for tenant_plan in plans:
        console.print(render_plan(tenant_plan, verbose=verbose), highlight=False)


def _print_lock_wait(message: str) -> None:
    console.print(f"[yellow]{message}[/]", highlight=False, soft_wrap=True)


@app.command(name="apply")
@reports_errors
def apply_command(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
    platform: PlatformFile = None,
) -> None:
    """Synthesize and apply changed stacks to the running emulator (no change does nothing)."""
    from core.spec import load_specs
    from tenantml.emulator.commands import apply_tenants
    from tenantml.synthesis import synth as synth_stacks

    running = require_running()
    specs = load_specs(tenants, only=tenant)
    synth_stacks(specs, out, load_platform_for(tenants, platform))
    for applied in apply_tenants(
        out, [s.name for s in specs], running.state_dir, running.endpoint, on_lock_wait=_print_lock_wait
    ):
        changes = applied.result.applied
        console.print(
            f"{applied.tenant}: {len(changes)} change(s) in {applied.result.seconds:.2f} s "
            f"({applied.result.plan.summary()})"
        )


@app.command()
@reports_errors
def destroy(
    tenant: TenantName = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove every resource of the tenants (or one tenant) from the running emulator, in reverse order."""
    from tenantml.emulator.commands import destroy_tenants

    running = require_running()
    who = tenant or "every tenant"
    if not yes and not typer.confirm(f"Destroy all resources of {who} on {running.endpoint}?"):
        raise typer.Exit(1)
    for result in destroy_tenants(
        None, [tenant] if tenant else None, running.state_dir, running.endpoint, on_lock_wait=_print_lock_wait
    ):
        console.print(
            f"{result.tenant}: destroyed {len(result.result.deleted)} resource(s) in {result.result.seconds:.2f} s"
        )


_register_command_groups()
