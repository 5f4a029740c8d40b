"""Features: the schedule's tick starts one ``features`` processing job that materializes every view.

Slim: the job (``python -m pipelines.container features --all-views``) does the work. Its own
function rather than a branch of data arrival: a schedule that fails (or a job that cannot start)
alarms as itself, not as a crashed pipeline run, and neither trigger's retries or concurrency
hold the other's back. The job name carries the tick's minute (the event's ``time``), so a
redelivered tick starts nothing new.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from pipelines.features.job_request import is_duplicate_job, scheduled_job_request

logger = Logger()
_sagemaker: Any = None


def _client() -> Any:
    """Made on first use (never at import), then reused by warm invocations."""
    global _sagemaker
    if _sagemaker is None:
        _sagemaker = boto3.client("sagemaker")
    return _sagemaker


def _tick_time(event: dict[str, Any]) -> datetime:
    """When the schedule fired (EventBridge's ``time``, ISO 8601 UTC); now, for an event without one."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            logger.warning(f"the event's time {value!r} is not ISO 8601: the job is named after now")
    return datetime.now(UTC)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = scheduled_job_request(os.environ, _tick_time(event))
    name = request["ProcessingJobName"]
    try:
        _client().create_processing_job(**request)
    except ClientError as err:
        if not is_duplicate_job(err.response):
            raise
        logger.info(f"features job {name} was started already: skipped")
        return {"job": name, "outcome": "duplicate"}
    logger.info(f"features job {name} started", extra={"rule": event.get("resources")})
    return {"job": name, "outcome": "started"}
