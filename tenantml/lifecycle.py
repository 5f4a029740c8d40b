"""What ``tenantml up`` does after the stacks are applied: each tenant's ML lifecycle, for real.

The bundled sample dataset is dropped into every tenant's data bucket under ``incoming/``,
exactly as a team would drop a file, as soon as the tenant's stack is applied
(:func:`drop_sample_dataset`, while the next tenant is applied). S3 notifies the tenant's data-arrival function, the
emulator's Lambda runtime runs its slim handler, and the handler starts an execution of the
tenant's pipeline state machine (named by the run id). ``up`` follows each execution
(DescribeExecution, as the account's administrator: the operator's view) through its states,
whose steps are SageMaker jobs the emulator runs as the job role (prepare, train, evaluate,
register), then reads what the run did from the run record in the artifacts bucket. A tenant whose
model trains on feature views gets its dataset from its feature store instead
(:mod:`tenantml.lifecycle_features`): sample feature rows landed, a point-in-time training set built.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from tenantml.emulator.commands import TenantApply
from tenantml.up import UpContext, UpSummary

#: slack on top of the longest handler timeout: S3 delivery, queueing and the handlers' start-up
WAIT_MARGIN_S = 60
#: slack on top of a tenant's search budget for the other steps and the jobs' start-up
RUN_MARGIN_S = 600


def _outcome(result: Any) -> dict[str, Any]:
    if result.failed:
        return {"status": "failed", "error": (result.error or {}).get("errorMessage", "handler failed")}
    runs = json.loads(result.payload or b"{}").get("runs", [])
    return runs[0] if runs else {"status": "ignored"}


def _has_feature_store(context: UpContext, applied: TenantApply) -> bool:
    """A model on feature views trains on a training set built from the tenant's feature store."""
    spec = context.spec_of(applied.tenant)
    return bool(spec.model.feature_views and applied.outputs.get("features_table_name"))


def drop_sample_dataset(context: UpContext, summary: UpSummary, applied: TenantApply) -> None:
    """Drop the sample dataset into one tenant's data bucket under ``incoming/``, which starts its run.

    A ``tenantml up`` tenant step: it runs as soon as the tenant's stacks are applied and its
    image pushed, so its pipeline runs while the next tenant is applied. A tenant whose model
    trains on feature views is left to :func:`run_sample_lifecycle` (its dataset is built from
    its feature store, by jobs that would hold up the next tenant's apply).
    """
    from tenantml.sample_data import upload_sample_dataset

    del summary  # the run is followed, and its outcome recorded, by run_sample_lifecycle
    if applied.tenant in context.landed or _has_feature_store(context, applied):
        return
    spec = context.spec_of(applied.tenant)
    s3 = context.server_session.for_account(spec.account_id).client("s3", spec.region)
    uri = upload_sample_dataset(s3, applied.outputs["data_bucket_name"])
    context.landed[applied.tenant] = uri
    context.report(
        f"{applied.tenant}: dropped the sample dataset at {uri}; its data-arrival function starts the pipeline"
    )


def _follow_run(context: UpContext, applied: TenantApply, run_id: str) -> dict[str, Any]:
    """Follow one tenant's execution to its end (reporting each state); what the run did."""
    from tenantml.executions import execution_arn, follow_execution, run_outcome

    tenant, outputs = applied.tenant, applied.outputs
    spec = context.spec_of(tenant)
    admin = context.server_session.for_account(spec.account_id)
    context.report(f"{tenant}: following pipeline run {run_id}")
    execution = follow_execution(
        admin.client("stepfunctions", spec.region),
        execution_arn(outputs["pipeline_state_machine_arn"], run_id),
        timeout=spec.model.search_timeout_seconds + RUN_MARGIN_S,
        on_state=lambda state: context.report(f"{tenant}: pipeline step {state}"),
    )
    s3 = admin.client("s3", spec.region)
    return run_outcome(s3, outputs["artifacts_bucket_name"], run_id, execution)


def _started_run(context: UpContext, summary: UpSummary, applied: TenantApply, demo: Any) -> str | None:
    """The run id the tenant's data-arrival function started; else its failure goes into the summary."""
    tenant, outputs = applied.tenant, applied.outputs
    if demo is not None and demo.error:
        summary.lifecycle[tenant] = {"status": "failed", "error": demo.error, "features": demo.to_json()}
        return None
    history = context.runtime.history(outputs["data_arrival_function_name"])
    started_run = _outcome(history[-1]) if history else {"status": "not run"}
    if not started_run.get("run_id") or not outputs.get("pipeline_state_machine_arn"):
        summary.lifecycle[tenant] = {
            "status": started_run.get("status", "not run"),
            "error": started_run.get("error") or "the data-arrival function started no pipeline run",
        }
        return None
    return str(started_run["run_id"])


