"""``python -m pipelines.container monitor``: the processing job the slim monitor Lambda starts reads the
inference-log stream from its checkpoints and publishes what ``monitor_batch`` computes for that window."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest
from monitoring_support import ARTIFACTS, GROUP, MODEL, REGION, TENANT

from pipelines import container
from pipelines.inference_log.logger import KinesisInferenceLogger, LogEntry, LoggerSettings
from pipelines.monitoring.monitor import monitor_batch
from pipelines.monitoring.publishing import checkpoint_key
from pipelines.serving.schema import FeatureBatch, FeatureSignature, InputSchema

STREAM = "acme-dev-inference-log"


def _job_environment(monkeypatch: pytest.MonkeyPatch, opt_ml: Path) -> None:
    """What the monitor Lambda's job request puts in ``Environment`` (pipelines/monitoring/job_request.py)."""
    for name, value in {
        "TENANTML_OPT_ML": str(opt_ml),
        "TENANTML_TENANT": TENANT,
        "TENANTML_ARTIFACTS_BUCKET": ARTIFACTS,
        "TENANTML_MODEL_PACKAGE_GROUP": GROUP,
        "TENANTML_STREAM_NAME": STREAM,
        "TENANTML_MODEL_NAME": MODEL,
        "TENANTML_DRIFT_THRESHOLD": "0.25",
        "TENANTML_DRIFT_MIN_ROWS": "50",
        # one pass: these tests put the traffic in before the job runs
        "TENANTML_MONITOR_IDLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)


def _log_traffic(cancer, rows: int, shift: float) -> None:
    """Requests of registry version 1 written to the stream by the serving's own inference-log writer."""
    features = cancer.drop(columns=["target"])
    schema = InputSchema(
        [FeatureSignature(name=c, dtype="float64", kind="numeric") for c in features.columns]
    )
    kinesis = boto3.client("kinesis", region_name=REGION)
    # a record per request, so the window spans many records on every shard
    logger = KinesisInferenceLogger(
        LoggerSettings(stream_name=STREAM, flush_interval=0.02, aggregate_bytes=0), schema, lambda: kinesis
    )
    values = features.to_numpy(dtype=np.float64)[:rows] * shift
    now = time.time()
    for start in range(0, rows, 10):
        chunk = values[start : start + 10]
        assert logger.submit(
            LogEntry(
                request_id=f"req-{start}",
                model_version="1",
                batch=FeatureBatch(numeric=chunk, categorical=None, n_rows=len(chunk)),
                predictions=np.arange(len(chunk)) % 2,
                latency_ms=12.0,
                timestamp=now + start / 1000,
            )
        )
    assert logger.close(timeout=30)
    assert logger.stats.sent_rows == rows


def _stream_as_lambda_batch() -> list[dict]:
    """The whole stream read independently of the job, in the shape Lambda delivers a batch."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    out = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]:
            sequence = record["SequenceNumber"]
            out.append(
                {
                    "eventID": f"{shard['ShardId']}:{sequence}",
                    "kinesis": {
                        "sequenceNumber": sequence,
                        "data": base64.b64encode(record["Data"]).decode(),
                    },
                }
            )
    return out


def _published_drift() -> list[float]:
    stats = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=f"TenantML/{TENANT}",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Tenant", "Value": TENANT}, {"Name": "Model", "Value": MODEL}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=3600,
        Statistics=["Maximum", "SampleCount"],
    )
    return [(p["Maximum"], p["SampleCount"]) for p in stats["Datapoints"]]


def test_given_logged_traffic_when_the_monitor_command_runs_then_it_publishes_the_drift_monitor_batch_computes(
    clients, settings, cancer, monkeypatch, tmp_path
):
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName=STREAM, ShardCount=2)
    _log_traffic(cancer, rows=300, shift=1.6)  # shifted inputs: a clear drift
    _job_environment(monkeypatch, tmp_path / "opt-ml")

    assert container.main(["monitor"]) == 0

    # the job published a DriftScore for version 1's window and left checkpoints behind
    ((published, _),) = _published_drift()
    s3 = clients.s3
    shards = [
        s["ShardId"]
        for s in boto3.client("kinesis", region_name=REGION).list_shards(StreamName=STREAM)["Shards"]
    ]
    assert any(
        s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=checkpoint_key(shard)).get("KeyCount") for shard in shards
    )
    assert not (tmp_path / "opt-ml" / "output" / "failure").exists()

    # it equals what monitor_batch computes over the same records, from scratch
    for shard in shards:
        s3.delete_object(Bucket=ARTIFACTS, Key=checkpoint_key(shard))
    expected = monitor_batch(_stream_as_lambda_batch(), settings, clients)
    assert expected.metrics["1"].drift_scored
    assert published == pytest.approx(expected.metrics["1"].drift_score)
    assert published > 0.25


def test_given_the_window_was_monitored_when_the_job_runs_again_then_it_reads_on_from_the_checkpoints(
    clients, cancer, monkeypatch, tmp_path, capsys
):
    boto3.client("kinesis", region_name=REGION).create_stream(StreamName=STREAM, ShardCount=1)
    _log_traffic(cancer, rows=100, shift=1.0)
    _job_environment(monkeypatch, tmp_path / "opt-ml")
    assert container.main(["monitor"]) == 0
    assert '"received": 10' in capsys.readouterr().out
    before = _published_drift()

    assert container.main(["monitor"]) == 0

    # nothing new after the checkpoint: nothing received, nothing published twice
    assert '"received": 0' in capsys.readouterr().out
    assert _published_drift() == before


def test_given_an_incomplete_job_environment_when_the_monitor_command_runs_then_the_failure_file_names_it(
    clients, monkeypatch, tmp_path
):
    _job_environment(monkeypatch, tmp_path / "opt-ml")
    monkeypatch.delenv("TENANTML_STREAM_NAME")

    assert container.main(["monitor"]) == 1

    failure = (tmp_path / "opt-ml" / "output" / "failure").read_text()
    assert "TENANTML_STREAM_NAME" in failure
