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
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.errors import UsageError
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
    from pipelines.runs.pipeline import AwsClients, StepEvent
    from pipelines.runs.records import RunRecord
    from pipelines.runs.resources import TenantResources
    from tenantml.workload_roles import WorkloadRole


class ExecutorChoice(StrEnum):
    LOCAL = "local"
    SAGEMAKER = "sagemaker"


#: prefix under ``incoming/`` for data uploaded by hand
MANUAL_PREFIX = "incoming/manual/"


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
    from pipelines.runs.pipeline import AwsClients
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
    from pipelines.runs.pipeline import AwsClients

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
    executor: Annotated[
        ExecutorChoice,
        typer.Option("--executor", help="Where training runs: in-process, or as a SageMaker training job."),
    ] = ExecutorChoice.LOCAL,
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
    trials: Annotated[
        int | None, typer.Option("--trials", min=1, max=1000, help="Override the spec's search_trials.")
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", min=1, help="Refuse datasets bigger than this many bytes.")
    ] = None,
    training_image: Annotated[
        str | None, typer.Option("--training-image", help="Training image URI for --executor sagemaker.")
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Run settings as JSON or YAML (cv_folds, holdout_fraction, importance_repeats, validation "
            "thresholds, ...); --trials and --max-bytes override it.",
        ),
    ] = None,
) -> None:
    """Run the pipeline once by hand: ingest, validate, train, evaluate, gate, register."""
    from pipelines.runs.config import parse_pipeline_config
    from pipelines.runs.pipeline import run_pipeline
    from pipelines.training.executors import make_executor

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    image = training_image or target.resources.training_image_uri
    if executor is ExecutorChoice.SAGEMAKER and not image:
        if not target.emulated:
            raise UsageError(
                "--executor sagemaker needs --training-image (an ECR image containing this project)"
            )
        image = "tenantml/training:emulated"
    try:
        runner = make_executor(
            executor.value,
            clients=target.clients,
            resources=target.resources,
            image_uri=image,
            emulated=target.emulated,
        )
    except ValueError as err:
        raise UsageError(str(err)) from err
    config_values: dict[str, Any] = _read_config_file(config_file) if config_file is not None else {}
    if trials is not None:
        config_values["n_trials"] = trials
    if max_bytes is not None:
        config_values["max_bytes"] = max_bytes
    config = parse_pipeline_config(config_values, source=str(config_file or "options"))

    source, claim = _stage_data(target, data)
    if claim is not None and not claim.acquired:
        console.print(
            f"run [bold]{claim.claim.run_id}[/] ({claim.claim.status}) already owns this upload: the "
            f"data-arrival trigger started it. Its record: s3://{target.resources.artifacts_bucket}/"
            f"{claim.claim.run_record_key}"
        )
        return
    run_id = claim.claim.run_id if claim is not None else None
    console.print(
        f"Training [bold]{target.spec.model.name}[/] of tenant [bold]{target.spec.name}[/] on "
        f"{source if isinstance(source, str) else source.uri} with the {executor.value} executor"
        + (f" (emulator at {target.endpoint})" if target.emulated else "")
    )
    with _StepProgress(console) as progress:
        try:
            record = run_pipeline(
                source,
                target.spec.model,
                target.resources,
                target.clients,
                executor=runner,
                config=config,
                run_id=run_id,
                progress=progress,
                trigger="manual",
            )
        except Exception:
            _release(target, claim)
            raise
    if claim is not None:
        from pipelines.runs.idempotency import update_claim

        update_claim(target.clients.s3, target.resources.artifacts_bucket, claim, record.status.value)  # type: ignore[arg-type]
    console.print(_summary(record))
    if not record.succeeded:
        record.raise_for_status()


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except FileNotFoundError as err:
        raise UsageError(f"--config {path}: no such file") from err
    except yaml.YAMLError as err:
        raise UsageError(f"--config {path}: not valid JSON or YAML: {err}") from err
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: must be a mapping of setting -> value, got {type(data).__name__}")
    return data


