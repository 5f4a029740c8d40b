"""Data arrival: an object landed in the tenant's data bucket; start the work it calls for.

Slim: it parses the S3 event and, per object,

- under ``incoming/``: starts one execution of the tenant's pipeline state machine (the execution
  name is the run id, derived from the object version, so a redelivered event is skipped as a
  duplicate);
- under ``features/<view>/`` (tenants with feature views): starts one ``features`` processing job
  that ingests the file and materializes the view (the job name is derived from the object version,
  so a redelivered event starts nothing new).

The work itself runs in SageMaker jobs.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.exceptions import ClientError

from core.feature_layout import view_of_landed_key
from pipelines.features.job_request import is_duplicate_job, landed_job_request
from pipelines.runs.execution_input import pipeline_input, run_id_for_data
from pipelines.runs.pipeline_start import (
    STATE_MACHINE_ENV,
    is_dataset_key,
    is_manual_upload,
    model_name,
    required_env,
    start_pipeline,
)

logger = Logger()
#: the views the tenant declares (comma-separated); set only for tenants with feature views
FEATURE_VIEWS_ENV = "TENANTML_FEATURE_VIEWS"
_clients: dict[str, Any] = {}


def _client(service: str = "stepfunctions") -> Any:
    """Made on first use (never at import), then reused by warm invocations."""
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def _start_features_job(view: str, bucket: str, key: str, version: str | None) -> dict[str, Any]:
    request = landed_job_request(os.environ, view=view, bucket=bucket, key=key, version=version)
    name = request["ProcessingJobName"]
    try:
        _client("sagemaker").create_processing_job(**request)
        outcome = "started"
    except ClientError as err:
        if not is_duplicate_job(err.response):
            raise
        outcome = "duplicate"  # SageMaker never reuses a job name: this file's job exists
    logger.info(f"feature data arrived at s3://{bucket}/{key}: job {name} {outcome}", extra={"job": name})
    return {
        "job": name,
        "outcome": outcome,
        "view": view,
        "bucket": bucket,
        "key": key,
        "version_id": version,
    }


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = required_env(os.environ, STATE_MACHINE_ENV, "TENANTML_TENANT")
    model = model_name(os.environ)
    views = {v for v in os.environ.get(FEATURE_VIEWS_ENV, "").split(",") if v}
    runs, feature_jobs = [], []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)
        view = view_of_landed_key(key)
        if view is not None:
            if view not in views:
                logger.warning(
                    f"ignored s3://{record.s3.bucket.name}/{key}: {view!r} is not a feature view of the "
                    f"tenant (declared: {', '.join(sorted(views)) or 'none'})"
                )
                continue
            bucket, version = record.s3.bucket.name, record.s3.get_object.version_id
            feature_jobs.append(_start_features_job(view, bucket, key, version))
            continue
        if not is_dataset_key(key):
            logger.info(f"ignored s3://{record.s3.bucket.name}/{key}: not a dataset under incoming/")
            continue
        if is_manual_upload(key):
            logger.info(f"ignored s3://{record.s3.bucket.name}/{key}: `tenantml train` runs it itself")
            continue
        bucket, version = record.s3.bucket.name, record.s3.get_object.version_id
        run_id = run_id_for_data(bucket, key, version)
        body = pipeline_input(
            run_id=run_id,
            tenant=env["TENANTML_TENANT"],
            model=model,
            trigger="data-arrival",
            bucket=bucket,
            key=key,
            version_id=version,
        )
        outcome = start_pipeline(_client(), env[STATE_MACHINE_ENV], body)
        logger.info(
            f"data arrived at s3://{bucket}/{key}: run {run_id} {outcome}",
            extra={"run_id": run_id, "outcome": outcome},
        )
        runs.append(
            {"run_id": run_id, "outcome": outcome, "bucket": bucket, "key": key, "version_id": version}
        )
    return {"runs": runs, "feature_jobs": feature_jobs}
