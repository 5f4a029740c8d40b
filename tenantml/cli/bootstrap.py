"""``tenantml bootstrap``: each account's Terraform state bucket, synthesized and (on the emulator) applied."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tenantml.cli.options import OutDir, PlatformFile, TenantsDir, console, load_platform_for, reports_errors


@reports_errors
def bootstrap(
    tenants: TenantsDir = Path("tenants"),
    out: OutDir = Path("cdktf.out"),
    platform: PlatformFile = None,
) -> None:
    """Synthesize one state bootstrap stack per account in the tenant specs; apply it to a running `tenantml up`.

    Each stack (OUT/bootstrap/stacks/bootstrap-<account>/cdk.tf.json) makes the account's state
    bucket tenantml-tfstate-<account>-<state region>: versioned, SSE-KMS with its own key,
    public access blocked, TLS only. Apply it once per account with that account's credentials
    (terraform init && terraform apply in its directory) before the first tenant deploy.
    """
    from core.spec import load_specs
    from tenantml.synthesis import synth_bootstrap
    from tenantml.up import read_running

    specs = load_specs(tenants)
    settings = load_platform_for(tenants, platform)
    results = synth_bootstrap(specs, out, settings)
    table = Table(title=f"{len(results)} bootstrap stack(s), state region {settings.state.region}")
    table.add_column("account")
    table.add_column("state bucket")
    table.add_column("stack")
    for result in results:
        table.add_row(result.account_id, result.bucket, str(result.path))
    console.print(table)
    running = read_running()
    if running is None:
        console.print("[dim]no `tenantml up` is running: nothing applied[/]")
        return
    from core.errors import ProblemsError
    from tenantml.bootstrap import apply_bootstrap, backend_problems, tenant_backends
    from tenantml.emulator.session import make_session

    session = make_session(running.endpoint)
    applied = apply_bootstrap(out, results, running.state_dir, session)
    console.print(f"applied {len(applied)} bootstrap stack(s) to the emulator at {running.endpoint}")
    problems = backend_problems(tenant_backends(out, [s.name for s in specs]), session)
    if problems:
        raise ProblemsError(problems, headline="a tenant's Terraform state backend cannot initialise")
    console.print("[green]ok[/] every tenant backend names a bootstrapped bucket in the state region")


def register(app: typer.Typer) -> None:
    app.command()(bootstrap)
