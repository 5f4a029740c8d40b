"""Data arrival: an object landed under ``incoming/`` in the tenant's data bucket; start a run."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event

from pipelines.runs.arrivals import DataArrival, arrivals_from_s3_event
from pipelines.runs.arrivals_handler import handle_arrivals

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    arrivals: list[DataArrival] = arrivals_from_s3_event(S3Event(event))
    for arrival in arrivals:
        logger.info(f"data arrived: s3://{arrival.bucket}/{arrival.key}", extra=arrival.model_dump())
    outcomes = handle_arrivals(arrivals, os.environ)
    for outcome in outcomes:
        logger.info(f"run {outcome.action}: {outcome.data_uri}", extra=outcome.model_dump())
    return {"arrivals": [a.model_dump() for a in arrivals], "runs": [o.model_dump() for o in outcomes]}
