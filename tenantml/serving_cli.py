"""``tenantml serve`` and ``tenantml predict``: the model server and batch inference.

Wired into the main CLI with :func:`register`. Where a tenant's resources are (model package group,
stream, buckets) comes from its stack outputs: ``--outputs FILE`` (``terraform output -json`` or a
plain ``{name: value}`` object, or an ``up.json``), else ``.tenantml/up.json`` as the emulator
writes it: ``{"emulator": {"endpoint", "region"}, "tenants": {"<name>": {"outputs": {...}}}}``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from tenantml.cli_support import console, err_console, reports_errors
from tenantml.errors import ServingConfigError, TenantmlError

DEFAULT_UP_FILE = Path(".tenantml/up.json")


@dataclass(frozen=True)
class TenantOutputs:
    """A tenant's stack outputs and the AWS endpoint (the emulator's, or None for real AWS)."""

    tenant: str
    outputs: dict[str, Any] = field(default_factory=dict)
    endpoint_url: str | None = None
    region: str | None = None
    source: str | None = None

    def require(self, name: str) -> str:
        value = self.outputs.get(name)
        if not value:
            raise ServingConfigError(
                f"the outputs of tenant {self.tenant!r} ({self.source or 'none found'}) have no {name!r}; "
                "deploy the tenant stack (or `tenantml up` on the emulator) first"
            )
        return str(value)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)


def load_outputs(tenant: str, outputs_file: Path | None = None, *, required: bool = True) -> TenantOutputs:
    """Read ``outputs_file`` or ``.tenantml/up.json``; see the module docstring for the shapes."""
    path = outputs_file or (DEFAULT_UP_FILE if DEFAULT_UP_FILE.is_file() else None)
    if path is None:
        if required:
            raise ServingConfigError(
                f"no stack outputs for tenant {tenant!r}: pass --outputs FILE (terraform output -json) "
                f"or start the emulator so that {DEFAULT_UP_FILE} exists"
            )
        return TenantOutputs(tenant=tenant, region=_env_region())
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ServingConfigError(f"{path}: cannot read the outputs file: {err}") from err
    if not isinstance(data, dict):
        raise ServingConfigError(f"{path}: expected a JSON object of outputs")
    endpoint = region = None
    if "tenants" in data:
        tenants = data.get("tenants") or {}
        if tenant not in tenants and not required and outputs_file is None:
            return TenantOutputs(tenant=tenant, region=_env_region())
        if tenant not in tenants:
            known = ", ".join(sorted(tenants)) or "none"
            raise ServingConfigError(f"{path}: no tenant {tenant!r} (tenants: {known})")
        raw = (tenants[tenant] or {}).get("outputs") or {}
        emulator = data.get("emulator") or {}
        # each tenant lives in its own region; the emulator's region is only the first tenant's
        endpoint, region = emulator.get("endpoint"), (tenants[tenant] or {}).get("region") or emulator.get("region")
    else:
        raw = data
    outputs = {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in raw.items()}
    return TenantOutputs(
        tenant=tenant,
        outputs=outputs,
        endpoint_url=endpoint,
        region=region or _env_region(),
        source=str(path),
    )


def _env_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _serving_format(tenant: str, tenants_dir: Path, override: str | None) -> str:
    if override:
        if override not in ("sklearn", "onnx"):
            raise ServingConfigError(f"--format must be sklearn or onnx, got {override!r}")
        return override
    if not tenants_dir.is_dir():
        return "sklearn"
    from tenantml.spec import load_specs

    try:
        specs = load_specs(tenants_dir, only=tenant)
    except TenantmlError:
        return "sklearn"
    return specs[0].model.serving_format if specs else "sklearn"


def _use_emulator_credentials(outputs: TenantOutputs) -> None:
    """The emulator accepts any credentials; give boto3 some when none are configured."""
    if outputs.endpoint_url and not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    if outputs.region and not _env_region():
        os.environ["AWS_DEFAULT_REGION"] = outputs.region


def _model_source(
    outputs: TenantOutputs, model_dir: Path | None, version: int | None, alias: str | None, work: Path
) -> Any:
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
    with console.status(f"Fetching and verifying {source.describe()}..."):
        return fetch_registry_archive(
            source, work, sagemaker=outputs.client("sagemaker"), s3=outputs.client("s3")
        )


Tenant = Annotated[str, typer.Option("--tenant", help="The tenant whose model to use.")]
Version = Annotated[int | None, typer.Option("--version", help="Registry version number.")]
Alias = Annotated[str | None, typer.Option("--alias", help="Registry alias (default: champion).")]
ModelDir = Annotated[Path | None, typer.Option("--model-dir", help="Serve a local model directory instead.")]
OutputsFile = Annotated[
    Path | None, typer.Option("--outputs", help="Stack outputs: terraform output -json, or up.json.")
]
TenantsDir = Annotated[Path, typer.Option("--tenants", help="Tenant specs (for model.serving_format).")]
Format = Annotated[str | None, typer.Option("--format", help="sklearn or onnx (default: the tenant spec's).")]


@reports_errors
def serve(
    tenant: Tenant,
    version: Version = None,
    alias: Alias = None,
    port: Annotated[int, typer.Option("--port")] = 8080,
    host: Annotated[str, typer.Option("--host")] = "0.0.0.0",
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

    outputs = load_outputs(tenant, outputs_file, required=model_dir is None)
    _use_emulator_credentials(outputs)
    fmt = _serving_format(tenant, tenants, serving_format)
    work = Path(tempfile.mkdtemp(prefix=f"tenantml-serve-{tenant}-"))
    source = _model_source(outputs, model_dir, version, alias, work / "download")
    # fail here, before any worker starts, when the verified artifact does not load
    with console.status(f"Loading {source.describe()} as {fmt}..."):
        loaded = load(source, serving_format=fmt, work_dir=work / "check")  # type: ignore[arg-type]
    log_config = None
    if log_inferences:
        stream = outputs.outputs.get("stream_name")
        if stream:
            log_config = InferenceLogConfig(
                stream_name=str(stream), region=outputs.region, endpoint_url=outputs.endpoint_url
            )
        else:
            err_console.print("note: no stream_name in the tenant outputs; inference logging is off")
    config = ServerConfig(
        source=source,
        serving_format=fmt,  # type: ignore[arg-type]
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        inference_log=log_config,
        work_dir=str(work / "workers"),
    )
    console.print(
        f"[green]serving[/] {tenant} version {loaded.version} ({fmt}, {loaded.predictor.mode}) on "
        f"http://{host}:{port} with {workers} worker(s); inference log: "
        f"{log_config.stream_name if log_config else 'off'}"
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
    version: Version = None,
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
    outputs = load_outputs(tenant, outputs_file, required=model_dir is None)
    if needs_aws:
        _use_emulator_credentials(outputs)
    fmt = _serving_format(tenant, tenants, serving_format)
    with tempfile.TemporaryDirectory(prefix=f"tenantml-predict-{tenant}-") as tmp:
        source = _model_source(outputs, model_dir, version, alias, Path(tmp) / "download")
        with console.status(f"Loading {source.describe()}..."):
            loaded = load(source, serving_format=fmt, work_dir=Path(tmp) / "model")  # type: ignore[arg-type]
        s3 = outputs.client("s3") if needs_aws else None
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


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``predict`` to the ``tenantml`` app."""
    app.command("serve")(serve)
    app.command("predict")(predict)


__all__ = ["TenantOutputs", "load_outputs", "predict", "register", "serve"]
