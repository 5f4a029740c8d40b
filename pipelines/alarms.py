"""CloudWatch alarm notifications delivered through the tenant's SNS topic."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from pydantic import BaseModel, ConfigDict, Field


class AlarmNotification(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    alarm_name: str = Field(alias="AlarmName")
    new_state: str = Field(alias="NewStateValue")
    old_state: str | None = Field(default=None, alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    changed_at: str | None = Field(default=None, alias="StateChangeTime")


def alarm_notifications_from_sns(event: SNSEvent) -> list[AlarmNotification]:
    """The alarm state changes in ``event``; other messages on the topic (alerts) are skipped."""
    notes = []
    for record in event.records:
        try:
            body = json.loads(record.sns.message)
        except json.JSONDecodeError:
            continue
        if isinstance(body, dict) and "AlarmName" in body and "NewStateValue" in body:
            notes.append(AlarmNotification.model_validate(body))
    return notes
