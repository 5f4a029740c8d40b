"""The ``tenantml`` command-line tool."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tenantml.errors import TenantmlError

app = typer.Typer(
    name="tenantml",
    help="A multi-tenant MLOps platform on AWS, defined as code: synthesize, preview and run every tenant's platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

TenantsDir = Annotated[Path, typer.Option("--tenants", help="Directory of tenant spec files (*.yaml).")]
TenantName = Annotated[str | None, typer.Option("--tenant", help="Only this tenant (all specs are still validated).")]
OutDir = Annotated[Path, typer.Option("--out", help="Where the synthesized stacks go.")]


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a tenantml error without a traceback and exit with its code (2 for bad input)."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TenantmlError as err:
            err_console.print(Text("error: ", style="bold red") + Text(str(err)), highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from err

    return wrapper


@app.command()
@reports_errors
def synth(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
) -> None:
    """Synthesize one Terraform JSON stack per tenant into OUT/stacks/<tenant>/cdk.tf.json."""
    from tenantml.spec import load_specs

    specs = load_specs(tenants, only=tenant)  # validates every file before anything is written
    started = time.perf_counter()
    with console.status(f"Synthesizing {len(specs)} tenant stack(s)..."):
        from tenantml.synthesis import synth as synth_stacks

        results = synth_stacks(specs, out)
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
    from tenantml.spec import load_specs

    specs = load_specs(tenants, only=tenant)
    for spec in specs:
        console.print(f"[green]ok[/] {spec.name} ({spec.environment.value}, {spec.compute.kind}, {spec.region})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
