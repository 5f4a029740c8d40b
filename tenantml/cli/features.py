"""``tenantml features ...``: the tenant's feature store.

``training-set`` joins an entity table (keys, ``event_timestamp``, the label) point in time with the
feature views the tenant's model names (``model.feature_views``), reading the offline store in the
data bucket found like ``tenantml train`` finds it (``--outputs FILE``, else the running
``tenantml up``'s ``.tenantml/up.json``). ``get`` prints what the online store holds for entities
of a view, reading it as the serving role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from tenantml.cli.options import (
    EndpointUrl,
    OutDir,
    OutputsFile,
    PlatformFile,
    Tenant,
    TenantsDir,
    console,
    load_platform_for,
    reports_errors,
    require_running,
)

features = typer.Typer(
    name="features",
    help="The feature store: point-in-time training sets from the offline store, online lookups.",
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
    keys: Annotated[
        bool,
        typer.Option(
            "--keys/--no-keys",
            help="Keep the entity keys and event_timestamp (--no-keys: a dataset to train on, `tenantml train --data`).",
        ),
    ] = True,
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
        result = store.training_set(views, entities, out, keep_keys=keys)
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


def _deployed(target: Any, value: str | None, output: str) -> str:
    """``value``, the feature store's ``output`` of the tenant's stack, or an error saying to deploy it."""
    from core.errors import FeatureStoreConfigError

    if not value:
        raise FeatureStoreConfigError(
            f"the outputs of tenant {target.spec.name} ({target.source}) have no {output}: "
            "deploy the stack (or run `tenantml up`) with the feature views in its spec"
        )
    return value


# --- tenantml features apply --------------------------------------------------------------------


@features.command("apply")
@reports_errors
def apply(
    tenant: Tenant,
    tenants: TenantsDir = Path("tenants"),
    out: OutDir = Path("cdktf.out"),
    platform: PlatformFile = None,
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Register the tenant's feature views: validate them, check the offline store's rows stay readable,
    apply the stack to the running emulator, and confirm the registry (the Glue catalog) holds each view."""
    from core.errors import FeatureDataError, FeatureStoreConfigError
    from pipelines.features.registry import compare_registry, offline_compatibility
    from tenantml.cli.pipeline import resolve_target
    from tenantml.workload_roles import FEATURES, acting_as

    # every spec is validated (views included) before anything is read or changed
    target = resolve_target(tenant, tenants, outputs, endpoint_url, role=FEATURES, command="features apply")
    views = target.spec.features.views
    if not views:
        raise FeatureStoreConfigError(
            f"tenant {target.spec.name} declares no feature views: add them under features.views"
        )
    with acting_as("features apply", FEATURES, target.role_arn):
        problems = offline_compatibility(target.clients.s3, target.resources.data_bucket, views)
    if problems:
        raise FeatureDataError(
            problems, headline=f"the offline rows of tenant {target.spec.name} would not read under the views"
        )
    if outputs is None and endpoint_url is None:
        _apply_to_running_emulator(target.spec, tenants, out, platform)
    else:
        console.print(
            "[dim]not the running emulator: the stack registers views when it is deployed "
            "(cdktf deploy); checking the registry as it is[/]"
        )
    database = _deployed(target, target.resources.features_database, "features_glue_database")
    glue = target.session.client("glue", region_name=target.region, endpoint_url=target.endpoint)
    with acting_as("features apply", FEATURES, target.role_arn):
        registrations = compare_registry(glue, database, views)
    for registration in registrations:
        view = target.spec.features.view(registration.view)
        colour = "green" if registration.status == "registered" else "red"
        console.print(
            f"{registration.view}: [{colour}]{registration.status}[/] in {database} "
            f"({', '.join(view.entity_names)} -> {len(view.features)} feature(s), ttl {view.ttl_hours} h)"
            + (f": {registration.detail}" if registration.detail else ""),
            highlight=False,
            soft_wrap=True,
        )
    if any(r.status != "registered" for r in registrations):
        raise FeatureStoreConfigError(
            f"the registry of tenant {target.spec.name} does not hold every view as its spec declares it"
        )


def _apply_to_running_emulator(spec: Any, tenants: Path, out: Path, platform: Path | None) -> None:
    from tenantml.emulator.commands import apply_tenants
    from tenantml.synthesis import synth as synth_stacks

    running = require_running()
    synth_stacks([spec], out, load_platform_for(tenants, platform))
    for applied in apply_tenants(out, [spec.name], running.state_dir, running.endpoint):
        console.print(
            f"{applied.tenant}: stack applied, {len(applied.result.applied)} change(s) "
            f"({applied.result.plan.summary()})",
            highlight=False,
        )


# --- tenantml features materialize --------------------------------------------------------------


def _moment(text: str | None, option: str) -> Any:
    from datetime import datetime

    from core.errors import UsageError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise UsageError(
            f"{option} {text!r} is not an ISO 8601 time such as 2026-12-01T00:00:00+00:00"
        ) from err
    if moment.tzinfo is None:
        raise UsageError(f"{option} {text!r} has no time zone: add one, e.g. +00:00 or Z")
    return moment


