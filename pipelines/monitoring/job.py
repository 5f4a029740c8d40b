"""The drift-monitoring processing job (``python -m pipelines.container monitor``).

The slim monitor Lambda starts it (:mod:`pipelines.monitoring.job_request`) when inference logs
arrive; it runs in the tenant's image as the pipelines role. Its settings come from the job's
``Environment`` (the names in :data:`~pipelines.monitoring.job_request.JOB_ENV_FROM_FUNCTION`,
``TENANTML_MODEL_NAME`` and the optional thresholds). It reads every shard of the inference-log
stream after that shard's checkpoint (what earlier windows published), up to what is there now,
and runs :func:`~pipelines.monitoring.monitor.monitor_batch` over that window as the Lambda did
over its batch: the same checkpoints, baselines, metrics and snapshots. A failure is written to
``/opt/ml/output/failure`` (through :func:`core.sagemaker_paths.opt_ml`), which SageMaker reports
as the job's ``FailureReason``; a summary goes to the job's log.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import Problem, TenantResourcesError
from core.sagemaker_paths import opt_ml
from pipelines.monitoring.monitor import BatchResult, MonitorClients, MonitorSettings, monitor_batch
from pipelines.monitoring.publishing import read_checkpoint

FAILURE_FILE = "/opt/ml/output/failure"
#: how long the stream must stay quiet before a job ends (``TENANTML_MONITOR_IDLE_SECONDS``)
IDLE_ENV = "TENANTML_MONITOR_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 20.0
_POLL_SECONDS = 2.0
#: at most this many Kinesis records per shard in one job (the next job reads on from the checkpoint)
MAX_RECORDS_PER_SHARD = 50_000
_REQUIRED = (
    "TENANTML_TENANT",
    "TENANTML_ARTIFACTS_BUCKET",
    "TENANTML_MODEL_PACKAGE_GROUP",
    "TENANTML_STREAM_NAME",
    "TENANTML_MODEL_NAME",
)


def job_settings(environ: Mapping[str, str]) -> tuple[MonitorSettings, str]:
    """The monitor's settings and the stream name from the job's environment; names every bad variable."""
    problems = [
        Problem(f"environment: {name}", "is missing; the monitor Lambda's job request sets it")
        for name in _REQUIRED
        if not environ.get(name)
    ]
    numbers: dict[str, Any] = {}
    for name, key, kind in (
        ("TENANTML_DRIFT_THRESHOLD", "drift_threshold", float),
        ("TENANTML_DRIFT_MIN_ROWS", "drift_min_rows", int),
    ):
        if environ.get(name):
            try:
                numbers[key] = kind(environ[name])
            except ValueError:
                problems.append(Problem(f"environment: {name}", f"is not a {kind.__name__}", environ[name]))
    if problems:
        raise TenantResourcesError(problems, headline="the monitoring job's environment is incomplete")
    settings = MonitorSettings(
        tenant=environ["TENANTML_TENANT"],
        artifacts_bucket=environ["TENANTML_ARTIFACTS_BUCKET"],
        model_name=environ["TENANTML_MODEL_NAME"],
        model_package_group=environ["TENANTML_MODEL_PACKAGE_GROUP"],
        **numbers,
    )
    return settings, environ["TENANTML_STREAM_NAME"]


def _event_record(shard_id: str, stream_arn: str, region: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record from ``GetRecords`` in the shape Lambda hands a Kinesis batch (what ``monitor_batch`` reads)."""
    sequence = record["SequenceNumber"]
    arrival = record.get("ApproximateArrivalTimestamp")
    return {
        "eventSource": "aws:kinesis",
        "eventID": f"{shard_id}:{sequence}",
        "eventSourceARN": stream_arn,
        "awsRegion": region,
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.get("PartitionKey", ""),
            "sequenceNumber": sequence,
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": arrival.timestamp() if hasattr(arrival, "timestamp") else arrival,
        },
    }


