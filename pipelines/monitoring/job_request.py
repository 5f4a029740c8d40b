"""The SageMaker processing job that runs drift monitoring (``python -m pipelines.container monitor``).

Standard library only: the slim monitor Lambda builds the request with it. The job reads the
inference-log stream from its checkpoints, so the request carries no data, only settings in its
``Environment`` (SageMaker allows 256 characters per value, hence single settings rather than
the model spec's JSON).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelines.runs.pipeline_start import required_env

#: what the job's environment carries, and where the monitor Lambda gets each value
JOB_ENV_FROM_FUNCTION = (
    "TENANTML_TENANT",
    "TENANTML_ARTIFACTS_BUCKET",
    "TENANTML_MODEL_PACKAGE_GROUP",
    "TENANTML_STREAM_NAME",
)
MAX_JOB_NAME = 63


def monitor_job_name(prefix: str, now: datetime) -> str:
    """``<prefix>-monitor-<UTC yyyymmddHHMM>``: at most one job per minute (a second start is refused
    by SageMaker as a name in use); a prefix too long for 63 characters is shortened with a hash."""
    suffix = f"-monitor-{now.astimezone(UTC):%Y%m%d%H%M}"
    if len(prefix) + len(suffix) > MAX_JOB_NAME:
        digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
        prefix = f"{prefix[: MAX_JOB_NAME - len(suffix) - 9]}-{digest}"
    return prefix + suffix


def monitor_job_request(environ: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The ``CreateProcessingJob`` request for one monitoring pass."""
    env = required_env(
        environ,
        "TENANTML_NAME_PREFIX",
        "TENANTML_IMAGE_URI",
        "TENANTML_MONITORING_ROLE_ARN",
        "TENANTML_MODEL_SPEC",
        *JOB_ENV_FROM_FUNCTION,
    )
    model = json.loads(env["TENANTML_MODEL_SPEC"])
    monitoring = json.loads(environ.get("TENANTML_MONITORING_SPEC") or "{}")
    job_env = {name: env[name] for name in JOB_ENV_FROM_FUNCTION}
    job_env["TENANTML_MODEL_NAME"] = str(model["name"])
    if model.get("drift_threshold") is not None:
        job_env["TENANTML_DRIFT_THRESHOLD"] = str(model["drift_threshold"])
    if monitoring.get("drift_min_rows") is not None:
        job_env["TENANTML_DRIFT_MIN_ROWS"] = str(monitoring["drift_min_rows"])
    return {
        "ProcessingJobName": monitor_job_name(env["TENANTML_NAME_PREFIX"], now),
        "RoleArn": env["TENANTML_MONITORING_ROLE_ARN"],
        "AppSpecification": {
            "ImageUri": env["TENANTML_IMAGE_URI"],
            "ContainerEntrypoint": ["python", "-m", "pipelines.container", "monitor"],
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        "Environment": job_env,
    }


__all__ = ["monitor_job_name", "monitor_job_request"]