@features.command("materialize")
@reports_errors
def materialize(
    tenant: Tenant,
    view: Annotated[
        list[str] | None,
        typer.Option("--view", help="Only this view (repeat for more; default: every view)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Event times from (ISO 8601 with a zone; default: each view's watermark)."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Event times before (ISO 8601 with a zone; default: now).")
    ] = None,
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Copy each view's latest offline rows into the online store (incremental: from its watermark)."""
    from datetime import UTC, datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from core.errors import UsageError
    from pipelines.features.materialization import materialize_views
    from pipelines.features.offline import OfflineStore
    from pipelines.features.online import OnlineStore
    from tenantml.cli.pipeline import resolve_target
    from tenantml.workload_roles import FEATURES, acting_as

    start, end = _moment(since, "--since"), _moment(until, "--until")
    # materializing is the features job's work: sign as the jobs' role
    target = resolve_target(
        tenant, tenants, outputs, endpoint_url, role=FEATURES, command="features materialize"
    )
    declared = {v.name: v for v in target.spec.features.views}
    unknown = [name for name in view or [] if name not in declared]
    if unknown or not declared:
        raise UsageError(
            f"tenant {target.spec.name} declares no feature view {', '.join(unknown) or '(none at all)'} "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    _deployed(target, target.resources.features_table, "features_table_name")
    chosen = [declared[name] for name in (view or list(declared))]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        acting_as("features materialize", FEATURES, target.role_arn),
        Progress(*columns, console=console) as bar,
    ):
        client = target.session.client("dynamodb", region_name=target.region, endpoint_url=target.endpoint)
        cloudwatch = target.session.client(
            "cloudwatch", region_name=target.region, endpoint_url=target.endpoint
        )

        def progress_for(name: str) -> Any:
            task = bar.add_task(f"materializing {name}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        with OfflineStore(target.clients.s3, target.resources.data_bucket) as offline:
            results = materialize_views(
                offline,
                OnlineStore(client, target.resources.features_table),
                chosen,
                now=datetime.now(UTC),
                since=start,
                until=end,
                progress=progress_for,
                cloudwatch=cloudwatch,
                tenant=target.spec.name,
            )
    for result in results:
        newest = result.newest.isoformat() if result.newest else "nothing online"
        console.print(
            f"{result.view}: {result.rows} row(s) read, {result.written} written, {result.skipped} skipped "
            f"(older than online, or past the TTL); watermark {result.watermark.isoformat()}; newest {newest}",
            highlight=False,
            soft_wrap=True,
        )


# --- tenantml features get ---------------------------------------------------------------------


def parse_entity_options(view: Any, options: list[str]) -> list[dict[str, str]]:
    """``--entity KEY=VALUE[,KEY=VALUE...]`` options into one lookup per entity of ``view``: keys
    accumulate in order, and a lookup is complete once it has every key of the view."""
    from core.errors import UsageError

    keys = view.entity_names
    lookups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for option in options:
        for part in option.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(
                    f"--entity {option!r}: expected KEY=VALUE (keys of view {view.name}: {', '.join(keys)})"
                )
            if name not in keys:
                raise UsageError(
                    f"--entity {option!r}: {name!r} is not a key of view {view.name} (keys: {', '.join(keys)})"
                )
            if name in current:
                missing = [k for k in keys if k not in current]
                raise UsageError(f"--entity {option!r}: {name} given again before {', '.join(missing)}")
            current[name] = value
            if len(current) == len(keys):
                lookups.append(current)
                current = {}
    if current:
        missing = [k for k in keys if k not in current]
        raise UsageError(f"the last --entity lacks key(s) {', '.join(missing)} of view {view.name}")
    if not lookups:
        raise UsageError(f"give at least one --entity ({', '.join(f'{k}=VALUE' for k in keys)})")
    return lookups


@features.command("get")
@reports_errors
def get(
    tenant: Tenant,
    view: Annotated[str, typer.Option("--view", help="The feature view (features.views in the spec).")],
    entity: Annotated[
        list[str],
        typer.Option(
            "--entity",
            help="KEY=VALUE of an entity (KEY=VALUE,KEY=VALUE for a view with several keys); repeat for more.",
        ),
    ],
    tenants: TenantsDir = Path("tenants"),
    outputs: OutputsFile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Look entities up in the online store: one JSON object per entity (exit code 3 if one has no live row)."""
    from core.errors import FeatureNotFoundError, UsageError
    from pipelines.features.online import OnlineStore, typed_entity
    from tenantml.cli.pipeline import resolve_target
    from tenantml.workload_roles import SERVING, acting_as

    # reading the online store is the model server's job: sign as its role
    target = resolve_target(tenant, tenants, outputs, endpoint_url, role=SERVING, command="features get")
    try:
        view_spec = target.spec.features.view(view)
    except KeyError:
        declared = ", ".join(v.name for v in target.spec.features.views) or "none"
        raise UsageError(
            f"tenant {target.spec.name} declares no feature view {view!r} (declared: {declared})"
        ) from None
    table = _deployed(target, target.resources.features_table, "features_table_name")
    lookups = parse_entity_options(view_spec, entity)
    with acting_as("features get", SERVING, target.role_arn):
        client = target.session.client("dynamodb", region_name=target.region, endpoint_url=target.endpoint)
        rows = OnlineStore(client, table).get(view_spec, lookups)
    results = []
    for raw, row in zip(lookups, rows, strict=True):
        event_time = None if row is None else row.pop(view_spec.timestamp)
        results.append(
            {
                "entity": typed_entity(view_spec, raw),
                "features": row,
                "event_timestamp": None if event_time is None else event_time.isoformat(),
            }
        )
    typer.echo(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    missing = [raw for raw, row in zip(lookups, rows, strict=True) if row is None]
    if missing:
        raise FeatureNotFoundError(view_spec.name, typed_entity(view_spec, missing[0]))


__all__ = ["features", "get", "materialize", "parse_entity_options", "register", "training_set"]
