"""Data arrival: an object landed under ``incoming/`` in the tenant's data bucket; start its pipeline run.

Slim: it parses the S3 event and starts one execution of the tenant's pipeline state machine per
dataset object (the execution name is the run id, derived from the object version, so a
redelivered event is skipped as a duplicate). The work itself runs in SageMaker jobs.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event

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
_sfn: Any = None


def _client() -> Any:
    """Made on first use (never at import), then reused by warm invocations."""
    global _sfn
    if _sfn is None:
        _sfn = boto3.client("stepfunctions")
    return _sfn


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = required_env(os.environ, STATE_MACHINE_ENV, "TENANTML_TENANT")
    model = model_name(os.environ)
    runs = []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)
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
    return {"runs": runs}
