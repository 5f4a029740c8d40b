"""The input of one execution of a tenant's pipeline state machine, and its run id (= execution name).

Pure standard library: the slim Lambdas (data arrival, alarm) import it, and their packages hold
no pydantic. The shape is the issue-15 contract the state machine reads:
``{"run_id", "tenant", "model", "trigger", "data": {"bucket", "key", "version_id"}, "cause"}``.

Run ids are deterministic where a redelivery must be recognised: a data arrival's id is derived
from the object version, so a redelivered S3 event names the same execution and Step Functions
answers ``ExecutionAlreadyExists`` (a duplicate, not a second run).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.errors import Problem, TenantResourcesError

TRIGGERS = ("data-arrival", "retrain", "manual", "reproduce")
#: Step Functions execution names: 1 to 80 characters of letters, digits, '-' and '_'
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def run_id_for_data(bucket: str, key: str, version_id: str | None) -> str:
    """``run-<16 hex>``: the same for every delivery of one object version."""
    identity = f"s3://{bucket}/{key}#{version_id or ''}"
    return f"run-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:16]}"


def retrain_run_id(model: str, now: datetime | None = None) -> str:
    """``retrain-<model>-<UTC yyyymmddHHMM>``: one per model and minute (the cooldown allows fewer)."""
    return f"retrain-{model}-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%d%H%M}"


def manual_run_id(now: datetime | None = None) -> str:
    """``manual-<UTC yyyymmddHHMMSS>-<4 hex>``."""
    return f"manual-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def pipeline_input(
    *,
    run_id: str,
    tenant: str,
    model: str,
    trigger: str,
    bucket: str,
    key: str,
    version_id: str | None = None,
    cause: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The execution input; every field is checked, and all problems are named at once."""
    problems = []
    if not _EXECUTION_NAME.match(run_id or ""):
        problems.append(
            Problem("run_id", "must be 1 to 80 letters, digits, '-' or '_' (it names the execution)", run_id)
        )
    for field, value in (("tenant", tenant), ("model", model), ("bucket", bucket), ("key", key)):
        if not isinstance(value, str) or not value:
            problems.append(Problem(field, "must be a non-empty string", value))
    if trigger not in TRIGGERS:
        problems.append(Problem("trigger", f"must be one of {', '.join(TRIGGERS)}", trigger))
    if version_id is not None and not isinstance(version_id, str):
        problems.append(Problem("version_id", "must be a string or null", version_id))
    if cause is not None and not isinstance(cause, Mapping):
        problems.append(Problem("cause", "must be an object or null", cause))
    if problems:
        raise TenantResourcesError(problems, headline="invalid pipeline execution input")
    return {
        "run_id": run_id,
        "tenant": tenant,
        "model": model,
        "trigger": trigger,
        "data": {"bucket": bucket, "key": key, "version_id": version_id or None},
        "cause": dict(cause) if cause is not None else None,
    }


__all__ = ["TRIGGERS", "manual_run_id", "pipeline_input", "retrain_run_id", "run_id_for_data"]
