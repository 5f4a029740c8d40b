"""What every ``tenantml`` command module shares: the consoles, error reporting, common options."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from core.errors import TenantmlError

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
