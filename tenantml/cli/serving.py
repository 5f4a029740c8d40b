"""``tenantml serve``, ``predict`` and ``deploy``: the model server, batch inference and rollouts.

Wired into the main CLI with :func:`register`. Where a tenant's resources are (model package group,
stream, buckets) comes from its stack outputs: ``--outputs FILE`` (``terraform output -json`` or a
plain ``{name: value}`` object, or an ``up.json``), else ``.tenantml/up.json`` as the emulator
writes it: ``{"emulator": {"endpoint", "region"}, "tenants": {"<name>": {"outputs": {...}}}}``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from core.errors import ServingConfigError, TenantmlError, TenantResourcesError
from tenantml.cli.options import (
    OutputsFile,
    Tenant,
    TenantsDir,
    Version,
    console,
    err_console,
    reports_errors,
)
from tenantml.tenant_outputs import TenantOutputs, load_outputs
from tenantml.workload_roles import SERVING, acting_as, workload_role_arn, workload_session


def _outputs(tenant: str, outputs_file: Path | None, model_dir: Path | None) -> TenantOutputs:
    """The tenant's outputs; serving a local ``--model-dir`` needs none (only inference logging does)."""
    try:
        return load_outputs(tenant, outputs_file)
    except TenantResourcesError:
        if model_dir is None or outputs_file is not None:
            raise
        return TenantOutputs(
            tenant=tenant, region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        )


def _serving_format(tenant: str, tenants_dir: Path, override: str | None) -> str:
    if override:
        if override not in ("sklearn", "onnx"):
            raise ServingConfigError(f"--format must be sklearn or onnx, got {override!r}")
        return override
    if not tenants_dir.is_dir():
        return "sklearn"
    from core.spec import load_specs

    try:
        specs = load_specs(tenants_dir, only=tenant)
    except TenantmlError:
        return "sklearn"
    return specs[0].model.serving_format if specs else "sklearn"


def _feature_lookup(tenant: str, tenants_dir: Path, outputs: TenantOutputs, role_arn: str | None) -> Any:
    """The online lookup of a model trained on feature views (``model.feature_views``), else None."""
    from pipelines.serving.config import FeatureLookupConfig

    if not tenants_dir.is_dir():
        return None
    from core.spec import load_specs

    try:
        specs = load_specs(tenants_dir, only=tenant)
    except TenantmlError:  # as for the serving format: serving a model needs no valid spec
        return None
    if not specs or not specs[0].model.feature_views:
        return None
    spec = specs[0]
    table = outputs.outputs.get("features_table_name")
    if not table:
        err_console.print(
            f"note: the model uses feature view(s) {', '.join(spec.model.feature_views)} but the tenant "
            "outputs have no features_table_name; requests must carry every feature"
        )
        return None
    return FeatureLookupConfig(
        table_name=str(table),
        views=[spec.features.view(name) for name in spec.model.feature_views],
        region=outputs.region,
        endpoint_url=outputs.endpoint_url,
        role_arn=role_arn,
    )


