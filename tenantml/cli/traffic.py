"""``tenantml traffic``: replay rows against a tenant's endpoint, so monitoring has something to watch.

Under ``tenantml up`` the endpoint is the one ``up`` serves (from ``.tenantml/up.json``); ``--url``
points anywhere else that speaks the SageMaker contract. The rows come from ``--input`` (Parquet
or CSV) or, by default, the bundled sample dataset, ``--drifted`` for its shifted variant: the
way to watch the drift alarm, the alert and the retrain happen on a laptop.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import ServingConfigError
from tenantml.cli.options import EndpointUrl, OutputsFile, Tenant, TenantsDir, console, reports_errors
from tenantml.up_file import UP_FILE, read_up_file, tenant_entry

if TYPE_CHECKING:
    import pandas as pd


def _endpoint_url(tenant: str, up_file: Path = UP_FILE) -> str:
    if not up_file.is_file():
        raise ServingConfigError(
            f"no endpoint for {tenant!r}: pass --url, or run `tenantml up` here so that {up_file} exists"
        )
    endpoint = tenant_entry(read_up_file(up_file), tenant, up_file).get("endpoint") or {}
    if not endpoint.get("url"):
        raise ServingConfigError(
            f"{up_file}: tenant {tenant!r} has no endpoint (no approved champion was served)"
        )
    return str(endpoint["url"])


def _rows(input_path: Path | None, drifted: bool, limit: int | None, seed: int) -> pd.DataFrame:
    import pandas as pd

    from tenantml.sample_data import sample_frame

    if input_path is None:
        frame = sample_frame(drifted=drifted, seed=seed)
    elif input_path.suffix.lower() == ".csv":
        frame = pd.read_csv(input_path)
    else:
        frame = pd.read_parquet(input_path)
    if limit is not None:
        # sampling with replacement lets a small dataset stand for any amount of traffic
        frame = frame.sample(n=limit, replace=limit > len(frame), random_state=seed).reset_index(drop=True)
    return frame


@reports_errors
def traffic(
    tenant: Tenant,
    url: Annotated[
        str | None, typer.Option("--url", help="Endpoint base URL; default: the one `up` serves.")
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Parquet or CSV rows; default: the bundled sample dataset.")
    ] = None,
    drifted: Annotated[
        bool, typer.Option("--drifted", help="Use the sample dataset's shifted variant.")
    ] = False,
    rows: Annotated[
        int | None, typer.Option("--rows", min=1, help="Send this many rows (resampled).")
    ] = None,
    rows_per_request: Annotated[int, typer.Option("--rows-per-request", min=1)] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=256)] = 4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels",
            help="Deliver the rows' true labels under labels/ in the data bucket (half midway, half at the "
            "end), so the monitor measures live quality.",
        ),
    ] = False,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Replay rows against a tenant's model endpoint (one CSV body per request), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines.serving.openapi import read_model_description
    from tenantml.traffic import replay

    base = url or _endpoint_url(tenant)
    features = read_model_description(base)["feature_names"]
    frame = _rows(input_path, drifted, rows, seed)
    if labels:
        _replay_with_labels(
            tenant, base, frame, features, rows_per_request, concurrency, tenants, outputs, endpoint_url
        )
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{tenant}: rows to {base}", total=len(frame))
        result = replay(
            base,
            frame,
            features,
            rows_per_request=rows_per_request,
            concurrency=concurrency,
            on_request=lambda n: progress.advance(task, n),
        )
    console.print(
        f"{tenant}: {result.requests} requests ({result.rows} rows) in {result.seconds:.1f} s, "
        f"{result.requests_per_second:.0f} requests/s, {result.failures} failed",
        highlight=False,
    )
    for message in result.failure_messages:
        console.print(f"  {message}", highlight=False)
    if result.failures:
        raise typer.Exit(1)


def _replay_with_labels(
    tenant: str,
    base: str,
    frame: pd.DataFrame,
    features: list[str],
    rows_per_request: int,
    concurrency: int,
    tenants: Path,
    outputs: Path | None,
    endpoint_url: str | None,
) -> None:
    """Replay in two halves, each followed by its labels file: the monitor's batches of the second
    half join the first half's labels while traffic still flows (labels are measured after a batch)."""
    import time
    import uuid

    from tenantml.cli.pipeline import resolve_target
    from tenantml.traffic import labels_for, replay, request_ids_for

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    column = target.spec.model.target
    prefix = f"traffic-{uuid.uuid4().hex[:8]}"
    ids = request_ids_for(frame, rows_per_request, prefix)
    first = (len(ids) + 1) // 2  # requests in the first half
    halves = (
        (frame.iloc[: first * rows_per_request], ids[:first]),
        (frame.iloc[first * rows_per_request :], ids[first:]),
    )
    failures = 0
    for part, (rows, part_ids) in enumerate(halves):
        if rows.empty:
            continue
        result = replay(
            base,
            rows,
            features,
            rows_per_request=rows_per_request,
            concurrency=concurrency,
            request_ids=part_ids,
        )
        failures += result.failures
        key = f"labels/traffic/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{prefix}-{part}.csv"
        target.clients.s3.put_object(
            Bucket=target.resources.data_bucket,
            Key=key,
            Body=labels_for(rows.reset_index(drop=True), column, rows_per_request, part_ids),
            ContentType="text/csv",
        )
        console.print(
            f"{tenant}: {result.requests} requests ({result.rows} rows), {result.failures} failed; "
            f"labels in s3://{target.resources.data_bucket}/{key}",
            highlight=False,
        )
    if failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("traffic")(traffic)


__all__ = ["register", "traffic"]
