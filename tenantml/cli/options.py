"""What every ``tenantml`` command module shares: the consoles, error reporting, common options."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from core.errors import TenantmlError, UsageError

if TYPE_CHECKING:
    from core.platform import PlatformSpec
    from tenantml.up import RunningEmulator

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

# --- options shared by several commands, declared once -------------------------------------------

TenantsDir = Annotated[Path, typer.Option("--tenants", help="Directory of tenant spec files (*.yaml).")]
#: commands over every tenant that can be narrowed to one
TenantName = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant (all specs are still validated).")
]
#: commands that act on one tenant
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant to act on (its spec file's name).")]
OutDir = Annotated[Path, typer.Option("--out", help="Where the synthesized stacks go.")]
OutputsFile = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        help="The tenant stack's outputs as JSON (terraform output -json, {name: value}, or an up.json). "
        "Default: .tenantml/up.json from `tenantml up`.",
    ),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="AWS endpoint (the emulator's URL); default: the one in .tenantml/up.json, else real AWS.",
    ),
]
#: commands that act on one registered version
Version = Annotated[int, typer.Option("--version", min=1, help="The registered model version.")]


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a tenantml error without a traceback and exit with its code (2 for bad input)."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TenantmlError as err:
            err_console.print(
                Text("error: ", style="bold red") + Text(str(err)), highlight=False, soft_wrap=True
            )
            raise typer.Exit(err.exit_code) from err

    return wrapper


PlatformFile = Annotated[
    Path | None,
    typer.Option(
        "--platform",
        help="Platform settings (state region, default account). Default: platform.yaml beside --tenants.",
    ),
]


def load_platform_for(tenants: Path, platform: Path | None) -> PlatformSpec:
    """The platform settings of a command: ``--platform``, else ``platform.yaml`` beside the tenants."""
    from core.platform import default_platform_file, load_platform

    return load_platform(platform if platform is not None else default_platform_file(tenants))


def require_running() -> RunningEmulator:
    """The running ``tenantml up``'s emulator, or a usage error saying to start one."""
    from tenantml.up import read_running

    running = read_running()
    if running is None:
        raise UsageError(
            "no `tenantml up` is running: start one first (the emulator keeps its resources in memory)"
        )
    return running
