"""Alarm: a CloudWatch alarm changed state and notified the tenant's internal alarms topic."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from pipelines.monitoring.alarm_actions import (
    AlarmContext,
    alarm_notifications_from_sns,
    handle_alarm_notifications,
)

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notifications = alarm_notifications_from_sns(SNSEvent(event))
    for note in notifications:
        logger.info("alarm notification", extra=note.model_dump(mode="json"))
    if not notifications:
        return {"alarms": [], "outcomes": []}
    outcomes = handle_alarm_notifications(notifications, AlarmContext.from_env(os.environ))
    for outcome in outcomes:
        logger.info(
            f"alarm {outcome.alarm_name} {outcome.state}: {outcome.action}", extra=outcome.model_dump()
        )
    return {"alarms": [n.alarm_name for n in notifications], "outcomes": [o.model_dump() for o in outcomes]}
