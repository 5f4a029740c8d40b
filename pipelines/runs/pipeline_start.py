"""Starting an execution of the tenant's pipeline state machine: what the slim Lambdas do.

Standard library and boto3 only (the Lambda runtime provides boto3): the data arrival and alarm
handlers import this, and their packages hold no pydantic, pandas or numpy. The execution name
is the run id, so Step Functions itself refuses a second execution for the same run:
``ExecutionAlreadyExists`` means a redelivered event, logged and skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from core.errors import Problem, TenantResourcesError

log = logging.getLogger(__name__)

STATE_MACHINE_ENV = "TENANTML_PIPELINE_STATE_MACHINE_ARN"
INCOMING_PREFIX = "incoming/"
DATA_SUFFIXES = (".parquet", ".csv")
#: where ``tenantml train`` uploads a hand-given file: it starts that run itself (trigger ``manual``),
#: so the data-arrival trigger leaves these keys alone; still under ``incoming/`` for its expiry rule
MANUAL_PREFIX = "incoming/manual/"


def is_dataset_key(key: str) -> bool:
    """A dataset object under ``incoming/`` (folder markers and other files are not runs)."""
    return key.startswith(INCOMING_PREFIX) and key.lower().endswith(DATA_SUFFIXES)


def is_manual_upload(key: str) -> bool:
    """Uploaded by ``tenantml train``, which starts its own execution for it."""
    return key.startswith(MANUAL_PREFIX)


def required_env(environ: Mapping[str, str], *names: str) -> dict[str, str]:
    """The named variables, or one error naming every missing one."""
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise TenantResourcesError(
            [Problem(f"environment: {name}", "is missing; the tenant stack sets it") for name in missing],
            headline="the function's environment is incomplete",
        )
    return {name: environ[name] for name in names}


def model_name(environ: Mapping[str, str]) -> str:
    """The tenant model's name from ``TENANTML_MODEL_SPEC`` (JSON), without validating the whole spec."""
    text = required_env(environ, "TENANTML_MODEL_SPEC")["TENANTML_MODEL_SPEC"]
    try:
        name = json.loads(text)["name"]
    except (ValueError, KeyError, TypeError) as err:
        raise TenantResourcesError(
            [Problem("environment: TENANTML_MODEL_SPEC", f"has no model name ({err})")]
        ) from err
    if not isinstance(name, str) or not name:
        raise TenantResourcesError(
            [Problem("environment: TENANTML_MODEL_SPEC: name", "must be a string", name)]
        )
    return name


def start_pipeline(sfn: Any, state_machine_arn: str, execution_input: Mapping[str, Any]) -> str:
    """``started`` or ``duplicate`` (an execution with this run id has ended already).

    Step Functions answers a start with the same name and input as a *running* execution with that
    execution (no second one), so a redelivery during the run also reads ``started``."""
    run_id = execution_input["run_id"]
    try:
        sfn.start_execution(stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(execution_input))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            log.info("run %s was started already (a redelivered event): skipped", run_id)
            return "duplicate"
        raise
    return "started"


def newest_dataset(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The newest dataset object under ``incoming/`` (key and version), or None."""
    newest: dict[str, Any] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=INCOMING_PREFIX):
        for obj in page.get("Contents", []):
            if is_dataset_key(obj["Key"]) and (
                newest is None or obj["LastModified"] > newest["LastModified"]
            ):
                newest = obj
    if newest is None:
        return None
    head = s3.head_object(Bucket=bucket, Key=newest["Key"])
    return {"bucket": bucket, "key": newest["Key"], "version_id": head.get("VersionId")}


__all__ = [
    "DATA_SUFFIXES",
    "INCOMING_PREFIX",
    "MANUAL_PREFIX",
    "STATE_MACHINE_ENV",
    "is_dataset_key",
    "is_manual_upload",
    "model_name",
    "newest_dataset",
    "required_env",
    "start_pipeline",
]
