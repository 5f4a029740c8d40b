"""``tenantml check`` and ``tenantml preview``, added to the main CLI by :func:`register`.

    from tenantml.cli.preview import register
    register(app)  # in tenantml/cli/app.py, after ``app`` is created

Exit codes: 0 clean (or ``--warn-only``), 1 policy errors, 2 usage errors (bad spec, unknown
tenant, not a git repository, unknown ``--base`` ref, a synthesis that failed).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.errors import UsageError
from tenantml.cli.options import OutDir, TenantName, TenantsDir, console, err_console, reports_errors


class OutputFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Report format.", case_sensitive=False)]
OutputFile = Annotated[
    Path | None,
    typer.Option("--output", help="Write the report to this file instead of stdout.", dir_okay=False),
]
FullOutput = Annotated[
    Path | None,
    typer.Option(
        "--full-output",
        help="Also write the whole Markdown report, never shortened, to this file (the workflow's artifact).",
        dir_okay=False,
    ),
]
DetailsUrl = Annotated[
    str | None,
    typer.Option(
        "--details-url", help="Where the whole report can be read; linked when the comment is shortened."
    ),
]
WarnOnly = Annotated[bool, typer.Option("--warn-only", help="Report policy errors but exit 0.")]
BaseRef = Annotated[
    str, typer.Option("--base", help="Git ref to compare with (branch, tag, sha, origin/main, HEAD~1).")
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Price as of this date (YYYY-MM-DD; default today): decides which EKS versions are in extended support.",
    ),
]


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}", highlight=False)


def _plain(printer: Callable[[Console], None]) -> str:
    buffer = io.StringIO()
    printer(Console(file=buffer, width=120, color_system=None, force_terminal=False, highlight=False))
    return buffer.getvalue()


def check(
    tenants: TenantsDir = Path("tenants"),
    tenant: TenantName = None,
    out: OutDir = Path("cdktf.out"),
    format: FormatOption = OutputFormat.TEXT,
    output: OutputFile = None,
    warn_only: WarnOnly = False,
) -> None:
    """Synthesize, then run the policy rules over the synthesized Terraform JSON.

    Exit 1 when a rule with severity error fails and is not suppressed (0 with --warn-only).
    """
    from core.spec import load_specs
    from tenantml.preview.render import check_json, print_check, render_check_markdown, render_json
    from tenantml.preview.report import build_check_report, known_tenants
    from tenantml.synthesis import synth as synth_stacks

    every_spec = load_specs(tenants)
    specs = load_specs(tenants, only=tenant) if tenant is not None else every_spec
    with err_console.status(f"Synthesizing {len(specs)} tenant stack(s)..."):
        results = synth_stacks(specs, out)
    stacks = {r.stack: json.loads(r.path.read_text(encoding="utf-8")) for r in results}
    report = build_check_report(specs, stacks, known_tenants(every_spec))

    if format is OutputFormat.JSON:
        _emit(render_json(check_json(report)), output)
    elif format is OutputFormat.MARKDOWN:
        _emit(render_check_markdown(report), output)
    elif output is not None:
        _emit(_plain(lambda c: print_check(report, c)), output)
    else:
        print_check(report, console)
    if report.failed and not warn_only:
        raise typer.Exit(1)


def preview(
    base: BaseRef = "origin/main",
    tenants: TenantsDir = Path("tenants"),
    format: FormatOption = OutputFormat.TEXT,
    output: OutputFile = None,
    warn_only: WarnOnly = False,
    as_of: AsOf = None,
    full_output: FullOutput = None,
    details_url: DetailsUrl = None,
) -> None:
    """Preview what a change does to every tenant: resources, policy, estimated cost.

    Synthesizes BASE (in a temporary git worktree, with its own code) and the working tree,
    in parallel, and compares them: only the tenants whose stacks can differ (a spec edit: that
    tenant; a code edit: every tenant). Run it from the repository.
    """
    from core.spec import load_specs
    from tenantml.changes import detect_working_tree_changes
    from tenantml.preview.render import (
        preview_json,
        print_preview,
        render_full_markdown,
        render_json,
        render_markdown,
    )
    from tenantml.preview.report import build_preview_report
    from tenantml.preview.synth import repo_root, resolve_ref, synth_base_and_head

    try:
        on = date.fromisoformat(as_of) if as_of is not None else None
    except ValueError as err:
        raise UsageError(f"--as-of {as_of!r} is not a date such as 2026-12-07: {err}") from err
    root = repo_root(Path.cwd())
    tenants_dir = tenants.resolve()
    if not tenants_dir.is_relative_to(root):
        raise UsageError(f"--tenants {tenants} is outside the repository {root}; the base ref cannot have it")
    commit = resolve_ref(root, base)
    specs = load_specs(tenants_dir)  # a bad spec in the working tree: exit 2 before anything runs
    changes = detect_working_tree_changes(root, commit, tenants_dir)
    with err_console.status(
        f"Synthesizing {len(changes.changed) + len(changes.removed)} tenant(s) at {base} and in the working tree..."
    ):
        pair = synth_base_and_head(root, changes, tenants_dir)
    report = build_preview_report(
        base, pair.base, pair.head, specs, on, not_synthesized=len(specs) - len(changes.changed)
    )

    if format is OutputFormat.JSON:
        _emit(render_json(preview_json(report)), output)
    elif format is OutputFormat.MARKDOWN:
        _emit(render_markdown(report, details_url=details_url), output)
    elif output is not None:
        _emit(_plain(lambda c: print_preview(report, c)), output)
    else:
        print_preview(report, console)
    if full_output is not None:
        full_output.write_text(render_full_markdown(report), encoding="utf-8")
    if report.policy_failed and not warn_only:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``check`` and ``preview`` to ``app``."""
    app.command(name="check")(reports_errors(check))
    app.command(name="preview")(reports_errors(preview))
