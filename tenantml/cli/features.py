"""``tenantml features ...``: the tenant's feature store.

``training-set`` joins an entity table (keys, ``event_timestamp``, the label) point in time with the
feature views the tenant's model names (``model.feature_views``), reading the offline store in the
data bucket found like ``tenantml train`` finds it (``--outputs FILE``, else the running
``tenantml up``'s ``.tenantml/up.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenantml.cli.options import EndpointUrl, OutputsFile, Tenant, TenantsDir, console, reports_errors

features = typer.Typer(
    name="features",
    help="The feature store: point-in-time training sets from the offline store.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``features`` sub-commands to ``app``."""
    app.add_typer(features, name="features")


@features.command("training-set")
@reports_errors
def training_set(
    tenant: Tenant,
    entities: Annotated[
        Path,
        typer.Option(
            "--entities",
            help="Parquet or CSV: each view's entity keys, a time-zone-aware event_timestamp, any other columns.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Where the training set goes: Parquet, or CSV if the name ends in .csv."),
    ],
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", help="Keep the offline store's files here between runs (default: a temporary one)."
        ),
    ] = None,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Join ENTITIES with the model's feature views as of each row's event_timestamp, into OUT."""
    from core.errors import FeatureStoreConfigError
    from pipelines.features.offline import OfflineStore
    from tenantml.cli.pipeline import resolve_target

    target = resolve_target(tenant, tenants, outputs, endpoint_url)
    spec = target.spec
    if not spec.model.feature_views:
        raise FeatureStoreConfigError(
            f"model {spec.model.name!r} of tenant {spec.name!r} names no feature views: "
            "list the views it uses under model.feature_views"
        )
    views = [spec.features.view(name) for name in spec.model.feature_views]  # the spec checked the names
    with (
        console.status(f"Joining {entities} with {', '.join(spec.model.feature_views)}..."),
        OfflineStore(target.clients.s3, target.resources.data_bucket, cache_dir=cache_dir) as store,
    ):
        result = store.training_set(views, entities, out)
    console.print(
        f"training set of [bold]{spec.name}/{spec.model.name}[/]: {result.rows} row(s), "
        f"{len(result.columns)} column(s) -> {result.out}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  views: {', '.join(result.views)}; download {result.download_seconds:.2f} s, "
        f"join {result.join_seconds:.2f} s",
        highlight=False,
    )


__all__ = ["features", "register", "training_set"]