def read_window(
    kinesis: Any, s3: Any, bucket: str, stream: str, limit: int = MAX_RECORDS_PER_SHARD
) -> list[dict[str, Any]]:
    """Every shard's records after its checkpoint, up to the stream's tip now (at most ``limit`` a shard)."""
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    stream_arn = summary["StreamARN"]
    region = stream_arn.split(":")[3]
    shards: list[dict[str, Any]] = []
    pages = kinesis.get_paginator("list_shards").paginate(StreamName=stream)
    for page in pages:
        shards.extend(page["Shards"])
    window: list[dict[str, Any]] = []
    for shard in shards:
        shard_id = shard["ShardId"]
        checkpoint = read_checkpoint(s3, bucket, shard_id)
        position: dict[str, Any] = (
            {"ShardIteratorType": "TRIM_HORIZON"}
            if checkpoint is None
            else {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": str(checkpoint)}
        )
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **position)[
            "ShardIterator"
        ]
        taken = 0
        while iterator and taken < limit:
            page = kinesis.get_records(ShardIterator=iterator, Limit=min(10_000, limit - taken))
            records = page.get("Records", [])
            window.extend(_event_record(shard_id, stream_arn, region, r) for r in records)
            taken += len(records)
            iterator = page.get("NextShardIterator")
            # caught up with the tip as of now: the next job reads on from the checkpoint
            if not records and not page.get("MillisBehindLatest"):
                break
    return window


def run(
    environ: Mapping[str, str], clients: MonitorClients | None = None, kinesis: Any = None
) -> BatchResult:
    """One monitoring pass over the stream window; the clients are made from the job's role when not given."""
    settings, stream = job_settings(environ)
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if clients is None:
        clients = MonitorClients.create(settings, region=region)
    if kinesis is None:
        import boto3

        kinesis = boto3.session.Session(region_name=region).client("kinesis")
    window = read_window(kinesis, clients.s3, settings.artifacts_bucket, stream)
    return monitor_batch(window, settings, clients)


def run_until_idle(
    environ: Mapping[str, str], *, idle_seconds: float | None = None, max_seconds: float = 240.0
) -> list[BatchResult]:
    """Monitoring passes until the stream has been quiet for ``idle_seconds``.

    The monitor Lambda starts at most one job a minute: records that arrive while this job runs
    would otherwise wait for the next traffic to start another job, however long that takes.
    """
    idle = float(environ.get(IDLE_ENV, DEFAULT_IDLE_SECONDS)) if idle_seconds is None else idle_seconds
    started = time.monotonic()
    results = [run(environ)]
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < idle and time.monotonic() - started < max_seconds:
        time.sleep(min(_POLL_SECONDS, idle))
        result = run(environ)
        if result.received:
            results.append(result)
            quiet_since = time.monotonic()
    return results


def _summary(results: Sequence[BatchResult]) -> dict[str, Any]:
    counts = ("received", "processed", "malformed", "duplicates", "unmonitored")
    return {
        "passes": len(results),
        **{name: sum(getattr(r, name) for r in results) for name in counts},
        "snapshots": [snapshot for r in results for snapshot in r.snapshots],
        "failed": sum(len(r.failures) for r in results),
        "drift_scores": {v: m.drift_score for r in results for v, m in r.metrics.items()},
    }


def main(argv: Sequence[str] = ()) -> int:
    """The ``monitor`` command: 0 when the window was monitored, 1 (and the failure file) otherwise."""
    failure = opt_ml(FAILURE_FILE)
    try:
        results = run_until_idle(os.environ)
        if any(r.failures for r in results):
            # transient AWS errors stopped some windows; their records stay after the checkpoint
            raise RuntimeError(
                f"{sum(len(r.failures) for r in results)} Kinesis records could not be monitored; retry the job"
            )
    except Exception as err:  # noqa: BLE001 - every failure becomes the job's FailureReason
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"{type(err).__name__}: {err}"[:1024])
        print(f"monitoring failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"monitoring": _summary(results)}, default=str))
    return 0


__all__ = ["FAILURE_FILE", "IDLE_ENV", "job_settings", "main", "read_window", "run", "run_until_idle"]
