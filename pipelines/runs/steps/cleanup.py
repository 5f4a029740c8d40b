"""``python -m pipelines.container cleanup``: the failure path's job (the Cleanup state).

Runs after RecordFailure wrote ``runs/<run_id>/failure.json`` (the state that failed and the
Step Functions ``{"Error", "Cause"}``). It marks the run record failed: the step that was running
(or the first that never finished) is the failed step with the cause as its error unless the step
recorded its own, the steps after it are skipped. Then it removes what the run put into the models
bucket and the registry: every object version under ``training-jobs/<run_id>/`` (the training job's
output), the content-addressed archive if this run uploaded it, and any model version whose lineage
names this run (deleted, or rejected where the registry cannot delete). The one alert is the state
machine's Alert state, not this job's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipelines.data.uris import parse_s3_uri, s3_uri
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import ApprovalStatus
from pipelines.runs.records import RunRecord, RunStatus, StepName, StepStatus
from pipelines.runs.steps.context import FAILURE_RECORD_NAME, StepContext, run_command
from pipelines.runs.steps.register import UPLOADED_ARTIFACT

log = logging.getLogger(__name__)

#: where the training job's output lands in the models bucket (``OutputDataConfig.S3OutputPath``)
TRAINING_OUTPUT_PREFIX = "training-jobs"
#: the state machine's step -> the run record's step it stands for, when the record names none running
_STATE_STEPS = {
    "Start": StepName.INGEST,
    "Prepare": StepName.INGEST,
    "Train": StepName.TRAIN,
    "Evaluate": StepName.EVALUATE,
    "ReadDecision": StepName.GATE,
    "Decide": StepName.GATE,
    "Register": StepName.REGISTER,
    "Notify": StepName.REGISTER,
    "Compare": StepName.EVALUATE,
    "ReadReproduction": StepName.EVALUATE,
}


def cleanup(context: StepContext) -> dict[str, Any]:
    existing = context.read_record()
    record = existing or context.new_record()
    failure = _failure_record(context)
    state = failure.get("failed_step") if isinstance(failure.get("failed_step"), str) else None
    cause = _cause(failure.get("failure"))
    # a run that never wrote its record: the failed state says which step it was in
    step = _failed_step(record, state) if existing is not None else _STATE_STEPS.get(state or "")
    now = datetime.now(UTC)
    if step is not None:
        failed = record.step(step)
        if failed.status is not StepStatus.FAILED:
            failed.status = StepStatus.FAILED
            failed.error = cause
            failed.finished_at = now
        record.failed_step = step
        record.error = record.error or failed.error or cause
    record.failed_state = state
    record.error = record.error or cause
    for each in record.steps:
        if each.status in (StepStatus.PENDING, StepStatus.RUNNING):
            each.status = StepStatus.SKIPPED
    record.rolled_back.extend(_roll_back(context, record))
    record.model_version = None
    record.model_package_arn = None
    record.alias = None
    record.approval_status = None
    record.model_artifact_uri = None
    record.model_artifact_sha256 = None
    record.status = RunStatus.FAILED
    record.finished_at = now
    record.seconds = round((now - record.started_at).total_seconds(), 3)
    context.save_record(record)
    summary = {
        "failed_state": state,
        "failed_step": step.value if step else None,
        "error": record.error,
        "rolled_back": record.rolled_back,
    }
    (context.output_dir("cleanup") / "cleanup.json").write_text(
        json.dumps(summary, indent=2), encoding="utf-8"
    )
    log.warning("run %s failed in %s: %s", record.run_id, state, record.error)
    return summary


def _failure_record(context: StepContext) -> Mapping[str, Any]:
    try:
        body = context.s3.get_object(
            Bucket=context.env.artifacts_bucket, Key=context.run_key(FAILURE_RECORD_NAME)
        )
        document = json.loads(body["Body"].read())
    except ClientError as err:
        log.warning(
            "no %s for run %s (%s): the record gets what it has", FAILURE_RECORD_NAME, context.run_id, err
        )
        return {}
    except ValueError as err:
        log.warning("%s of run %s is not JSON: %s", FAILURE_RECORD_NAME, context.run_id, err)
        return {}
    return document if isinstance(document, dict) else {}


def _cause(failure: Any) -> str:
    """``<Error>: <Cause>``; a failed job's cause (its Describe* output, JSON) shortened to its reason."""
    if not isinstance(failure, dict):
        return "the pipeline state machine took its failure path"
    error, cause = failure.get("Error"), failure.get("Cause")
    try:
        job = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        job = None
    if isinstance(job, dict) and ("TrainingJobName" in job or "ProcessingJobName" in job):
        name = job.get("TrainingJobName") or job.get("ProcessingJobName")
        status = job.get("TrainingJobStatus") or job.get("ProcessingJobStatus")
        cause = f"job {name} {status}: {job.get('FailureReason') or 'no reason given'}"
    return ": ".join(str(part) for part in (error, cause) if part) or "unknown error"


def _failed_step(record: RunRecord, state: str | None) -> StepName | None:
    if record.failed_step is not None:
        return record.failed_step
    for status in (StepStatus.RUNNING, StepStatus.PENDING):
        for step in record.steps:
            if step.status is status:
                return step.name
    return _STATE_STEPS.get(state or "")


def _roll_back(context: StepContext, record: RunRecord) -> list[str]:
    removed: list[str] = []
    s3, models = context.s3, context.env.models_bucket
    registry = open_registry(context.sagemaker, context.env.model_package_group)
    for version in registry.list_model_versions():
        if version.lineage is None or version.lineage.run_id != record.run_id:
            continue
        try:
            context.sagemaker.delete_model_package(ModelPackageName=version.arn)
            removed.append(version.arn)
        # plain moto raises NotImplementedError for DeleteModelPackage (the emulator implements it)
        except (ClientError, NotImplementedError) as err:
            log.warning("cannot delete model package %s (%s); marking it Rejected", version.arn, err)
            registry.update_approval_status(
                version.version,
                ApprovalStatus.REJECTED,
                reason=f"run {record.run_id} failed after registering this version: {record.error}",
            )
            removed.append(f"{version.arn} (rejected)")
    uploaded = record.artifacts.pop(UPLOADED_ARTIFACT, None)
    if uploaded:
        bucket, key = parse_s3_uri(uploaded)
        if _delete_versions(s3, bucket, key, exact=True):
            removed.append(uploaded)
    prefix = f"{TRAINING_OUTPUT_PREFIX}/{record.run_id}/"
    if _delete_versions(s3, models, prefix, exact=False):
        removed.append(s3_uri(models, prefix))
    return removed


def _delete_versions(s3: Any, bucket: str, prefix: str, *, exact: bool) -> int:
    """Delete every version and delete marker of ``prefix`` (the key itself when ``exact``)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if exact and item["Key"] != prefix:
                continue
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            deleted += 1
    return deleted


def main(argv: Sequence[str] = ()) -> int:
    return run_command("cleanup", cleanup, argv)


__all__ = ["TRAINING_OUTPUT_PREFIX", "cleanup", "main"]
