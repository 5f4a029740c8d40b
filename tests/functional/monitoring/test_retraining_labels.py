"""A retrain trains on the reference plus the traffic whose labels came back, and its lineage names both."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from monitoring_support import kinesis_event
from test_alarm_handling import SPEC, T0, Platform

from pipelines.inference_log.encoding import RecordEncoder
from pipelines.monitoring.labelled_traffic import write_logged_predictions
from pipelines.monitoring.window import decode_records
from pipelines.runs.arrivals import DataArrival
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
