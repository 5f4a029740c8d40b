"""``tenantml changed``: the tenants a merge changes, in deploy batches (``register(app)``).

The deploy workflow runs it with ``--base`` the commit main was at before the push and ``--head``
the pushed one, and feeds ``batches`` of the JSON to its job matrix. The logic is in
:mod:`tenantml.changes`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenantml.changes import DEFAULT_BATCH_SIZE, MAX_MATRIX_JOBS
from tenantml.cli.options import TenantsDir, err_console, reports_errors
from tenantml.cli.preview import FormatOption, OutputFile, OutputFormat


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}", highlight=False)


def changed(
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="The commit to compare with (a sha, branch, tag). Omitted, empty or all zeros: every tenant.",
        ),
    ] = None,
    head: Annotated[str, typer.Option("--head", help="The commit to deploy.")] = "HEAD",
    tenants: TenantsDir = Path("tenants"),
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=MAX_MATRIX_JOBS,
            help=f"Tenants per deploy batch (one job matrix each; GitHub allows {MAX_MATRIX_JOBS}).",
        ),
    ] = DEFAULT_BATCH_SIZE,
    format: FormatOption = OutputFormat.TEXT,
    output: OutputFile = None,
) -> None:
    """List the tenants whose stacks changed between two commits, in deploy batches.

    A tenant changed when its spec file changed or is new, or when anything that reaches every
    stack changed (core/, infra/, stacks/, lambdas/, pipelines/, the locks, pyproject.toml,
    cdktf.json, platform.yaml): then every tenant. A removed spec is reported for a reviewed
    destroy, never deployed. Reads git only; run it from the repository.
    """
    from tenantml.changes import changes_json, detect_changes, render_markdown, repo_root
    from tenantml.preview.render import render_json

    root = repo_root(Path.cwd())
    changes = detect_changes(root, base, head, tenants.resolve())
    if format is OutputFormat.JSON:
        _emit(render_json(changes_json(changes, batch_size)), output)
    elif format is OutputFormat.MARKDOWN:
        _emit(render_markdown(changes, batch_size), output)
    else:
        lines = [f"{c.tenant}\t{c.reason}" for c in changes.changed]
        lines += [f"{name}\tremoved: not deployed, needs a reviewed destroy" for name in changes.removed]
        batch_count = len(changes_json(changes, batch_size)["batches"])
        lines.append(
            f"{len(changes.changed)} to deploy in {batch_count} batch(es) of at most {batch_size}; "
            f"{len(changes.removed)} removed"
        )
        _emit("\n".join(lines) + "\n", output)


def register(app: typer.Typer) -> None:
    """Add ``changed`` to ``app``."""
    app.command(name="changed")(reports_errors(changed))