def _use_emulator_credentials(outputs: TenantOutputs) -> None:
    """On the emulator, sign as the tenant account's administrator when no credentials are configured.

    The emulator enforces IAM and rejects keys it does not know; the server's worker processes
    assume the serving role with these to write the inference log (:func:`_workload_role`).
    """
    if outputs.emulated and not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        from tenantml.emulator.session import admin_credentials

        keys = admin_credentials(outputs.account_id)
        os.environ["AWS_ACCESS_KEY_ID"] = keys["AWS_ACCESS_KEY_ID"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = keys["AWS_SECRET_ACCESS_KEY"]
        os.environ.pop("AWS_SESSION_TOKEN", None)
    if outputs.region and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = outputs.region


def _workload_role(outputs: TenantOutputs) -> str | None:
    """The role a served model acts as on the emulator (on AWS the process already has its role)."""
    return workload_role_arn(outputs, SERVING)


def _model_source(
    outputs: TenantOutputs,
    model_dir: Path | None,
    version: int | None,
    alias: str | None,
    work: Path,
    session: Any = None,
) -> Any:
    """A local model directory, or the registry version downloaded and verified as the serving role
    (``session``: :func:`tenantml.workload_roles.workload_session`)."""
    from pipelines.serving.loader import DirectorySource, RegistrySource, fetch_registry_archive

    if model_dir is not None:
        if version is not None or alias is not None:
            raise ServingConfigError("--model-dir serves a directory; drop --version/--alias")
        if not model_dir.is_dir():
            raise ServingConfigError(f"--model-dir {model_dir}: no such directory")
        return DirectorySource(path=model_dir.resolve())
    if version is not None and alias is not None:
        raise ServingConfigError("give --version or --alias, not both")
    source = RegistrySource(
        group=outputs.require("model_package_group_name"),
        version=version,
        alias=None if version is not None else (alias or "champion"),
        region=outputs.region,
        endpoint_url=outputs.endpoint_url,
    )
    session = session or workload_session(outputs, SERVING, command="serve")
    where = {"region_name": outputs.region, "endpoint_url": outputs.endpoint_url}
    with console.status(f"Fetching and verifying {source.describe()}..."):
        return fetch_registry_archive(
            source, work, sagemaker=session.client("sagemaker", **where), s3=session.client("s3", **where)
        )


#: ``tenantml deploy`` exits with this when the challenger was rolled back (README, CLI reference)
ROLLED_BACK_EXIT_CODE = 1

OptionalVersion = Annotated[
    int | None, typer.Option("--version", min=1, help="The registered model version (default: the --alias).")
]
Alias = Annotated[str | None, typer.Option("--alias", help="Registry alias (default: champion).")]
ModelDir = Annotated[Path | None, typer.Option("--model-dir", help="Serve a local model directory instead.")]
Format = Annotated[str | None, typer.Option("--format", help="sklearn or onnx (default: the tenant spec's).")]


@reports_errors
def serve(
    tenant: Tenant,
    version: OptionalVersion = None,
    alias: Alias = None,
    port: Annotated[int, typer.Option("--port")] = 8080,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind; 0.0.0.0 serves every interface (the container does)."),
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 2,
    model_dir: ModelDir = None,
    outputs_file: OutputsFile = None,
    tenants: TenantsDir = Path("tenants"),
    serving_format: Format = None,
    log_inferences: Annotated[
        bool, typer.Option("--log/--no-log", help="Send inference logs to the tenant's Kinesis stream.")
    ] = True,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001)] = 6.0,
) -> None:
    """Serve a model version over HTTP (SageMaker contract: GET /ping, POST /invocations)."""
    from pipelines.serving import runner
    from pipelines.serving.config import InferenceLogConfig, ServerConfig
    from pipelines.serving.loader import load

    outputs = _outputs(tenant, outputs_file, model_dir)
    _use_emulator_credentials(outputs)
    fmt = _serving_format(tenant, tenants, serving_format)
    role_arn = _workload_role(outputs) if model_dir is None or log_inferences else None
    # the downloaded archive and the workers' copies go when serving ends, however it ends
    with (
        acting_as("serve", SERVING, role_arn),
        tempfile.TemporaryDirectory(prefix=f"tenantml-serve-{tenant}-") as scratch,
    ):
        work = Path(scratch)
        source = _model_source(outputs, model_dir, version, alias, work / "download")
        # fail here, before any worker starts, when the verified artifact does not load
        with console.status(f"Loading {source.describe()} as {fmt}..."):
            loaded = load(source, serving_format=fmt, work_dir=work / "check")  # type: ignore[arg-type]
        log_config = None
        if log_inferences:
            stream = outputs.outputs.get("stream_name")
            if stream:
                log_config = InferenceLogConfig(
                    stream_name=str(stream),
                    region=outputs.region,
                    endpoint_url=outputs.endpoint_url,
                    role_arn=role_arn,
                )
            else:
                err_console.print("note: no stream_name in the tenant outputs; inference logging is off")
        features = _feature_lookup(tenant, tenants, outputs, role_arn)
        config = ServerConfig(
            source=source,
            serving_format=fmt,  # type: ignore[arg-type]
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            inference_log=log_config,
            work_dir=str(work / "workers"),
            features=features,
        )
        console.print(
            f"[green]serving[/] {tenant} version {loaded.version} ({fmt}, {loaded.predictor.mode}) on "
            f"http://{host}:{port} with {workers} worker(s); inference log: "
            f"{log_config.stream_name if log_config else 'off'}; feature lookups: "
            f"{features.table_name if features else 'off'}"
        )
        code = runner.run(config, host=host, port=port, workers=workers)
        if code:
            raise typer.Exit(code)


