"""A retrain trains on the reference plus the traffic whose labels came back, and its lineage names both."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from monitoring_support import kinesis_event
from test_alarm_handling import SPEC, T0, Platform, notification

from pipelines.inference_log.encoding import RecordEncoder
from pipelines.monitoring.alarm_actions import handle_alarm_notifications
from pipelines.monitoring.labelled_traffic import write_logged_predictions
from pipelines.monitoring.labels import labels_csv
from pipelines.monitoring.window import decode_records
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.records import read_run_record
from pipelines.runs.retraining_data import assemble_retraining_set


@pytest.fixture
def platform(aws: None, cancer: pd.DataFrame, tmp_path) -> Platform:
    return Platform(cancer, tmp_path)


def _served(platform: Platform, rows: pd.DataFrame) -> list[str]:
    """Requests of one row each, logged by the server's encoder and kept as the monitor keeps them."""
    features = [c for c in rows.columns if c != "target"]
    encoder = RecordEncoder(features)
    at = (T0 - timedelta(minutes=10)).timestamp()
    ids = [f"req-{i}" for i in range(len(rows))]
    frames = [
        encoder.encode(
            request_id=request_id,
            model_version="1",
            timestamp=at + i,
            latency_ms=3.0,
            error=False,
            numeric=rows.iloc[[i]][features].to_numpy(dtype="float64"),
            predictions=np.array([1]),
        )
        for i, request_id in enumerate(ids)
    ]
    records = [r.record for r in decode_records(kinesis_event(frames)).records]
    write_logged_predictions(
        platform.clients.s3, platform.resources.artifacts_bucket, "cancer", "1", records, "49"
    )
    return ids


def test_given_labels_for_served_traffic_when_a_drift_alarm_retrains_then_it_trains_on_traffic_and_reference(
    platform, cancer
):
    traffic = cancer.sample(60, random_state=1).reset_index(drop=True)
    ids = _served(platform, traffic)
    delivered = (1 - traffic["target"]).tolist()  # labels unlike the reference's, to tell them apart
    platform.clients.s3.put_object(
        Bucket=platform.resources.data_bucket,
        Key="labels/day-1.csv",
        Body=labels_csv(ids, [0] * len(ids), delivered, "target"),
    )
    platform.snapshot(shift=3.0, at=T0.timestamp() - 60)

    (outcome,) = handle_alarm_notifications([notification()], platform.context, now=T0)

    assert outcome.retrain == "started" and outcome.retrain_status == "succeeded"
    record = read_run_record(platform.clients.s3, platform.resources.artifacts_bucket, outcome.retrain_run_id)
    assert record.data_uri.startswith("s3://tenantml-acme-dev-artifacts/retraining/cancer/datasets/")
    body = platform.clients.s3.get_object(
        Bucket=platform.resources.artifacts_bucket,
        Key=record.data_uri.split("/", 3)[3],
        VersionId=record.data_version_id,
    )["Body"].read()
    trained = pd.read_parquet(io.BytesIO(body))
    assert len(trained) == len(cancer) + 60
    pd.testing.assert_frame_equal(
        trained.iloc[: len(cancer)].reset_index(drop=True), cancer, check_dtype=False
    )
    added = trained.iloc[len(cancer) :].reset_index(drop=True)
    assert added["target"].tolist() == delivered
    np.testing.assert_allclose(added["mean radius"], traffic["mean radius"], rtol=1e-6)
    lineage = platform.registry.get_model_version(record.model_version).lineage
    kinds = [(s.kind, s.rows) for s in lineage.data_sources]
    assert kinds == [("reference", len(cancer)), ("labelled-traffic", 60)]
    assert lineage.data_sources[0].uri == "s3://tenantml-acme-dev-data/incoming/cancer.csv"
    assert lineage.data_sources[1].labels_uri == "s3://tenantml-acme-dev-data/labels/"
    assert lineage.data_sources[1].window_end == T0.isoformat()


def test_given_no_labels_when_the_retraining_set_is_assembled_then_it_is_the_reference_alone(
    platform, cancer
):
    _served(platform, cancer.head(20))  # served, but no label came back
    reference = DataArrival(bucket=platform.resources.data_bucket, key="incoming/cancer.csv")

    assembled = assemble_retraining_set(
        platform.clients.s3, platform.resources, SPEC, reference, run_id="r1", window_hours=24, now=T0
    )

    assert assembled.source == reference
    assert [(s.kind, s.rows) for s in assembled.sources] == [("reference", len(cancer))]
    listed = platform.clients.s3.list_objects_v2(
        Bucket=platform.resources.artifacts_bucket, Prefix="retraining/"
    )
    assert "Contents" not in listed
