"""The ``tenantml`` command-line tool: one Typer app, its command groups in the modules beside this one."""

from tenantml.cli.app import app

__all__ = ["app"]
