"""Alarm: a CloudWatch alarm changed state and notified the tenant's SNS topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from pipelines.alarms import alarm_notifications_from_sns

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notifications = alarm_notifications_from_sns(SNSEvent(event))
    for note in notifications:
        logger.info("alarm notification", extra=note.model_dump(mode="json"))
    return {"alarms": [n.alarm_name for n in notifications]}
