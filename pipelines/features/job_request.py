"""The SageMaker processing job that ingests and materializes feature data (``features``).

Standard library only: the data-arrival Lambda (a file landed under ``features/<view>/``) and the
features Lambda (the schedule) build the request with it. The job runs the tenant's image as the
training role, which may read and write the offline store and write the online store.

The job's contract, for ``python -m pipelines.container features`` (the container command):

- entrypoint ``python -m pipelines.container features``, arguments ``--view <view>`` (one landed
  file: ingest it into the offline store, then materialize that view) or ``--all-views`` (the
  schedule: materialize every view of the spec incrementally from its watermark);
- environment, each value at most 256 characters (SageMaker's limit):

  ``TENANTML_TENANT``            the tenant
  ``TENANTML_DATA_BUCKET``       the data bucket (landed rows and the offline store)
  ``TENANTML_FEATURES_TABLE``    the online table
  ``TENANTML_FEATURES_DATABASE`` the Glue database: each view's table holds its spec (parameter
                                 ``tenantml.view``), which the job reads
  ``TENANTML_FEATURES_TRIGGER``  ``data-arrival`` or ``schedule``
  ``TENANTML_FEATURES_VIEW``     the view (data arrival only)
  ``TENANTML_FEATURES_KEY``      the landed object's key (data arrival only)
  ``TENANTML_FEATURES_VERSION``  the landed object's version id; empty when the bucket gave none

Job names: ``<prefix>-features-<view>-<digest of bucket, key and version>`` for a landed file, so a
redelivered S3 event starts nothing new (SageMaker refuses a name in use), and
``<prefix>-features-all-<UTC yyyymmddHHMM>`` for the schedule, at most one per minute. The name
keeps the whole prefix whenever it fits: the functions may start ``processing-job/<prefix>-features-*``
only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.errors import FeatureDataError, Problem
from pipelines.runs.pipeline_start import required_env

#: the environment the functions hand on to the job as it is
JOB_ENV_FROM_FUNCTION = (
    "TENANTML_TENANT",
    "TENANTML_DATA_BUCKET",
    "TENANTML_FEATURES_TABLE",
    "TENANTML_FEATURES_DATABASE",
)
#: what else the functions need to build the request
FUNCTION_ENV = ("TENANTML_NAME_PREFIX", "TENANTML_IMAGE_URI", "TENANTML_TRAINING_ROLE_ARN")
MAX_JOB_NAME = 63
MAX_ENV_VALUE = 256
CONTAINER_ENTRYPOINT = ("python", "-m", "pipelines.container", "features")
DATA_ARRIVAL = "data-arrival"
SCHEDULE = "schedule"
_DIGEST = 10


def features_job_name(prefix: str, label: str, suffix: str) -> str:
    """``<prefix>-features-<label>-<suffix>`` in at most 63 characters of SageMaker's alphabet.

    ``label`` (a view name: '_' becomes '-', which SageMaker allows) is shortened first; when even
    ``<prefix>-features-<suffix>`` does not fit, the prefix is shortened with a hash of it, as the
    monitoring job's is (such a name is outside the functions' grant: a tenant name that long
    cannot start feature jobs, and the start fails with AccessDenied naming the job)."""
    label = label.replace("_", "-").strip("-")
    head = f"{prefix}-features-"
    room = MAX_JOB_NAME - len(head) - len(suffix) - 1
    if room >= 1 and label:
        return f"{head}{label[:room].rstrip('-')}-{suffix}"
    if len(head) + len(suffix) <= MAX_JOB_NAME:
        return head + suffix
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    keep = MAX_JOB_NAME - len("-features-") - len(suffix) - 9
    return f"{prefix[:keep]}-{digest}-features-{suffix}"


def is_duplicate_job(error_response: Mapping[str, Any]) -> bool:
    """Whether a refused ``CreateProcessingJob`` (botocore's ``err.response``) says the name is taken:
    SageMaker answers ``ValidationException`` "... a job with this name already exists" (some SDKs
    and older endpoints ``ResourceInUse``). Any other validation error is a real one."""
    error = error_response.get("Error", {})
    code, message = error.get("Code"), str(error.get("Message", ""))
    return code == "ResourceInUse" or (code == "ValidationException" and "already exists" in message)


def _request(
    env: Mapping[str, str], name: str, arguments: list[str], job_env: dict[str, str]
) -> dict[str, Any]:
    too_long = [
        Problem(f"Environment.{key}", f"is {len(value)} characters; SageMaker allows {MAX_ENV_VALUE}", value)
        for key, value in job_env.items()
        if len(value) > MAX_ENV_VALUE
    ]
    if too_long:
        raise FeatureDataError(
            too_long, headline=f"the features job {name} cannot carry its settings (rename the landed file)"
        )
    return {
        "ProcessingJobName": name,
        "RoleArn": env["TENANTML_TRAINING_ROLE_ARN"],
        "AppSpecification": {
            "ImageUri": env["TENANTML_IMAGE_URI"],
            "ContainerEntrypoint": list(CONTAINER_ENTRYPOINT),
            "ContainerArguments": arguments,
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": job_env,
    }


def landed_job_request(
    environ: Mapping[str, str], *, view: str, bucket: str, key: str, version: str | None
) -> dict[str, Any]:
    """The ``CreateProcessingJob`` request for one file landed under ``features/<view>/``."""
    env = required_env(environ, *FUNCTION_ENV, *JOB_ENV_FROM_FUNCTION)
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version or ''}".encode()).hexdigest()[:_DIGEST]
    job_env = {name: env[name] for name in JOB_ENV_FROM_FUNCTION}
    job_env |= {
        "TENANTML_DATA_BUCKET": bucket,
        "TENANTML_FEATURES_TRIGGER": DATA_ARRIVAL,
        "TENANTML_FEATURES_VIEW": view,
        "TENANTML_FEATURES_KEY": key,
        "TENANTML_FEATURES_VERSION": version or "",
    }
    name = features_job_name(env["TENANTML_NAME_PREFIX"], view, digest)
    return _request(env, name, ["--view", view], job_env)


def scheduled_job_request(environ: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The ``CreateProcessingJob`` request of one scheduled tick: every view, one job per minute."""
    env = required_env(environ, *FUNCTION_ENV, *JOB_ENV_FROM_FUNCTION)
    job_env = {name: env[name] for name in JOB_ENV_FROM_FUNCTION}
    job_env["TENANTML_FEATURES_TRIGGER"] = SCHEDULE
    name = features_job_name(env["TENANTML_NAME_PREFIX"], "all", f"{now.astimezone(UTC):%Y%m%d%H%M}")
    return _request(env, name, ["--all-views"], job_env)


__all__ = [
    "CONTAINER_ENTRYPOINT",
    "FUNCTION_ENV",
    "JOB_ENV_FROM_FUNCTION",
    "features_job_name",
    "is_duplicate_job",
    "landed_job_request",
    "scheduled_job_request",
]
