"""Retraining decisions: why a retrain was asked for, and the history ``tenantml monitor`` shows.

The alarm Lambda (``lambdas/alarm/handler.py``) takes the cooldown (:mod:`pipelines.runs.cooldown`) and
starts the pipeline state machine with trigger ``retrain``; the retrained candidate faces the same
validation, evaluation and promotion gate as any other. Decisions stored under
``retraining/<model>/history/`` are read back by :func:`read_history`; a version's cause is kept in its
registry metadata (``tenantml:retrain-cause``), which ``tenantml models show`` prints.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

RETRAINING_PREFIX = "retraining"
#: registry metadata key of the cause of a retrained version
CAUSE_METADATA_KEY = "tenantml:retrain-cause"


class RetrainCause(BaseModel):
    """Why a retrain was asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_name: str
    metric: str
    value: float | None = None
    threshold: float | None = None
    #: when the alarm changed state (CloudWatch's StateChangeTime)
    changed_at: str | None = None
    #: the version serving when the alarm fired
    version: str | None = None
    drifted_features: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        value = "?" if self.value is None else f"{self.value:.4g}"
        threshold = "?" if self.threshold is None else f"{self.threshold:.4g}"
        text = f"alarm {self.alarm_name}: {self.metric}={value} > {threshold} since {self.changed_at or '?'}"
        if self.version:
            text += f" on v{self.version}"
        if self.drifted_features:
            text += f"; drifted: {', '.join(self.drifted_features)}"
        return text


class RetrainDecision(BaseModel):
    """Started or skipped, and why; stored under ``retraining/<model>/history/``."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    status: Literal["started", "skipped"]
    cause: RetrainCause
    decided_at: datetime
    #: the run this decision started; for a skip, the run holding the cooldown (if any)
    run_id: str | None = None
    cooldown_until: datetime | None = None
    data_uri: str | None = None
    reason: str = ""
    #: filled in once the started run has finished
    run_status: str | None = None
    model_version: int | None = None
    alias: str | None = None

    def describe(self) -> str:
        if self.status == "started":
            return (
                f"retrain started: run {self.run_id} on {self.data_uri} through the evaluation gate "
                f"(next retrain possible after {_when(self.cooldown_until)})"
            )
        return f"retrain skipped: {self.reason}"


def history_prefix(model: str) -> str:
    return f"{RETRAINING_PREFIX}/{model}/history/"


def read_history(s3: Any, bucket: str, model: str, *, limit: int = 20) -> list[RetrainDecision]:
    """The newest retrain decisions, newest first."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=history_prefix(model)):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    decisions = []
    for key in sorted(keys, reverse=True)[:limit]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        decisions.append(RetrainDecision.model_validate_json(body))
    return decisions


def _when(moment: datetime | None) -> str:
    return "unknown" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


__all__ = [
    "CAUSE_METADATA_KEY",
    "RetrainCause",
    "RetrainDecision",
    "read_history",
]