def _stage_data(target: Target, data: str | None) -> tuple[Any, Any]:
    """The run's input and, for data uploaded here, its claim (so the S3 trigger does not run it too)."""
    from pipelines.runs.arrivals import DataArrival
    from pipelines.runs.idempotency import claim_arrival
    from pipelines.runs.records import new_run_id
    from tenantml.sample_data import upload_sample_dataset

    s3 = target.clients.s3
    bucket = target.resources.data_bucket
    if data is not None and data.startswith("s3://"):
        return data, None
    if data is None:
        uri = upload_sample_dataset(s3, bucket)
        key = uri.removeprefix(f"s3://{bucket}/")
    else:
        path = Path(data)
        if not path.is_file():
            raise UsageError(f"--data {data}: no such file (give a local Parquet/CSV file or an s3:// URI)")
        key = f"{MANUAL_PREFIX}{path.name}"
        s3.upload_file(str(path), bucket, key)
    head = s3.head_object(Bucket=bucket, Key=key)
    version = head.get("VersionId")
    arrival = DataArrival(
        bucket=bucket,
        key=key,
        version_id=None if version in (None, "null") else version,
        size=int(head["ContentLength"]),
        etag=head["ETag"].strip('"'),
    )
    if arrival.version_id is None:
        # an unversioned bucket: identical uploads share an ETag, and a hand run must still run
        return arrival, None
    return arrival, claim_arrival(s3, target.resources.artifacts_bucket, arrival, new_run_id())


def _release(target: Target, claim: Any) -> None:
    if claim is not None:
        from pipelines.runs.idempotency import release_claim

        release_claim(target.clients.s3, target.resources.artifacts_bucket, claim)


class _StepProgress:
    """One rich progress bar per pipeline step, driven by the run's progress callback."""

    def __init__(self, out: Console) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from pipelines.runs.records import STEPS

        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description:<9}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=out,
        )
        self._tasks = {
            step: self._progress.add_task(step.value, total=1, start=False, status="[dim]pending")
            for step in STEPS
        }

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: StepEvent) -> None:
        from pipelines.runs.records import StepStatus

        task = self._tasks[event.step]
        if event.status is StepStatus.RUNNING:
            self._progress.start_task(task)
            self._progress.update(task, status="running")
        elif event.status is StepStatus.SUCCEEDED:
            self._progress.update(task, completed=1, status=f"[green]done[/] {event.seconds or 0:.1f}s")
            self._progress.stop_task(task)
        elif event.status is StepStatus.FAILED:
            self._progress.update(task, status="[bold red]failed")
            self._progress.stop_task(task)
        elif event.status is StepStatus.SKIPPED:
            self._progress.update(task, status="[dim]skipped")


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
        table.add_row("failed step", record.failed_step.value if record.failed_step else "-")
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
    """Re-run a version from its lineage and compare artifact digests; exits 1 when they differ."""
    from pipelines.runs.reproduce import reproduce_version
    from tenantml.workload_roles import PIPELINES, acting_as

    # re-running a version is a pipeline run's job: it reads the registry, the data and the
    # artifact as the pipelines role
    target = resolve_target(
        tenant, tenants, outputs, endpoint_url, role=PIPELINES, command="models reproduce"
    )
    with (
        acting_as("models reproduce", PIPELINES, target.role_arn),
        console.status(f"Re-running version {version} from its lineage..."),
    ):
        result = reproduce_version(_registry(target), version, spec=target.spec.model, s3=target.clients.s3)
    console.print(f"registered sha256 {result.registered_sha256}", highlight=False)
    console.print(f"reproduced sha256 {result.reproduced_sha256}", highlight=False)
    if result.recorded_code_revision != result.current_code_revision:
        console.print(
            f"note: trained at code revision {result.recorded_code_revision}, re-run at "
            f"{result.current_code_revision}",
            highlight=False,
        )
    if result.matches:
        console.print(f"[green]reproduced[/]: version {version} of {result.group} is byte-identical")
        return
    differing = ", ".join(result.differing_files or []) or "the registered archive could not be read"
    console.print(f"[red]differs[/]: version {version} of {result.group} ({differing})", highlight=False)
    raise typer.Exit(1)


__all__ = ["MANUAL_PREFIX", "Target", "make_clients", "register", "resolve_target"]
