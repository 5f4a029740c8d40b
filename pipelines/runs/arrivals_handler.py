"""The data-arrival entry point: S3 events in, at most one pipeline run per object version out.

``handle_arrivals`` is what the data-arrival Lambda calls: it reads the tenant's resources and model
spec from the environment, claims each object version (see :mod:`pipelines.runs.idempotency`) and
runs the pipeline for the ones it claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.errors import (
    Problem,
    TenantResourcesError,
)
from core.spec import ModelSpec
from pipelines.data.uris import s3_uri
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.config import PipelineConfig, model_spec_from_env, pipeline_config_from_env
from pipelines.runs.idempotency import ClaimResult, claim_arrival, release_claim, update_claim
from pipelines.runs.pipeline import AwsClients, run_pipeline
from pipelines.runs.records import (
    new_run_id,
)
from pipelines.runs.resources import TenantResources
from pipelines.training.executors import Executor, make_executor

log = logging.getLogger(__name__)


class ArrivalOutcome(BaseModel):
    """What ``handle_arrivals`` did with one arrival."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_uri: str
    version_id: str | None
    action: Literal["started", "duplicate", "ignored"]
    run_id: str | None = None
    status: str | None = None
    record_uri: str | None = None
    reason: str | None = None


def handle_arrivals(
    arrivals: Sequence[DataArrival],
    env: Mapping[str, str],
    *,
    clients: AwsClients | None = None,
    executor: Executor | None = None,
    config: PipelineConfig | None = None,
) -> list[ArrivalOutcome]:
    """Start one run per new dataset object version; duplicates and redeliveries start nothing.

    ``env`` holds the stack's ``TENANTML_*`` variables. The executor comes from
    ``TENANTML_EXECUTOR`` (``local``, the default, or ``sagemaker`` with
    ``TENANTML_TRAINING_IMAGE_URI``; ``TENANTML_EMULATED=1`` on the emulator). A run that fails
    on its data is final (recorded and alerted); an unexpected error releases the claim and is
    raised so Lambda retries the event.
    """
    if not arrivals:
        return []
    resources = TenantResources.from_env(env)
    spec = model_spec_from_env(env)
    config = config or pipeline_config_from_env(env)
    clients = clients or AwsClients.create(region=resources.region)
    if executor is None:
        kind = env.get("TENANTML_EXECUTOR", "local")
        if kind not in ("local", "sagemaker"):
            raise TenantResourcesError(
                [Problem("environment: TENANTML_EXECUTOR", "must be 'local' or 'sagemaker'", kind)]
            )
        try:
            executor = make_executor(
                kind,  # type: ignore[arg-type]
                clients=clients,
                resources=resources,
                emulated=env.get("TENANTML_EMULATED", "").lower() in {"1", "true", "yes"},
            )
        except ValueError as err:
            raise TenantResourcesError(
                [Problem("environment: TENANTML_TRAINING_IMAGE_URI", str(err))],
                headline="the sagemaker executor is not configured",
            ) from err
    outcomes: list[ArrivalOutcome] = []
    for arrival in arrivals:
        if arrival.bucket != resources.data_bucket:
            outcomes.append(
                ArrivalOutcome(
                    data_uri=arrival.uri,
                    version_id=arrival.version_id,
                    action="ignored",
                    reason=f"not the tenant's data bucket ({resources.data_bucket})",
                )
            )
            continue
        outcomes.append(_start_run(arrival, spec, resources, clients, executor, config))
    return outcomes


def _start_run(
    arrival: DataArrival,
    spec: ModelSpec,
    resources: TenantResources,
    clients: AwsClients,
    executor: Executor,
    config: PipelineConfig,
) -> ArrivalOutcome:
    run_id = new_run_id()
    claim: ClaimResult = claim_arrival(clients.s3, resources.artifacts_bucket, arrival, run_id)
    if not claim.acquired:
        log.info(
            "duplicate event for %s: run %s already owns it (%s)",
            arrival.dedup_key,
            claim.claim.run_id,
            claim.claim.status,
        )
        return ArrivalOutcome(
            data_uri=arrival.uri,
            version_id=arrival.version_id,
            action="duplicate",
            run_id=claim.claim.run_id,
            status=claim.claim.status,
            record_uri=s3_uri(resources.artifacts_bucket, claim.claim.run_record_key),
        )
    try:
        record = run_pipeline(
            arrival,
            spec,
            resources,
            clients,
            executor=executor,
            config=config,
            run_id=run_id,
            trigger="s3-event",
        )
    except Exception:
        # not a failure of the data or the model (those are recorded): let a retry try again
        release_claim(clients.s3, resources.artifacts_bucket, claim)
        raise
    update_claim(clients.s3, resources.artifacts_bucket, claim, record.status.value)  # type: ignore[arg-type]
    return ArrivalOutcome(
        data_uri=arrival.uri,
        version_id=arrival.version_id,
        action="started",
        run_id=record.run_id,
        status=record.status.value,
        record_uri=record.record_uri,
    )
