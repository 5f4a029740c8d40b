"""``tenantml monitor`` and ``tenantml report``: a served model's health, live or as an HTML report.

Both find the tenant's resources like ``tenantml train`` does (``--outputs FILE``, else the
running ``tenantml up``'s ``.tenantml/up.json``). ``monitor`` reads the newest monitoring snapshot
of each model version, the tenant's alarm states (DescribeAlarms) and the retrain history;
``report`` renders the drift report from every snapshot and stores it in the bucket and locally.
"""

from __future__ import annotations

import time
import webbrowser
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from tenantml.cli.options import EndpointUrl, OutputsFile, Tenant, TenantsDir, console, reports_errors
from tenantml.cli.pipeline import resolve_target
from tenantml.workload_roles import MONITOR, acting_as

if TYPE_CHECKING:
    from pipelines.monitoring.report import Snapshot
    from tenantml.cli.pipeline import Target

_STATE_STYLE = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("monitor")(reports_errors(monitor))
    app.command("report")(reports_errors(report))


# --- tenantml report ---------------------------------------------------------------------------


def report(
    tenant: Tenant,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the HTML (default: reports/drift-<tenant>.html)."),
    ] = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open the report in a browser afterwards.")] = False,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Render the drift report (histograms, PSI ranking, drift and health over time) to the bucket and a file."""
    from pipelines.monitoring.report import publish_drift_report

    # the monitor's job on AWS (the monitor Lambda's role): read its snapshots, write the report
    target = resolve_target(tenant, tenants, outputs, endpoint_url, role=MONITOR, command="report")
    path = out or Path("reports") / f"drift-{target.spec.name}.html"
    with acting_as("report", MONITOR, target.role_arn), console.status("Rendering the drift report..."):
        result = publish_drift_report(
            target.clients.s3,
            target.resources,
            target.spec.model,
            tenant=target.spec.name,
            sagemaker=target.clients.sagemaker,
            out=path,
        )
    console.print(
        f"drift report of [bold]{target.spec.name}/{target.spec.model.name}[/] "
        f"({result.snapshots} window(s))",
        highlight=False,
    )
    console.print(f"  local:  {result.local_path}", highlight=False, soft_wrap=True)
    console.print(f"  bucket: {result.s3_uri}", highlight=False, soft_wrap=True)
    console.print(f"  latest: {result.latest_uri}", highlight=False, soft_wrap=True)
    if open_it and result.local_path is not None:
        webbrowser.open(result.local_path.resolve().as_uri())


# --- tenantml monitor --------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionHealth:
    version: str
    snapshot: Snapshot


@dataclass(frozen=True)
class Health:
    """Everything one screen of ``tenantml monitor`` shows."""

    tenant: str
    model: str
    champion: str | None
    versions: list[VersionHealth]
    alarms: list[dict[str, Any]]
    retrains: list[Any]
    read_at: datetime