def run_sample_lifecycle(
    context: UpContext,
    summary: UpSummary,
    *,
    on_run_ended: Callable[[UpContext, UpSummary, TenantApply], None] | None = None,
) -> None:
    """Drop the sample dataset for every tenant not given it yet, and follow their pipeline runs to their end.

    The runs are followed side by side; ``on_run_ended`` hears of each tenant as soon as its run
    ended and its outcome is in the summary, while the others still run.
    """
    from tenantml.lifecycle_features import run_feature_demo

    started = time.perf_counter()
    featured = [a for a in summary.applied if _has_feature_store(context, a)]
    plain = [a for a in summary.applied if a not in featured]
    for applied in plain:
        drop_sample_dataset(context, summary, applied)
    timeout = max(s.lambdas.timeout_seconds for s in context.specs) + WAIT_MARGIN_S
    demos: dict[str, Any] = {}
    following: dict[Future[dict[str, Any]], TenantApply] = {}

    def follow(group: list[TenantApply]) -> None:
        # the data-arrival functions the drops invoked have started (or refused) the runs by then
        if not context.runtime.wait_idle(timeout=timeout):
            context.report(f"data-arrival functions still running after {timeout} s")
        for applied in group:
            run_id = _started_run(context, summary, applied, demos.get(applied.tenant))
            if run_id is not None:
                following[pool.submit(_follow_run, context, applied, run_id)] = applied

    with ThreadPoolExecutor(
        max_workers=max(1, min(32, len(summary.applied))), thread_name_prefix="follow"
    ) as pool:
        follow(plain)
        # a feature tenant's dataset is built from its feature store, while the others' runs are followed
        demos.update(
            (a.tenant, run_feature_demo(context, context.spec_of(a.tenant), a.outputs)) for a in featured
        )
        follow(featured)
        for future in as_completed(following):
            applied = following[future]
            tenant = applied.tenant
            summary.lifecycle[tenant] = future.result()
            demo = demos.get(tenant)
            if demo is not None:
                summary.lifecycle[tenant]["features"] = demo.to_json()
                summary.probes[tenant] = demo.probes
            if on_run_ended is not None and not context.stop_event.is_set():
                on_run_ended(context, summary, applied)
    summary.timings["lifecycle"] = time.perf_counter() - started


def run_sample_lifecycle_and_serve(context: UpContext, summary: UpSummary) -> None:
    """:func:`run_sample_lifecycle`, serving each tenant's champion as soon as its own run ended."""
    run_sample_lifecycle(context, summary, on_run_ended=serve_champion)


def serving_role_session(endpoint: str, region: str, account_id: str | None, role_arn: str) -> Any:
    """A botocore session acting as a tenant's serving role, as a SageMaker endpoint's container does.

    The emulator's STS hands the role's credentials to the tenant account's administrator, who
    stands in for the SageMaker service there (:mod:`tenantml.emulator.service_principals`); they
    are renewed before they expire, so a long ``up`` keeps serving.
    """
    from tenantml.workload_roles import role_botocore_session

    return role_botocore_session(
        role_arn, endpoint=endpoint, region=region, account_id=account_id, session_name="tenantml-up-serving"
    )


def _load_as(session: Any, region: str, endpoint: str, config: Any) -> Any:
    """The server's loader, reading the registry and the artifact with the role ``session`` (boto3) acts as."""
    from pipelines.serving.loader import load

    return load(
        config.source,
        serving_format=config.serving_format,
        sagemaker=session.client("sagemaker", region_name=region, endpoint_url=endpoint),
        s3=session.client("s3", region_name=region, endpoint_url=endpoint),
    )


#: how long a champion may take to download, verify and load before up gives up on its endpoint
SERVE_READY_TIMEOUT_S = 60

#: how often up reads each tenant's champion alias (doubling, up to the cap, while reads fail)
FOLLOW_POLL_SECONDS = 2.0
FOLLOW_MAX_BACKOFF_SECONDS = 30.0
#: the bake of a champion up follows: long enough for the probe requests to prove it, short enough
#: that a promotion shows within a minute (the spec's bake_minutes is the SageMaker endpoint's)
FOLLOW_BAKE_SECONDS = 20.0


def follow_policy(spec: Any, *, bake_seconds: float = FOLLOW_BAKE_SECONDS) -> Any:
    """The guardrails a followed champion bakes under: the tenant's own alarm thresholds."""
    from core.follow import follow_guardrails
    from pipelines.serving.rollout_policy import RolloutPolicy

    return RolloutPolicy(**follow_guardrails(spec, bake_seconds=bake_seconds))


def _probe_rows(feature_names: list[str]) -> list[str]:
    """CSV rows of the bundled sample dataset in the model's feature order; none if it lacks a feature."""
    from tenantml.sample_data import sample_frame

    frame = sample_frame()
    if not set(feature_names) <= set(frame.columns):
        return []
    return [",".join(repr(float(v)) for v in row) for row in frame[feature_names].head(50).to_numpy()]


