"""The input of one execution of a tenant's pipeline state machine, and its run id (= execution name).

Pure standard library: the slim Lambdas (data arrival, alarm) import it, and their packages hold
no pydantic. The shape is the issue-15 contract the state machine reads:
``{"run_id", "tenant", "model", "trigger", "data": {"bucket", "key", "version_id"}, "cause"}``, plus
``"reproduce"`` for a re-run of a registered version (trigger ``reproduce``, and only then): the
version, its model package ARN, its registered archive and sha256, the data's sha256, and the
settings it was trained with (``hyperparameters`` for the Train step, ``holdout_fraction`` for
Prepare). The state machine branches on the trigger: a reproduce run trains with those
hyperparameters and ends in Compare instead of Evaluate and Register.

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


def reproduce_run_id(version: int, now: datetime | None = None) -> str:
    """``reproduce-v<N>-<UTC yyyymmddHHMMSS>-<4 hex>``."""
    stamp = f"{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%d%H%M%S}"
    return f"reproduce-v{version}-{stamp}-{secrets.token_hex(2)}"


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
    reproduce: Mapping[str, Any] | None = None,
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
    if (trigger == "reproduce") != (reproduce is not None):
        problems.append(Problem("reproduce", "is given for trigger reproduce, and only then", trigger))
    if reproduce is not None:
        problems.extend(reproduce_problems(reproduce))
    if problems:
        raise TenantResourcesError(problems, headline="invalid pipeline execution input")
    body = {
        "run_id": run_id,
        "tenant": tenant,
        "model": model,
        "trigger": trigger,
        "data": {"bucket": bucket, "key": key, "version_id": version_id or None},
        "cause": dict(cause) if cause is not None else None,
    }
    if reproduce is not None:
        body["reproduce"] = {name: reproduce[name] for name in REPRODUCE_FIELDS}
        body["reproduce"]["hyperparameters"] = dict(reproduce["hyperparameters"])
    return body


#: the ``reproduce`` block: what the Prepare, Train and Compare steps of a re-run read
REPRODUCE_FIELDS = (
    "version",
    "model_package_arn",
    "artifact_uri",
    "sha256",
    "data_sha256",
    "hyperparameters",
    "holdout_fraction",
    "code_revision",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def reproduce_problems(reproduce: Any) -> list[Problem]:
    """Every problem of a ``reproduce`` block (field names relative to ``reproduce``)."""
    if not isinstance(reproduce, Mapping):
        return [Problem("reproduce", "must be an object", reproduce)]
    problems = [
        Problem(f"reproduce.{name}", "is missing") for name in REPRODUCE_FIELDS if name not in reproduce
    ]
    version = reproduce.get("version")
    if "version" in reproduce and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        problems.append(Problem("reproduce.version", "must be a positive integer", version))
    for name in ("model_package_arn", "artifact_uri", "code_revision"):
        if name in reproduce and (not isinstance(reproduce[name], str) or not reproduce[name]):
            problems.append(Problem(f"reproduce.{name}", "must be a non-empty string", reproduce[name]))
    for name in ("sha256", "data_sha256"):
        if name in reproduce and not _SHA256.match(str(reproduce[name])):
            problems.append(Problem(f"reproduce.{name}", "must be 64 lowercase hex digits", reproduce[name]))
    hyperparameters = reproduce.get("hyperparameters")
    if "hyperparameters" in reproduce and (
        not isinstance(hyperparameters, Mapping)
        or not hyperparameters
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in hyperparameters.items())
    ):
        problems.append(
            Problem(
                "reproduce.hyperparameters", "must be a non-empty object of string values", hyperparameters
            )
        )
    fraction = reproduce.get("holdout_fraction")
    if "holdout_fraction" in reproduce and not _fraction(fraction):
        problems.append(Problem("reproduce.holdout_fraction", "must be a fraction between 0 and 1", fraction))
    return problems


def _fraction(value: Any) -> bool:
    try:
        return 0 < float(value) < 1
    except (TypeError, ValueError):
        return False


__all__ = [
    "REPRODUCE_FIELDS",
    "TRIGGERS",
    "manual_run_id",
    "pipeline_input",
    "reproduce_problems",
    "reproduce_run_id",
    "retrain_run_id",
    "run_id_for_data",
]
