"""Data arrival: an object landed under ``incoming/`` in the tenant's data bucket."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event

from pipelines.arrivals import DataArrival, arrivals_from_s3_event

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    arrivals: list[DataArrival] = arrivals_from_s3_event(S3Event(event))
    for arrival in arrivals:
        logger.info("data arrived", extra=arrival.model_dump())
    return {"arrivals": [a.model_dump() for a in arrivals]}
