"""``python -m pipelines.container register``: the candidate into the model registry (the Register state).

Inputs: the run input, the training job's ``model.tar.gz`` and ``runs/<run_id>/decision/`` (the gate's
``decision.json`` and the baseline). The model directory plus its baseline is packed into the
content-addressed archive in the models bucket (``models/sha256/<digest>/model.tar.gz``, uploaded once),
and a version is created in the tenant's model package group naming the tenant's image
(``TENANTML_IMAGE_URI``: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``) with the
run's lineage, approved or pending as the gate decided; the ``champion`` (approved) or ``challenger``
alias moves to it. The run record says succeeded. Before the version exists the record names the
archive this run uploaded, so the failure path's ``cleanup`` removes exactly what this run added.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.errors import Problem, TenantResourcesError
from core.sagemaker_paths import opt_ml
from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, library_versions
from pipelines.runs.config import PipelineConfig
from pipelines.runs.records import RunStatus, StepName
from pipelines.runs.retraining import CAUSE_METADATA_KEY, RetrainCause
from pipelines.runs.steps.context import (
    DECISION_INPUT_PATH,
    DECISION_NAME,
    MODEL_INPUT_PATH,
    StepContext,
    run_command,
    unpack_single_archive,
)
from pipelines.runs.steps.evaluate import BASELINE_NAME
from pipelines.training.train import load_model

log = logging.getLogger(__name__)
#: SageMaker's limit on one CustomerMetadataProperties value
_MAX_METADATA_VALUE = 256

#: the run record's artifacts entry naming an archive this run uploaded (cleanup deletes it)
UPLOADED_ARTIFACT = "uploaded_model_artifact"
_REGISTERABLE = ("approved", "pending")


def register(context: StepContext, config: PipelineConfig | None = None) -> dict[str, Any]:
    config = config or PipelineConfig()
    spec = context.execution.spec
    record = context.record()
    decision_dir = opt_ml(DECISION_INPUT_PATH)
    try:
        decision = json.loads((decision_dir / DECISION_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TenantResourcesError(
            [Problem(f"{DECISION_INPUT_PATH}/{DECISION_NAME}", f"cannot be read: {err}")]
        ) from err
    status = decision.get("status") if isinstance(decision, dict) else None
    if status not in _REGISTERABLE:
        raise TenantResourcesError(
            [
                Problem(
                    f"{DECISION_INPUT_PATH}/{DECISION_NAME}: status",
                    f"must be one of {_REGISTERABLE}",
                    status,
                )
            ]
        )
    with context.step(record, StepName.REGISTER) as step:
        model_dir = unpack_single_archive(opt_ml(MODEL_INPUT_PATH), context.work / "model")
        meta = load_model(model_dir).metadata
        # serving and monitoring read the baseline beside the model
        shutil.copyfile(decision_dir / BASELINE_NAME, model_dir / BASELINE_NAME)
        archive = pack_model_dir(model_dir, context.work / "register" / "model.tar.gz")
        stored = upload_artifact(context.s3, context.env.models_bucket, archive)
        if stored.uploaded:
            record.artifacts[UPLOADED_ARTIFACT] = stored.uri
            context.save_record(record)
        log.info("model archive %s (%s)", stored.uri, "uploaded" if stored.uploaded else "already stored")
        lineage = Lineage(
            run_id=record.run_id,
            data_uri=record.data_uri,
            data_version_id=record.data_version_id,
            data_sha256=record.data_sha256 or "",
            code_revision=record.code_revision,
            parameters={"estimator": meta.estimator, **meta.best_params},
            metrics=dict(decision.get("metrics") or record.metrics),
            library_versions=meta.library_versions or library_versions(),
            settings=config.artifact_settings(spec),
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
            data_sources=record.data_sources,
        )
        registry = open_registry(context.sagemaker, context.env.model_package_group)
        approved = status == "approved"
        version = registry.create_model_version(
            model_data_url=stored.uri,
            image_uri=context.env.image_uri,
            lineage=lineage,
            approval_status=ApprovalStatus.APPROVED if approved else ApprovalStatus.PENDING,
            description=f"run {record.run_id}: {'; '.join(decision.get('reasons') or [])}",
        )
        record.model_package_arn = version.arn
        alias = CHAMPION if approved else CHALLENGER
        version = registry.set_alias(alias, version.version)
        cause = context.execution.cause
        if context.execution.trigger == "retrain" and cause:
            _record_cause(context.sagemaker, registry.get_model_version(version.version), cause)
        record.model_version = version.version
        record.approval_status = version.approval_status.value
        record.alias = alias
        record.model_artifact_uri = stored.uri
        record.model_artifact_sha256 = stored.sha256
        step.summary = {
            "version": version.version,
            "alias": alias,
            "approval_status": version.approval_status.value,
            "artifact": stored.uri,
            "image_uri": context.env.image_uri,
        }
    summary = dict(step.summary)
    (context.output_dir("register") / "registration.json").write_text(
        json.dumps(summary, indent=2), encoding="utf-8"
    )
    record.status = RunStatus.SUCCEEDED
    record.finished_at = datetime.now(UTC)
    record.seconds = round((record.finished_at - record.started_at).total_seconds(), 3)
    context.save_record(record)
    log.info("registered version %d as %s (%s)", version.version, alias, version.approval_status.value)
    return summary


def _record_cause(sagemaker: Any, version: Any, cause: Any) -> None:
    """Why a retrained version exists, in its registry metadata (``tenantml models show`` prints it)."""
    summary = RetrainCause.model_validate(
        {k: v for k, v in cause.items() if k in RetrainCause.model_fields}
    ).summary()
    # UpdateModelPackage replaces the metadata (moto and AWS alike): send all of it back
    kwargs: dict[str, Any] = {
        "ModelPackageArn": version.arn,
        "ModelApprovalStatus": version.approval_status.value,
        "CustomerMetadataProperties": {**version.metadata, CAUSE_METADATA_KEY: summary[:_MAX_METADATA_VALUE]},
    }
    if version.approval_description:
        kwargs["ApprovalDescription"] = version.approval_description
    sagemaker.update_model_package(**kwargs)


def main(argv: Sequence[str] = ()) -> int:
    return run_command("register", register, argv)


__all__ = ["UPLOADED_ARTIFACT", "main", "register"]
