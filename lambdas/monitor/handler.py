"""Monitor: starts the drift-monitoring SageMaker processing job while inference logs flow.

Slim: the scoring itself (decoding the log, baselines, drift statistics, metrics, snapshots) runs
in the job (``python -m pipelines.container monitor``), which reads the stream from its own
checkpoints. The Kinesis batches only say that traffic arrived: the job name carries the minute,
so at most one job starts per minute and none while the model gets no traffic. A failed job
reaches the alerts topic through the stack's EventBridge rule.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from pipelines.monitoring.job_request import monitor_job_request

logger = Logger()
_sagemaker: Any = None


def _client() -> Any:
    """Made on first use (never at import), then reused by warm invocations."""
    global _sagemaker
    if _sagemaker is None:
        _sagemaker = boto3.client("sagemaker")
    return _sagemaker


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = monitor_job_request(os.environ, datetime.now(UTC))
    name = request["ProcessingJobName"]
    try:
        _client().create_processing_job(**request)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("ResourceInUse", "ValidationException"):
            raise
        # this minute's job exists already (SageMaker never reuses a job name)
        logger.info(f"monitoring job {name} was started already: skipped")
        return {"job": name, "outcome": "duplicate", "batchItemFailures": []}
    logger.info(f"monitoring job {name} started", extra={"records": len(event.get("Records", []))})
    # the records were only a signal: the job reads the stream from its checkpoints
    return {"job": name, "outcome": "started", "batchItemFailures": []}
