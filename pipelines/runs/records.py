"""What a pipeline run leaves behind: its record (``runs/<run_id>/run.json``) and its id.

Apart from the step commands (:mod:`pipelines.runs.steps`) so that readers of run records (the CLI,
``up``) need not import the run machinery and its ML libraries.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import PipelineRunError
from pipelines.evaluation.gate import GateDecision
from pipelines.registry.lineage import DataSource

RUNS_PREFIX = "runs"
RUN_RECORD_NAME = "run.json"


class StepName(StrEnum):
    INGEST = "ingest"
    VALIDATE = "validate"
    TRAIN = "train"
    EVALUATE = "evaluate"
    GATE = "gate"
    REGISTER = "register"


STEPS: tuple[StepName, ...] = tuple(StepName)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepRecord(BaseModel):
    """One step of a run: status, timing, the error if it failed, a few result figures."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: StepName
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    error: str | None = None
    log_uri: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)


class RunRecord(BaseModel):
    """Everything about one run; stored as ``runs/<run_id>/run.json`` in the artifacts bucket."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    format_version: Literal[1] = 1
    run_id: str
    tenant: str
    model_name: str
    status: RunStatus = RunStatus.RUNNING
    trigger: str = "manual"
    record_uri: str
    executor: str
    code_revision: str
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float | None = None
    steps: list[StepRecord]
    data_uri: str
    data_version_id: str | None = None
    data_sha256: str | None = None
    data_size_bytes: int | None = None
    #: the sources an assembled dataset was made of (lineage ``data_sources``)
    data_sources: list[DataSource] = Field(default_factory=list)
    failed_step: StepName | None = None
    #: the state machine's state whose failure ended the run (``Train``, ``Register``, ...)
    failed_state: str | None = None
    error: str | None = None
    error_type: str | None = None
    #: artifact name -> S3 URI (reports, baseline, logs, data splits)
    artifacts: dict[str, str] = Field(default_factory=dict)
    training_job_name: str | None = None
    #: the candidate's metrics on the holdout
    metrics: dict[str, float] = Field(default_factory=dict)
    champion_version: int | None = None
    champion_metrics: dict[str, float] | None = None
    gate: GateDecision | None = None
    model_version: int | None = None
    model_package_arn: str | None = None
    approval_status: str | None = None
    alias: str | None = None
    model_artifact_uri: str | None = None
    model_artifact_sha256: str | None = None
    #: what was removed again after a failure (object URIs, model package ARNs)
    rolled_back: list[str] = Field(default_factory=list)
    alert_message_id: str | None = None

    @field_validator("gate", mode="before")
    @classmethod
    def _gate_from_json(cls, value: Any) -> Any:
        # GateDecision serializes its computed ``status``, which its own validation rejects
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != "status"}
        return value

    def step(self, name: StepName | str) -> StepRecord:
        return next(s for s in self.steps if s.name == StepName(name))

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def report_uri(self) -> str | None:
        """The report most worth reading: the evaluation report, else the validation report."""
        return self.artifacts.get("evaluation_report") or self.artifacts.get("validation_report_html")

    def raise_for_status(self) -> RunRecord:
        if self.status is RunStatus.FAILED:
            step = self.failed_step.value if self.failed_step else None
            raise PipelineRunError(
                f"run {self.run_id} of model {self.model_name!r} (tenant {self.tenant}) failed in step "
                f"{step}: {self.error}\nrun record: {self.record_uri}",
                run_id=self.run_id,
                step=step,
                reason=self.error or "",
            )
        return self


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20250101T120000Z-1a2b3c4d5e6f``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{os.urandom(6).hex()}"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}"


def read_run_record(s3: Any, artifacts_bucket: str, run_id: str) -> RunRecord:
    body = s3.get_object(Bucket=artifacts_bucket, Key=f"{run_prefix(run_id)}/{RUN_RECORD_NAME}")[
        "Body"
    ].read()
    return RunRecord.model_validate_json(body)
