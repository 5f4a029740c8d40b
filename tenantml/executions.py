"""Following a pipeline run from outside: the execution of the tenant's state machine named by its run id.

The operator's view (``up``'s lifecycle, ``tenantml train``): DescribeExecution until the execution
ends, a progress callback whenever it enters another state (from its history), then what the run
left in the artifacts bucket: ``runs/<run_id>/run.json`` (the step commands keep it) and, on the
failure path, ``runs/<run_id>/failure.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from core.errors import PipelineExecutionTimeoutError

#: how often the execution is described while it runs
POLL_SECONDS = 0.5


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """``arn:...:execution:<machine>:<run id>`` (the execution name is the run id)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"


def current_state(sfn: Any, arn: str) -> str | None:
    """The state the execution entered last, from its history (None if it cannot be read)."""
    try:
        events = sfn.get_execution_history(executionArn=arn)["events"]
    except ClientError:
        return None
    # newest last (moto ignores reverseOrder); a run's history is a few hundred events at most
    for event in sorted(events, key=lambda e: e.get("id", 0), reverse=True):
        details = event.get("stateEnteredEventDetails")
        if details and details.get("name"):
            return str(details["name"])
    return None


def wait_for_execution(sfn: Any, arn: str, *, timeout: float) -> dict[str, Any]:
    """The execution's description once it exists (a data-arrival function starts it asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return sfn.describe_execution(executionArn=arn)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
        if time.monotonic() >= deadline:
            raise PipelineExecutionTimeoutError(f"no execution {arn} was started within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def follow_execution(
    sfn: Any,
    arn: str,
    *,
    timeout: float,
    on_state: Callable[[str], None] | None = None,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Describe ``arn`` until it is no longer RUNNING; ``on_state`` hears every state it enters."""
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if on_state is not None:
            state = current_state(sfn, arn)
            if state and state != last:
                last = state
                on_state(state)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() >= deadline:
            raise PipelineExecutionTimeoutError(
                f"execution {arn} still running after {timeout:.0f} s (in state {last or 'unknown'})"
            )
        time.sleep(poll)


def read_run_json(s3: Any, bucket: str, run_id: str, name: str) -> dict[str, Any] | None:
    """``runs/<run_id>/<name>`` as JSON, or None when the run never wrote it."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"runs/{run_id}/{name}")["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    document = json.loads(body)
    return document if isinstance(document, dict) else None


def run_outcome(s3: Any, bucket: str, run_id: str, execution: dict[str, Any]) -> dict[str, Any]:
    """What ``up`` shows of a finished run: the run record's figures, else the execution's failure."""
    record = read_run_json(s3, bucket, run_id, "run.json") or {}
    outcome: dict[str, Any] = {
        "status": record.get("status") or ("succeeded" if execution["status"] == "SUCCEEDED" else "failed"),
        "run_id": run_id,
        "record_uri": record.get("record_uri") or f"s3://{bucket}/runs/{run_id}/run.json",
        "execution_status": execution["status"],
        "model_version": record.get("model_version"),
        "approval_status": record.get("approval_status"),
        "alias": record.get("alias"),
        "metrics": record.get("metrics", {}),
        "seconds": record.get("seconds"),
        "error": record.get("error"),
        "failed_step": record.get("failed_step"),
        "reports": {k: v for k, v in record.get("artifacts", {}).items() if k.endswith("report")},
    }
    if execution["status"] != "SUCCEEDED":
        failure = read_run_json(s3, bucket, run_id, "failure.json") or {}
        outcome["status"] = "failed"
        outcome["failed_state"] = failure.get("failed_step") or record.get("failed_state")
        outcome["error"] = outcome["error"] or json.dumps(failure.get("failure")) or execution.get("cause")
    return outcome


__all__ = [
    "current_state",
    "execution_arn",
    "follow_execution",
    "read_run_json",
    "run_outcome",
    "wait_for_execution",
]
