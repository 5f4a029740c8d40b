"""What ``tenantml up`` prints, in the order things happen.

On a terminal a live progress bar shows the current step; anywhere else (CI, a log file, a pipe)
a live display prints nothing until it stops, so each step and each applied resource gets one
plain line as it happens. Either way each tenant's outputs are printed as soon as it is applied,
before the lifecycle runs, and the ready message gives every tenant's region with its commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from core.platform import PlatformSpec
from core.spec import TenantSpec
from tenantml.emulator.commands import TenantApply
from tenantml.up import STATE_DIR, UP_FILE, LifecycleStep, TenantStep, UpSummary, example_commands, up


class UpConsole:
    """The callbacks :func:`tenantml.up.up` reports to, printing on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        #: a live progress bar only where it can be redrawn
        self.live = console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None

    @property
    def _out(self) -> Console:
        # printing through the progress keeps the bar below what is printed
        return self._progress.console if self._progress is not None else self.console

    @contextmanager
    def running(self) -> Iterator[UpConsole]:
        """Show the progress bar (on a terminal) while ``up`` starts."""
        if not self.live:
            yield self
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as progress:
            self._progress = progress
            self._task = progress.add_task("starting the AWS emulator", total=None)
            try:
                yield self
            finally:
                self._progress = None

    def _line(self, text: str) -> None:
        self._out.print(text, highlight=False, soft_wrap=True)

    def stage(self, message: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=message)
        elif not self.live:
            self._line(f"{message}...")

    def report(self, message: str) -> None:
        self._out.print(f"[yellow]{message}[/]", highlight=False, soft_wrap=True)

    def apply_progress(self, tenant: str, event: Any) -> None:
        if self._progress is not None:
            if event.phase == "start":
                self._progress.update(self._task, description=f"{tenant}: {event.action} {event.address}")
            elif event.phase == "done":
                self._progress.advance(self._task)
        elif event.phase == "done":
            self._line(f"  {tenant}: {event.action} {event.address} ({event.seconds:.2f} s)")
        elif event.phase == "failed":
            self._line(f"  {tenant}: {event.action} {event.address} [red]failed[/]: {event.message}")

    def tenant_applied(self, summary: UpSummary, applied: TenantApply) -> None:
        """A tenant's outputs, as soon as its stacks are applied (before its lifecycle starts)."""
        del summary  # the tenant's own apply says everything printed here
        table = Table(
            title=f"{applied.tenant}: {len(applied.result.applied)} change(s) in {applied.result.seconds:.2f} s",
            show_header=True,
        )
        table.add_column("output")
        table.add_column("value", overflow="fold")
        for name, value in sorted(applied.outputs.items()):
            table.add_row(name, value if isinstance(value, str) else json.dumps(value))
        self._out.print(table)

    def _lifecycle(self, summary: UpSummary) -> None:
        """One short block per tenant: what its pipeline run on the sample dataset produced."""
        if not summary.lifecycle:
            return
        self._line(
            "[bold]ML lifecycle[/] (the sample dataset dropped into each data bucket under incoming/; "
            "a model on feature views trains on a point-in-time training set of its feature store):"
        )
        for tenant, run in sorted(summary.lifecycle.items()):
            status = run.get("status") or "-"
            colour = "green" if status == "succeeded" else "red"
            line = f"  {tenant}: run {run.get('run_id') or '-'} [{colour}]{status}[/]"
            if run.get("model_version"):
                line += (
                    f", model version {run['model_version']} ({run.get('approval_status')}, "
                    f"{run.get('alias') or 'no alias'})"
                )
            self._line(line)
            training_set = (run.get("features") or {}).get("training_set")
            if training_set:
                self._line(
                    f"    training set: {training_set['rows']:,} rows joined point in time from "
                    f"{', '.join(training_set['views'])}: {training_set['uri']}"
                )
            if run.get("metrics"):
                self._line(
                    f"    holdout: {', '.join(f'{k} {v:.4f}' for k, v in sorted(run['metrics'].items()))}"
                )
            if run.get("error"):
                self._line(f"    [red]{run.get('failed_step') or 'error'}: {run['error']}[/]")
            for name, uri in sorted((run.get("reports") or {}).items()):
                self._line(f"    {name}: {uri}")

    def ready(self, summary: UpSummary, *, once: bool, up_file: Path = UP_FILE) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._lifecycle(summary)
        for name, endpoint in sorted(summary.endpoints.items()):
            self._line(
                f"  {name}: model version {endpoint['model_version']} serving at "
                f"[bold]{endpoint['invocations']}[/] ({len(endpoint['feature_names'])} features"
                + (
                    f"; send entity keys only: {', '.join(endpoint['entity_keys'])}"
                    if endpoint.get("entity_keys")
                    else ""
                )
                + ")"
            )
        self._line(
            f"[bold green]tenantml is up[/] in {summary.timings['ready']:.1f} s: "
            f"AWS emulator at {summary.endpoint}"
        )
        self._line("Point other tools at it:")
        for key, value in summary.env.items():
            self._line(f"  export {key}={value}")
        self._line("Each tenant's resources are in its own region; use it with each tenant's commands:")
        for applied in summary.applied:
            region = summary.tenant_region(applied.tenant)
            self._line(f"  {applied.tenant} ({region}):")
            variables = summary.tenant_env(applied.tenant)
            self._line("    export " + " ".join(f"{k}={v}" for k, v in variables.items()))
            for command in example_commands(region, applied.outputs):
                self._line(f"    {command}")
        self._line(f"Summary for scripts: {up_file}" + ("" if once else "  (Ctrl-C to stop)"))


def run_up(
    specs: Sequence[TenantSpec],
    console: Console,
    *,
    out_dir: Path,
    port: int | None,
    once: bool,
    steps: Sequence[LifecycleStep] = (),
    tenant_steps: Sequence[TenantStep] = (),
    up_file: Path = UP_FILE,
    state_dir: Path = STATE_DIR,
    platform: PlatformSpec | None = None,
) -> UpSummary:
    """``tenantml up``, printing on ``console`` as it goes; returns the summary after shutdown."""
    view = UpConsole(console)
    with view.running():
        return up(
            specs,
            out_dir=out_dir,
            port=port,
            once=once,
            report=view.report,
            on_stage=view.stage,
            on_apply_progress=view.apply_progress,
            on_tenant_applied=view.tenant_applied,
            on_ready=lambda summary: view.ready(summary, once=once, up_file=up_file),
            steps=steps,
            tenant_steps=tenant_steps,
            up_file=up_file,
            state_dir=state_dir,
            platform=platform,
        )


__all__ = ["UpConsole", "run_up"]
