"""``tenantml train`` and ``tenantml models``: run the pipeline by hand and manage model versions.

Wired into the main CLI with :func:`register`. Where the tenant's AWS resources are:

1. ``--outputs FILE``: the stack's outputs (``terraform output -json``, or ``{name: value}``);
   AWS is whatever boto3 finds (``--endpoint-url`` or ``AWS_ENDPOINT_URL`` to point elsewhere);
2. otherwise ``.tenantml/up.json``, written by ``tenantml up``: the emulator's endpoint and each
   tenant's outputs;
3. otherwise an error saying to run ``tenantml up`` or pass ``--outputs``.

An endpoint on the loopback interface is the local emulator: clients get fake credentials (real
ones never reach it) and the SageMaker executor runs the training container itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from tenantml.cli.options import (
    EndpointUrl,
    OutputsFile,
    Tenant,
    TenantsDir,
    Version,
    console,
    reports_errors,
)
from tenantml.tenant_outputs import load_outputs
from tenantml.up_file import UP_FILE, boto3_session, is_emulator

if TYPE_CHECKING:
    from core.spec import TenantSpec
    from pipelines.runs.clients import AwsClients
    from pipelines.runs.records import RunRecord
    from pipelines.runs.resources import TenantResources
    from tenantml.workload_roles import WorkloadRole


def register(app: typer.Typer) -> None:
    """Add ``train`` and the ``models`` sub-commands to ``app``."""
    app.command("train")(reports_errors(train))
    models = typer.Typer(
        name="models",
        help="List, inspect, approve, promote and reproduce model versions.",
        no_args_is_help=True,
    )
    models.command("list")(reports_errors(models_list))
    models.command("show")(reports_errors(models_show))
    models.command("approve")(reports_errors(models_approve))
    models.command("promote")(reports_errors(models_promote))
    models.command("reproduce")(reports_errors(models_reproduce))
    app.add_typer(models, name="models")


# --- where the tenant's resources are ----------------------------------------------------


@dataclass
class Target:
    """One tenant's spec, resources and clients, resolved from the options."""

    spec: TenantSpec
    resources: TenantResources
    clients: AwsClients
    endpoint: str | None
    region: str
    source: str
    #: the tenant's account (from its outputs' ARNs): the emulator's administrator of it signs
    account_id: str | None = None
    #: the boto3 session the clients sign with: the workload role's when the command does a job
    #: (:mod:`tenantml.workload_roles`), else the tenant account's administrator's
    session: Any = None
    #: the workload role's ARN the session acts as (None: the administrator, or AWS's ambient chain)
    role_arn: str | None = None

    @property
    def emulated(self) -> bool:
        return is_emulator(self.endpoint)


def resolve_target(
    tenant: str,
    tenants_dir: Path,
    outputs: Path | None,
    endpoint_url: str | None,
    *,
    up_file: Path = UP_FILE,
    role: WorkloadRole | None = None,
    command: str = "",
) -> Target:
    """Load the tenant's spec and find its resources (:func:`tenantml.tenant_outputs.load_outputs`).

    ``role``: the workload role whose job ``command`` does; its clients sign as that role."""
    from core.spec import load_specs
    from pipelines.runs.clients import AwsClients
    from pipelines.runs.resources import TenantResources
    from tenantml.workload_roles import workload_role_arn, workload_session

    spec = load_specs(tenants_dir, only=tenant)[0]
    found = load_outputs(spec.name, outputs, endpoint_url=endpoint_url, region=spec.region, up_file=up_file)
    region = found.region or spec.region
    resources = TenantResources.from_outputs(
        found.outputs, tenant=spec.name, region=region, source=found.source
    )
    role_arn = None
    if role is None:
        session = boto3_session(found.endpoint_url, found.account_id)
    else:
        role_arn = workload_role_arn(found, role)
        session = workload_session(found, role, command=command)
    clients = AwsClients.create(region=region, endpoint_url=found.endpoint_url, session=session)
    return Target(
        spec=spec,
        resources=resources,
        clients=clients,
        endpoint=found.endpoint_url,
        region=region,
        source=str(outputs or up_file),
        account_id=found.account_id,
        session=session,
        role_arn=role_arn,
    )


def make_clients(region: str, endpoint: str | None, account_id: str | None = None) -> AwsClients:
    from pipelines.runs.clients import AwsClients

    return AwsClients.create(
        region=region, endpoint_url=endpoint, session=boto3_session(endpoint, account_id)
    )


# --- tenantml train ------------------------------------------------------------------------