def serve_champions(context: UpContext, summary: UpSummary) -> None:
    """Serve each tenant's champion not served yet (:func:`serve_champion`)."""
    for applied in summary.applied:
        if applied.tenant not in summary.endpoints:
            serve_champion(context, summary, applied)


def serve_champion(context: UpContext, summary: UpSummary, applied: TenantApply) -> None:
    """Serve the tenant's champion on 127.0.0.1 (SageMaker contract), logging to its Kinesis stream,
    and follow its champion alias from then on (:mod:`pipelines.serving.follow`)."""
    import boto3

    from pipelines.registry.factory import open_registry
    from pipelines.serving.app import create_app, default_logger_factory, default_lookup_factory
    from pipelines.serving.config import FeatureLookupConfig, InferenceLogConfig, ServerConfig
    from pipelines.serving.follow import ChampionFollower
    from pipelines.serving.loader import RegistrySource
    from pipelines.serving.openapi import read_model_description

    tenant, outputs = applied.tenant, applied.outputs
    if (summary.lifecycle.get(tenant) or {}).get("alias") != "champion":
        context.report(f"{tenant}: no approved champion yet, so no endpoint")
        return
    spec = context.spec_of(tenant)
    role = serving_role_session(context.endpoint, spec.region, spec.account_id, outputs["serving_role_arn"])
    group = outputs["model_package_group_name"]
    # one boto3 session over the role's (boto3's clients: the download uses S3 transfers); a
    # second boto3 session over the same botocore session fails injecting its methods again
    session = boto3.Session(botocore_session=role)

    stream, table = outputs["stream_name"], outputs.get("features_table_name")

    def app_for(version: int) -> Any:
        # pinned by number: a server never changes version under its clients
        config = ServerConfig(
            source=RegistrySource(
                group=group, version=version, region=spec.region, endpoint_url=context.endpoint
            ),
            serving_format=spec.model.serving_format,
            inference_log=InferenceLogConfig(
                stream_name=stream, region=spec.region, endpoint_url=context.endpoint
            ),
            # a model trained on feature views takes requests with only their entity keys
            features=(
                FeatureLookupConfig(
                    table_name=table,
                    views=[spec.features.view(name) for name in spec.model.feature_views],
                    region=spec.region,
                    endpoint_url=context.endpoint,
                )
                if table and spec.model.feature_views
                else None
            ),
        )
        return create_app(
            config,
            loader=functools.partial(_load_as, session, spec.region, context.endpoint),
            logger_factory=functools.partial(default_logger_factory, session=role),
            lookup_factory=functools.partial(default_lookup_factory, session=role),
        )

    # the watch reads the registry as the serving role, as the endpoint's container would
    sagemaker = session.client("sagemaker", region_name=spec.region, endpoint_url=context.endpoint)
    follower = ChampionFollower(
        open_registry(sagemaker, group),
        app_for,
        tenant=tenant,
        model_name=spec.model.name,
        policy=context.follow_policy(spec) if context.follow_policy else follow_policy(spec),
        strategy="canary",
        canary_weight=spec.serving.canary_percent / 100,
        poll_seconds=FOLLOW_POLL_SECONDS,
        max_backoff_seconds=FOLLOW_MAX_BACKOFF_SECONDS,
        load_timeout_seconds=SERVE_READY_TIMEOUT_S,
        on_change=functools.partial(_followed, context, summary, tenant),
    )
    follower.start()
    context.cleanups.append(follower.stop)
    model = read_model_description(follower.url)
    # a model on feature views is probed with entity keys only: the lookups are what the bake proves
    follower.probe_rows = summary.probes.get(tenant) or _probe_rows(model["feature_names"])
    with context.summary_lock:  # the other tenants' followers may be writing their entries
        summary.endpoints[tenant] = {
            "url": follower.url,
            "invocations": f"{follower.url}/invocations",
            "model_version": model["version"],
            "serving_format": model["serving_format"],
            "feature_names": model["feature_names"],
            **({"entity_keys": _entity_keys(spec)} if spec.model.feature_views else {}),
            **{k: v for k, v in follower.state().items() if k != "model_version"},
        }
    context.report(f"{tenant}: serving model version {model['version']} at {follower.url}/invocations")


def _entity_keys(spec: Any) -> list[str]:
    """The keys a request to a model on feature views may carry alone, in the views' order."""
    keys: list[str] = []
    for name in spec.model.feature_views:
        keys += [k for k in spec.features.view(name).entity_names if k not in keys]
    return keys


def _followed(
    context: UpContext, summary: UpSummary, tenant: str, state: dict[str, Any], message: str
) -> None:
    """A follower's news: into the tenant's endpoint entry, up.json rewritten, one console line."""
    with context.summary_lock:
        summary.endpoints.setdefault(tenant, {}).update(state)
    context.report(f"{tenant}: {message}")
    context.summary_changed(summary)