def monitor(
    tenant: Tenant,
    once: Annotated[bool, typer.Option("--once", help="Print one table and exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=1.0, help="Seconds between refreshes.")] = 5.0,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Watch each model version's health: requests, errors, latency, drift, alarms and retrains."""
    # the monitor's job on AWS (the monitor Lambda's role): read snapshots, the registry and the alarms
    target = resolve_target(tenant, tenants, outputs, endpoint_url, role=MONITOR, command="monitor")
    cloudwatch = _cloudwatch(target)
    if once:
        with acting_as("monitor", MONITOR, target.role_arn):
            console.print(render_health(read_health(target, cloudwatch)))
        return
    from rich.live import Live

    with (
        acting_as("monitor", MONITOR, target.role_arn),
        Live(render_health(read_health(target, cloudwatch)), console=console, refresh_per_second=1) as live,
    ):
        try:
            while True:
                time.sleep(interval)
                live.update(render_health(read_health(target, cloudwatch)))
        except KeyboardInterrupt:
            pass


def read_health(target: Target, cloudwatch: Any) -> Health:
    from core.errors import ModelRegistryError
    from pipelines.monitoring.report import list_snapshots
    from pipelines.registry.factory import open_registry
    from pipelines.registry.interface import CHAMPION
    from pipelines.runs.retraining import read_history

    s3, bucket, model = target.clients.s3, target.resources.artifacts_bucket, target.spec.model.name
    newest: dict[str, Snapshot] = {}
    for snapshot in list_snapshots(s3, bucket, model):
        newest[snapshot.model_version] = snapshot  # oldest first: the last one per version wins
    try:
        champion = str(
            open_registry(target.clients.sagemaker, target.resources.model_package_group)
            .get_version_by_alias(CHAMPION)
            .version
        )
    except ModelRegistryError:
        champion = None
    prefix = f"tenantml-{target.spec.name}-{target.spec.environment.value}-"
    alarms: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]
    ):
        alarms += page.get("MetricAlarms", [])
    return Health(
        tenant=target.spec.name,
        model=model,
        champion=champion,
        versions=[
            VersionHealth(v, s) for v, s in sorted(newest.items(), key=lambda item: (len(item[0]), item[0]))
        ],
        alarms=sorted(alarms, key=lambda a: a["AlarmName"]),
        retrains=read_history(s3, bucket, model, limit=5),
        read_at=datetime.now(UTC),
    )


def render_health(health: Health) -> Group:
    versions = Table(
        title=f"{health.tenant}/{health.model}: model versions (newest window each)",
        caption=f"read {health.read_at:%Y-%m-%d %H:%M:%S} UTC",
    )
    for column, justify in (
        ("version", "left"),
        ("requests", "right"),
        ("error rate", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("max drift", "right"),
        ("worst feature", "left"),
        ("window end", "left"),
    ):
        versions.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in health.versions:
        s = item.snapshot
        worst = s.worst_feature
        drift_style = "bold red" if s.drift_score > s.drift_threshold else ""
        label = item.version + (" (champion)" if item.version == health.champion else "")
        versions.add_row(
            label,
            str(s.request_count),
            f"{s.error_rate:.2%}",
            _ms(s.latency_p50_ms),
            _ms(s.latency_p99_ms),
            Text(f"{s.drift_score:.3f}", style=drift_style),
            f"{worst[0]} ({worst[1]:.3f})" if worst else "-",
            f"{s.ended_at:%H:%M:%S}" if s.ended_at else "-",
        )
    if not health.versions:
        versions.add_row(
            "-", "no monitoring snapshot yet: send traffic to a served version", "", "", "", "", "", ""
        )

    alarms = Table(title="alarms")
    alarms.add_column("alarm")
    alarms.add_column("state")
    alarms.add_column("since")
    for alarm in health.alarms:
        state = alarm.get("StateValue", "?")
        updated = alarm.get("StateUpdatedTimestamp")
        alarms.add_row(
            alarm["AlarmName"],
            Text(state, style=_STATE_STYLE.get(state, "")),
            f"{updated:%Y-%m-%d %H:%M:%S}" if isinstance(updated, datetime) else str(updated or "-"),
        )
    if not health.alarms:
        alarms.add_row("-", "no alarms found (is the stack applied?)", "")

    retrains = Table(title="last retrains")
    retrains.add_column("when")
    retrains.add_column("decision")
    retrains.add_column("cause")
    for decision in health.retrains:
        outcome = decision.status
        if decision.status == "started":
            outcome += f": run {decision.run_id}"
            if decision.run_status:
                outcome += f" {decision.run_status}"
            if decision.model_version is not None:
                outcome += f", v{decision.model_version} ({decision.alias})"
        retrains.add_row(f"{decision.decided_at:%Y-%m-%d %H:%M:%S}", outcome, decision.cause.summary())
    if not health.retrains:
        retrains.add_row("-", "none yet", "")
    return Group(versions, alarms, retrains)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cloudwatch(target: Target) -> Any:
    session = target.session
    kwargs: dict[str, Any] = {"region_name": target.region}
    if target.endpoint:
        kwargs["endpoint_url"] = target.endpoint
    return session.client("cloudwatch", **kwargs)


__all__ = ["read_health", "register", "render_health"]