def train(
    tenant: Tenant,
    tenants: TenantsDir = Path("tenants"),
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="A local Parquet/CSV file (uploaded to the data bucket under incoming/manual/) or an "
            "s3:// URI. Default: the bundled sample dataset.",
        ),
    ] = None,
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Run the pipeline once by hand: an execution of the tenant's state machine, followed to its end."""
    from tenantml.executions import follow_execution
    from tenantml.manual_run import StateProgress, finished_record, stage_data, start_manual_run

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    sfn = target.session.client("stepfunctions", region_name=target.region, endpoint_url=target.endpoint)
    staged = stage_data(target.clients.s3, target.resources.data_bucket, data)
    run_id, arn = start_manual_run(
        sfn,
        target.resources.pipeline_state_machine_arn,
        tenant=target.spec.name,
        model=target.spec.model.name,
        data=staged,
    )
    console.print(
        f"Training [bold]{target.spec.model.name}[/] of tenant [bold]{target.spec.name}[/] on "
        f"{staged.uri} (version {staged.version_id or '-'}): run [bold]{run_id}[/]"
        + (f" (emulator at {target.endpoint})" if target.emulated else "")
    )
    with StateProgress(console) as progress:
        execution = follow_execution(
            sfn, arn, timeout=target.spec.model.search_timeout_seconds + RUN_MARGIN_S, on_state=progress
        )
        progress.ended(execution)
    record = finished_record(target.clients.s3, target.resources.artifacts_bucket, run_id, execution)
    console.print(_summary(record))
    if not record.succeeded:
        _raise_run_failed(record, target)


def _raise_run_failed(record: RunRecord, target: Target) -> NoReturn:
    from core.errors import PipelineRunError

    where = record.failed_step.value if record.failed_step else record.failed_state or "-"
    raise PipelineRunError(
        f"run {record.run_id} of model {target.spec.model.name!r} (tenant {target.spec.name}) failed in "
        f"step {where}: {record.error}\nrun record: {record.record_uri}",
        run_id=record.run_id,
        step=where,
        reason=record.error or "",
    )


#: slack on top of the search budget for the other steps and the jobs' start-up (as ``up`` allows)
RUN_MARGIN_S = 600


def _summary(record: RunRecord) -> Table:
    ok = record.succeeded
    table = Table(
        title=f"Run {record.run_id}: {'[green]succeeded' if ok else '[red]failed'}", show_header=False
    )
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("run id", record.run_id)
    table.add_row("data", f"{record.data_uri} (version {record.data_version_id or '-'})")
    if record.data_sha256:
        table.add_row("data sha256", record.data_sha256)
    table.add_row(
        "executor",
        f"{record.executor}" + (f" ({record.training_job_name})" if record.training_job_name else ""),
    )
    if record.model_version is not None:
        table.add_row("version", f"{record.model_version} ({record.approval_status}, alias {record.alias})")
    if record.metrics:
        table.add_row("metrics", ", ".join(f"{k} {v:.4f}" for k, v in record.metrics.items()))
    if record.champion_version is not None:
        champion = record.champion_metrics or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in champion.items()) or "could not be evaluated"
        table.add_row("champion", f"version {record.champion_version}: {shown}")
    if record.gate is not None:
        table.add_row("gate", f"{record.gate.status}: " + "; ".join(record.gate.reasons))
    if not ok:
        table.add_row(
            "failed step",
            " / ".join(
                x
                for x in (record.failed_step.value if record.failed_step else None, record.failed_state)
                if x
            )
            or "-",
        )
        table.add_row("error", Text(record.error or "", style="red"))
        if record.alert_message_id:
            table.add_row("alert", f"published to the tenant's topic ({record.alert_message_id})")
    if record.report_uri:
        table.add_row("report", record.report_uri)
    table.add_row("run record", record.record_uri)
    return table


# --- tenantml models ------------------------------------------------------------------------


OptionalVersion = Annotated[
    int | None, typer.Option("--version", min=1, help="The registered model version (default: the champion).")
]


def _registry(target: Target) -> Any:
    from pipelines.registry.factory import open_registry

    return open_registry(target.clients.sagemaker, target.resources.model_package_group)