@reports_errors
def predict(
    tenant: Tenant,
    input_path: Annotated[str, typer.Option("--input", help="Parquet or CSV file, local or s3://.")],
    output_path: Annotated[str, typer.Option("--output", help="Parquet or CSV file, local or s3://.")],
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1)] = 50_000,
    version: OptionalVersion = None,
    alias: Alias = None,
    model_dir: ModelDir = None,
    outputs_file: OutputsFile = None,
    tenants: TenantsDir = Path("tenants"),
    serving_format: Format = None,
) -> None:
    """Batch inference over a file, in chunks, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines.serving.batch import predict_file
    from pipelines.serving.loader import load

    needs_aws = model_dir is None or input_path.startswith("s3://") or output_path.startswith("s3://")
    outputs = _outputs(tenant, outputs_file, model_dir)
    fmt = _serving_format(tenant, tenants, serving_format)
    # batch inference is the serving role's job (a batch transform job on AWS): it reads the model
    # and the input and writes the predictions as that role
    role_arn = _workload_role(outputs) if needs_aws else None
    session = workload_session(outputs, SERVING, command="predict") if needs_aws else None
    with (
        acting_as("predict", SERVING, role_arn),
        tempfile.TemporaryDirectory(prefix=f"tenantml-predict-{tenant}-") as tmp,
    ):
        source = _model_source(outputs, model_dir, version, alias, Path(tmp) / "download", session)
        with console.status(f"Loading {source.describe()}..."):
            loaded = load(source, serving_format=fmt, work_dir=Path(tmp) / "model")  # type: ignore[arg-type]
        s3 = (
            session.client("s3", region_name=outputs.region, endpoint_url=outputs.endpoint_url)
            if session is not None
            else None
        )
        columns = [
            TextColumn("[bold]predicting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("rows", total=None)

            def advance(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            summary = predict_file(
                loaded, input_path, output_path, chunk_rows=chunk_rows, s3=s3, progress=advance
            )
    console.print(
        f"[green]wrote[/] {summary.rows} predictions ({summary.chunks} chunk(s), version {loaded.version}, "
        f"{fmt}) to {summary.output} in {summary.seconds:.2f} s"
    )


def _start_version(outputs: TenantOutputs, version: int, fmt: str, work: Path, session: Any) -> Any:
    """One model server for ``version`` in this process, on a free loopback port, logging to the stream;
    it reads its model (``session``) and writes its log as the serving role, as an endpoint would."""
    from pipelines.serving.app import create_app
    from pipelines.serving.config import InferenceLogConfig, ServerConfig
    from pipelines.serving.runner import ThreadedServer

    source = _model_source(outputs, None, version, None, work / f"v{version}", session)
    stream = outputs.outputs.get("stream_name")
    log_config = (
        InferenceLogConfig(
            stream_name=str(stream),
            region=outputs.region,
            endpoint_url=outputs.endpoint_url,
            role_arn=_workload_role(outputs),
        )
        if stream
        else None
    )
    config = ServerConfig(source=source, serving_format=fmt, inference_log=log_config)  # type: ignore[arg-type]
    server = ThreadedServer(create_app(config)).start()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/ping").status_code != 200:
        if time.monotonic() > deadline:
            server.stop()
            raise ServingConfigError(f"version {version} did not become ready within 60 s")
        time.sleep(0.1)
    return server


def _replay(url: str, rows: list[str], stop: threading.Event) -> None:
    """Send the replay rows through the router, one per request, round and round, until ``stop``."""
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            for row in rows:
                if stop.is_set():
                    return
                client.post(f"{url}/invocations", content=row, headers={"Content-Type": "text/csv"})


@reports_errors
def deploy(
    tenant: Tenant,
    version: Version,
    strategy: Annotated[
        str, typer.Option("--strategy", help="canary, blue-green, all-at-once or shadow.")
    ] = "canary",
    canary_weight: Annotated[float, typer.Option("--canary-weight", min=0.0, max=1.0)] = 0.1,
    bake_seconds: Annotated[float, typer.Option("--bake-seconds", min=0.0)] = 600.0,
    max_error_rate: Annotated[float, typer.Option("--max-error-rate", min=0.0, max=1.0)] = 0.01,
    max_p99_ms: Annotated[float, typer.Option("--max-p99-ms", min=0.0)] = 500.0,
    min_requests: Annotated[int, typer.Option("--min-requests", min=1)] = 100,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="CSV rows (no header) to send through the router during the bake."),
    ] = None,
    outputs_file: OutputsFile = None,
    tenants: TenantsDir = Path("tenants"),
) -> None:
    """Roll a version out behind a local router: watch error rate and p99 during the bake, then promote or roll back."""
    from core.spec import load_specs
    from pipelines.registry.factory import open_registry
    from pipelines.registry.interface import CHAMPION, check_alias_holder
    from pipelines.serving.rollout import Rollout
    from pipelines.serving.rollout_policy import STRATEGIES, RolloutPolicy
    from pipelines.serving.router import RolloutRouter, create_router_app
    from pipelines.serving.runner import ThreadedServer

    if strategy not in STRATEGIES:
        raise ServingConfigError(f"--strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    outputs = load_outputs(tenant, outputs_file)
    _use_emulator_credentials(outputs)
    spec = load_specs(tenants, only=tenant)[0]
    registry = open_registry(outputs.client("sagemaker"), outputs.require("model_package_group_name"))
    # the registry's rule, checked before the bake rather than after it
    check_alias_holder(CHAMPION, registry.get_model_version(version))
    champion = registry.get_version_by_alias(CHAMPION).version
    if champion == version:
        raise ServingConfigError(f"version {version} is already the champion of {tenant}")
    policy = RolloutPolicy(
        bake_seconds=bake_seconds,
        max_error_rate=max_error_rate,
        max_p99_ms=max_p99_ms,
        min_requests=min_requests,
    )
    fmt = spec.model.serving_format
    work = Path(tempfile.mkdtemp(prefix=f"tenantml-deploy-{tenant}-"))
    servers: list[ThreadedServer] = []
    stop = threading.Event()
    traffic = None
    try:  # whatever fails, the servers started so far stop and the scratch directory goes
        serving = workload_session(outputs, SERVING, command="deploy")
        servers.append(_start_version(outputs, champion, fmt, work, serving))
        servers.append(_start_version(outputs, version, fmt, work, serving))
        router = RolloutRouter(
            servers[0].url,
            servers[1].url,
            strategy=strategy,  # type: ignore[arg-type]
            champion_version=champion,
            challenger_version=version,
            canary_weight=canary_weight,
        )
        servers.append(ThreadedServer(create_router_app(router)).start())
        console.print(
            f"[bold]{strategy}[/] of {tenant} version {version} (champion {champion}) behind "
            f"{servers[-1].url}/invocations; baking {bake_seconds:g} s",
            highlight=False,
        )
        if replay is not None:
            rows = [line for line in replay.read_text().splitlines() if line.strip()]
            traffic = threading.Thread(target=_replay, args=(servers[-1].url, rows, stop), daemon=True)
            traffic.start()
        result = Rollout(
            router,
            policy,
            registry=registry,
            tenant=tenant,
            model_name=spec.model.name,
            sns=outputs.client("sns"),
            topic_arn=outputs.outputs.get("alerts_topic_arn"),
        ).run()
    finally:
        stop.set()
        if traffic is not None:
            traffic.join(timeout=35)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    m = result.metrics
    # no challenger request means no latency to show (a bake without traffic rolls back)
    p99_text = "n/a" if m.p99_ms is None else f"{m.p99_ms:.1f} ms"
    console.print(
        f"{result.status}: {result.reason} (challenger: {m.requests} requests, "
        f"error rate {m.error_rate:.2%}, p99 {p99_text})",
        highlight=False,
    )
    if result.status != "promoted":
        raise typer.Exit(ROLLED_BACK_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``predict`` and ``deploy`` to the ``tenantml`` app."""
    app.command("serve")(serve)
    app.command("predict")(predict)
    app.command("deploy")(deploy)


__all__ = ["deploy", "predict", "register", "serve"]
