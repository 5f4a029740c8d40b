"""A pipeline run started by hand (``tenantml train``): one execution of the tenant's state machine.

The data is staged where the job role reads it (a local file or the bundled sample is uploaded
under ``incoming/manual/``, which the data-arrival trigger leaves to us; an ``s3://`` URI is used
as it is), pinned to its current object version, and the execution is started with trigger
``manual`` and a fresh run id (:mod:`pipelines.runs.execution_input`). It is then followed state by
state (:mod:`tenantml.executions`), and what the run did is read back from ``runs/<run_id>/run.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from botocore.exceptions import ClientError
from rich.console import Console

from core.errors import Problem, TenantResourcesError, UsageError
from pipelines.runs.execution_input import manual_run_id, pipeline_input, reproduce_run_id
from pipelines.runs.pipeline_start import MANUAL_PREFIX, start_pipeline
from pipelines.runs.records import RunRecord, RunStatus
from tenantml.executions import execution_arn, read_run_json

#: the sample's key when ``--data`` is left out (under the manual prefix: the trigger ignores it)
MANUAL_SAMPLE_KEY = f"{MANUAL_PREFIX}sample/breast_cancer.parquet"


@dataclass(frozen=True)
class DataObject:
    """One object version the run reads."""

    bucket: str
    key: str
    version_id: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def stage_data(s3: Any, data_bucket: str, data: str | None) -> DataObject:
    """The ``--data`` object with its current version id: uploaded first unless it is an ``s3://`` URI."""
    from tenantml.sample_data import upload_sample_dataset

    if data is not None and data.startswith("s3://"):
        bucket, _, key = data.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise UsageError(f"--data {data}: an s3:// URI names a bucket and a key")
    elif data is None:
        bucket, key = data_bucket, MANUAL_SAMPLE_KEY
        upload_sample_dataset(s3, bucket, key=key)
    else:
        path = Path(data)
        if not path.is_file():
            raise UsageError(f"--data {data}: no such file (give a local Parquet/CSV file or an s3:// URI)")
        bucket, key = data_bucket, f"{MANUAL_PREFIX}{path.name}"
        s3.upload_file(str(path), bucket, key)
    try:
        version = s3.head_object(Bucket=bucket, Key=key).get("VersionId")
    except ClientError as err:
        raise UsageError(f"--data s3://{bucket}/{key}: cannot be read ({err})") from err
    return DataObject(bucket=bucket, key=key, version_id=None if version in (None, "null") else version)


def start_manual_run(
    sfn: Any,
    state_machine_arn: str | None,
    *,
    tenant: str,
    model: str,
    data: DataObject,
    trigger: str = "manual",
    run_id: str | None = None,
    reproduce: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Start the execution; its run id and ARN. ``reproduce``: the block of a re-run of a
    registered version (:func:`pipelines.runs.reproduce.reproduction_request`)."""
    if not state_machine_arn:
        raise TenantResourcesError(
            [Problem("pipeline_state_machine_arn", "is missing from the outputs: apply the tenant's stack")],
            headline="the tenant's outputs name no pipeline state machine",
        )
    if run_id is None:
        run_id = reproduce_run_id(reproduce["version"]) if reproduce is not None else manual_run_id()
    body = pipeline_input(
        run_id=run_id,
        tenant=tenant,
        model=model,
        trigger=trigger,
        bucket=data.bucket,
        key=data.key,
        version_id=data.version_id,
        reproduce=reproduce,
    )
    if start_pipeline(sfn, state_machine_arn, body) == "duplicate":
        # a fresh run id is never a duplicate, unless two starts raced within the same second
        raise UsageError(f"an execution named {run_id} exists already: run the command again")
    return run_id, execution_arn(state_machine_arn, run_id)


def finished_record(s3: Any, artifacts_bucket: str, run_id: str, execution: dict[str, Any]) -> RunRecord:
    """The run record of an ended execution; a failed execution's record is failed, naming the state.

    A run that failed before its first step wrote ``run.json`` (or whose Cleanup could not mark it)
    is described from ``failure.json`` and the execution's own error and cause."""
    document = read_run_json(s3, artifacts_bucket, run_id, "run.json")
    record = RunRecord.model_validate(document) if document is not None else None
    if execution["status"] == "SUCCEEDED" and record is not None:
        return record
    failure = read_run_json(s3, artifacts_bucket, run_id, "failure.json") or {}
    state = failure.get("failed_step") or (record.failed_state if record else None)
    cause = failure.get("failure") or {}
    reason = (
        (record.error if record and record.error else None)
        or (cause.get("Cause") if isinstance(cause, dict) else None)
        or execution.get("cause")
        or execution.get("error")
        or f"the execution ended {execution['status']}"
    )
    if record is None:
        from datetime import UTC, datetime

        return RunRecord(
            run_id=run_id,
            tenant="-",
            model_name="-",
            status=RunStatus.FAILED,
            record_uri=f"s3://{artifacts_bucket}/runs/{run_id}/run.json",
            executor="state machine",
            code_revision="-",
            started_at=execution.get("startDate") or datetime.now(UTC),
            steps=[],
            data_uri="-",
            failed_state=state,
            error=str(reason),
        )
    if record.status is RunStatus.FAILED:
        return record.model_copy(update={"failed_state": record.failed_state or state})
    return record.model_copy(
        update={
            "status": RunStatus.FAILED,
            "failed_state": state or record.failed_state,
            "error": str(reason),
        }
    )


class StateProgress:
    """A rich progress line per state the execution enters: the previous one is done when the next starts."""

    def __init__(self, out: Console) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description:<16}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=out,
        )
        self._current: Any = None

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, state: str) -> None:
        self._finish("[green]done")
        self._current = self._progress.add_task(state, total=1, status="running")

    def ended(self, execution: dict[str, Any]) -> None:
        """Mark the last state with how the execution ended."""
        ok = execution["status"] == "SUCCEEDED"
        self._finish("[green]done" if ok else f"[bold red]{execution['status'].lower()}")

    def _finish(self, status: str) -> None:
        if self._current is not None:
            self._progress.update(self._current, completed=1, status=status)
            self._progress.stop_task(self._current)
            self._current = None


__all__ = [
    "MANUAL_SAMPLE_KEY",
    "DataObject",
    "StateProgress",
    "finished_record",
    "stage_data",
    "start_manual_run",
]