def models_list(
    tenant: Tenant,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """List the tenant model's versions, oldest first."""
    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    versions = _registry(target).list_model_versions()
    metric = target.spec.model.primary_metric
    table = Table(title=f"{target.resources.model_package_group}: {len(versions)} version(s)")
    for column in ("version", "status", "aliases", metric, "run id", "created"):
        table.add_column(column, justify="right" if column in ("version", metric) else "left")
    for v in versions:
        value = v.lineage.metrics.get(metric) if v.lineage else None
        table.add_row(
            str(v.version),
            v.approval_status.value,
            ", ".join(v.aliases) or "-",
            "-" if value is None else f"{value:.4f}",
            v.lineage.run_id if v.lineage else "-",
            f"{v.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


def models_show(
    tenant: Tenant,
    version: OptionalVersion = None,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Show one version (default: the champion) with its full lineage."""
    from pipelines.registry.interface import CHAMPION

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    registry = _registry(target)
    found = (
        registry.get_model_version(version)
        if version is not None
        else registry.get_version_by_alias(CHAMPION)
    )
    table = Table(title=f"{found.group} version {found.version}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("status", found.approval_status.value)
    table.add_row("aliases", ", ".join(found.aliases) or "-")
    table.add_row("created", f"{found.created_at:%Y-%m-%d %H:%M:%S %Z}")
    table.add_row("artifact", found.model_data_url or "-")
    table.add_row("image", found.image_uri or "-")
    if found.description:
        table.add_row("description", found.description)
    if found.approval_description:
        table.add_row("approval note", found.approval_description)
    if "tenantml:retrain-cause" in found.metadata:  # set by pipelines.runs.retraining
        table.add_row("retrained because", found.metadata["tenantml:retrain-cause"])
    console.print(table)
    if found.lineage is not None:
        console.print_json(found.lineage.model_dump_json())


def models_approve(
    tenant: Tenant,
    version: Version,
    reason: Annotated[str, typer.Option("--reason", help="Why it is approved (kept in the registry).")] = "",
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Approve a pending version (it may then be promoted to champion)."""
    from pipelines.registry.interface import ApprovalStatus

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    updated = _registry(target).update_approval_status(
        version, ApprovalStatus.APPROVED, reason=reason or "approved by hand with `tenantml models approve`"
    )
    console.print(
        f"version {updated.version} of {updated.group} is now [green]{updated.approval_status.value}[/]"
    )


def models_promote(
    tenant: Tenant,
    version: Version,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Make an approved version the champion (the version serving takes)."""
    from core.errors import ModelVersionNotFoundError
    from pipelines.registry.interface import CHAMPION

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    registry = _registry(target)
    try:
        previous: int | None = registry.get_version_by_alias(CHAMPION).version
    except ModelVersionNotFoundError:
        previous = None
    # the registry refuses a version that is not approved (ModelNotApprovedError, exit 2)
    promoted = registry.set_alias(CHAMPION, version)
    before = f"version {previous}" if previous is not None else "no champion"
    console.print(f"champion of {promoted.group}: {before} -> [bold green]version {version}[/]")


def models_reproduce(
    tenant: Tenant,
    version: Version,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Re-run a version through the pipeline state machine and compare artifact digests; exits 1
    when they differ."""
    from pipelines.runs.reproduce import ReproductionResult, data_object, reproduction_request
    from tenantml.executions import follow_execution, read_run_json
    from tenantml.manual_run import DataObject, StateProgress, finished_record, start_manual_run

    # like `train`, the operator starts the run; its jobs read the data and the archive as the job role
    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    found = _registry(target).get_model_version(version)
    request = reproduction_request(found)
    bucket, key, version_id = data_object(found)
    sfn = target.session.client("stepfunctions", region_name=target.region, endpoint_url=target.endpoint)
    run_id, arn = start_manual_run(
        sfn,
        target.resources.pipeline_state_machine_arn,
        tenant=target.spec.name,
        model=target.spec.model.name,
        data=DataObject(bucket=bucket, key=key, version_id=version_id),
        trigger="reproduce",
        reproduce=request,
    )
    console.print(
        f"Re-running version {version} of {found.group} on s3://{bucket}/{key} (version "
        f"{version_id or '-'}) through the state machine: run [bold]{run_id}[/]",
        highlight=False,
    )
    timeout = float(
        request["hyperparameters"].get("timeout_seconds", target.spec.model.search_timeout_seconds)
    )
    with StateProgress(console) as progress:
        execution = follow_execution(sfn, arn, timeout=timeout + RUN_MARGIN_S, on_state=progress)
        progress.ended(execution)
    s3, artifacts = target.clients.s3, target.resources.artifacts_bucket
    document = read_run_json(s3, artifacts, run_id, "reproduce/reproduction.json")
    if execution["status"] != "SUCCEEDED" or document is None:
        _raise_run_failed(finished_record(s3, artifacts, run_id, execution), target)
    result = ReproductionResult.model_validate(document)
    console.print(f"registered sha256 {result.registered_sha256}", highlight=False)
    console.print(f"reproduced sha256 {result.reproduced_sha256}", highlight=False)
    if result.recorded_code_revision != result.current_code_revision:
        console.print(
            f"note: trained at code revision {result.recorded_code_revision}, re-run at "
            f"{result.current_code_revision}",
            highlight=False,
        )
    if result.matches:
        console.print(f"[green]reproduced[/]: version {version} of {found.group} is byte-identical")
        return
    console.print(f"[red]differs[/]: version {version} of {found.group}: {result.reason}", highlight=False)
    raise typer.Exit(1)


__all__ = ["Target", "make_clients", "register", "resolve_target"]
