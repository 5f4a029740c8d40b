"""``tenantml up`` for a tenant whose model trains on feature views: the feature store's whole path.

As a team would work (docs/features.md): each view's sample rows (:mod:`tenantml.sample_features`)
land under ``features/<view>/``; the data-arrival function starts one ``features`` processing job
per file, which validates the rows into the offline store and materializes the online store; once
they completed, the point-in-time training set of the sample entity table is built as the
training role (``tenantml features training-set --no-keys``) and dropped under ``incoming/``,
where it starts the pipeline like any dataset. The endpoint ``up`` then serves looks the features
up by entity key; its bake probes send entity keys only.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: a features job pulls the image and imports pyarrow and DuckDB: well under a minute here
FEATURES_JOB_TIMEOUT_S = 300
_JOB_POLL_S = 0.5
_FINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class FeatureDemo:
    """What ``up`` did before the tenant's pipeline run: the jobs, the training set, the probes."""

    jobs: dict[str, dict[str, Any]]
    training_set: dict[str, Any] | None
    probes: list[str]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "training_set": self.training_set,
            **({"error": self.error} if self.error else {}),
        }


def wait_for_processing_job(sagemaker: Any, name: str, *, timeout: float) -> dict[str, Any]:
    """DescribeProcessingJob until the job ends (or ``timeout`` passes: then its last description)."""
    deadline = time.monotonic() + timeout
    while True:
        job = sagemaker.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in _FINAL or time.monotonic() > deadline:
            return job
        time.sleep(_JOB_POLL_S)


def _started_jobs(history: list[Any]) -> list[str]:
    names: list[str] = []
    for result in history:
        if not result.failed:
            names += [job["job"] for job in json.loads(result.payload or b"{}").get("feature_jobs", [])]
    return names


def run_feature_demo(context: Any, spec: Any, outputs: dict[str, Any]) -> FeatureDemo:
    """Land the views' sample rows, follow their jobs, and drop the point-in-time training set
    under ``incoming/`` (which starts the pipeline). A failed step ends the demo with its error."""
    import boto3
    from botocore.exceptions import ClientError

    from core.errors import TenantmlError
    from pipelines.features.offline import OfflineStore
    from tenantml.sample_features import feature_sample, parquet_bytes, probe_requests, sample_feature_key
    from tenantml.workload_roles import role_botocore_session

    tenant = spec.name
    views = [spec.features.view(name) for name in spec.model.feature_views]
    sample = feature_sample(views, target=spec.model.target, problem=spec.model.problem)
    admin = context.server_session.for_account(spec.account_id)
    s3 = admin.client("s3", spec.region)
    bucket = outputs["data_bucket_name"]
    for view in views:
        key = sample_feature_key(view.name)
        s3.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(sample.views[view.name]))
        context.report(
            f"{tenant}: landed {len(sample.views[view.name]):,} rows of feature view {view.name} at "
            f"s3://{bucket}/{key}; its data-arrival function starts a features job"
        )
    function = outputs["data_arrival_function_name"]
    timeout = spec.lambdas.timeout_seconds + 60
    if not context.runtime.wait_idle(timeout=timeout):
        context.report(f"{tenant}: data-arrival function still running after {timeout} s")
    sagemaker = admin.client("sagemaker", spec.region)
    jobs: dict[str, dict[str, Any]] = {}
    for name in _started_jobs(context.runtime.history(function)):
        job = wait_for_processing_job(sagemaker, name, timeout=FEATURES_JOB_TIMEOUT_S)
        status = job["ProcessingJobStatus"]
        jobs[name] = {
            "status": status,
            **({"reason": job["FailureReason"]} if job.get("FailureReason") else {}),
        }
        context.report(f"{tenant}: features job {name} {status.lower()}")
    failed = {n: j for n, j in jobs.items() if j["status"] != "Completed"}
    if len(jobs) < len(views) or failed:
        error = "; ".join(
            f"{n}: {j['status']} ({j.get('reason', 'no reason given')})" for n, j in failed.items()
        )
        return FeatureDemo(
            jobs, None, [], error or f"{len(jobs)} features job(s) started for {len(views)} view(s)"
        )

    # the training set is built as the training role, as `tenantml features training-set` does
    role = role_botocore_session(
        outputs["training_role_arn"],
        endpoint=context.endpoint,
        region=spec.region,
        account_id=spec.account_id,
        session_name="tenantml-up-features",
    )
    role_s3 = boto3.Session(botocore_session=role).client(
        "s3", region_name=spec.region, endpoint_url=context.endpoint
    )
    key = f"incoming/sample/{spec.model.name}-training-set.parquet"
    with tempfile.TemporaryDirectory(prefix="tenantml-up-features-") as work:
        entities, out = Path(work) / "entities.parquet", Path(work) / "training-set.parquet"
        sample.entities.to_parquet(entities, index=False)
        try:
            with OfflineStore(role_s3, bucket) as store:
                result = store.training_set(views, entities, out, keep_keys=False)
        except (TenantmlError, ClientError) as err:
            return FeatureDemo(jobs, None, [], f"the point-in-time training set failed: {err}")
        s3.put_object(Bucket=bucket, Key=key, Body=out.read_bytes())
    training_set = {
        "uri": f"s3://{bucket}/{key}",
        "rows": result.rows,
        "columns": list(result.columns),
        "views": list(result.views),
    }
    context.report(
        f"{tenant}: point-in-time training set of {result.rows:,} rows from {', '.join(result.views)} "
        f"dropped at {training_set['uri']}; its data-arrival function starts the pipeline"
    )
    return FeatureDemo(jobs, training_set, probe_requests(sample))


__all__ = ["FeatureDemo", "run_feature_demo", "wait_for_processing_job"]
