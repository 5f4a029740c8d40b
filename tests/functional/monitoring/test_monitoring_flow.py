"""monitor_batch and publish_metrics against moto: metrics, snapshots, checkpoints, bad records."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pandas as pd
import pytest
from botocore.stub import Stubber
from monitoring_support import ARTIFACTS, MODEL, TENANT, inference_payloads, kinesis_event

from core.contract import metrics_namespace
from pipelines.monitoring.monitor import BaselineNotFoundError, monitor_batch
from pipelines.monitoring.publishing import load_baseline, publish_metrics, read_checkpoint
from pipelines.monitoring.window import compute_window_metrics

BASE_DIMS = [{"Name": "Tenant", "Value": TENANT}, {"Name": "Model", "Value": MODEL}]
VERSION_DIMS = [*BASE_DIMS, {"Name": "ModelVersion", "Value": "1"}]


def _stat(cloudwatch, metric: str, dims: list[dict], statistic: str) -> float | None:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace(TENANT),
        MetricName=metric,
        Dimensions=dims,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=[statistic],
    )["Datapoints"]
    return (
        sum(p[statistic] for p in points)
        if statistic in ("Sum", "SampleCount")
        else (max(p[statistic] for p in points) if points else None)
    )


def _dimension_sets(cloudwatch, metric: str) -> set[frozenset[tuple[str, str]]]:
    listed = cloudwatch.list_metrics(Namespace=metrics_namespace(TENANT), MetricName=metric)["Metrics"]
    return {frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed}


def _snapshots(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=f"monitoring/{MODEL}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_given_a_window_when_published_then_metrics_land_under_both_dimension_sets(clients, baseline, cancer):
    payloads = inference_payloads(cancer.head(200), timestamp=time.time() - 30, error_every=10)
    metrics = compute_window_metrics(payloads, baseline)

    sent = publish_metrics(clients.cloudwatch, TENANT, MODEL, "1", metrics)

    cw = clients.cloudwatch
    expected_sets = {frozenset((d["Name"], d["Value"]) for d in dims) for dims in (BASE_DIMS, VERSION_DIMS)}
    for metric in ("DriftScore", "ErrorRate", "RequestCount", "PredictionDrift", "LatencyMs"):
        assert _dimension_sets(cw, metric) == expected_sets, metric
    # moto matches dimensions as a subset (CloudWatch matches them exactly), so read the fullest set
    assert _stat(cw, "DriftScore", VERSION_DIMS, "Maximum") == pytest.approx(metrics.drift_score)
    assert _stat(cw, "ErrorRate", VERSION_DIMS, "Average") == pytest.approx(0.1)
    assert _stat(cw, "RequestCount", VERSION_DIMS, "Sum") == 200
    assert _stat(cw, "PredictionDrift", VERSION_DIMS, "Maximum") == pytest.approx(metrics.prediction_drift)
    # every request is one latency sample (Values/Counts), so CloudWatch can take the p99
    assert _stat(cw, "LatencyMs", VERSION_DIMS, "SampleCount") == 200
    assert _stat(cw, "LatencyMs", VERSION_DIMS, "Maximum") == pytest.approx(26.0)
    assert _stat(cw, "LatencyMs", VERSION_DIMS, "Minimum") == pytest.approx(20.0)
    listed = cw.list_metrics(Namespace=metrics_namespace(TENANT), MetricName="FeatureDrift")["Metrics"]
    features = {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Feature"}
    assert features == set(baseline.features)
    assert len(listed) == 2 * len(baseline.features)
    radius = [*VERSION_DIMS, {"Name": "Feature", "Value": "mean radius"}]
    assert _stat(cw, "FeatureDrift", radius, "Maximum") == pytest.approx(metrics.features["mean radius"].psi)
    assert sent == len(listed) + 2 * 5  # 4 scalars + one latency datum per dimension set


def test_given_a_window_smaller_than_the_minimum_then_health_is_published_but_drift_is_not(
    clients, baseline, cancer
):
    # given 40 rows, shifted far enough that their PSI is large, under a 200-row minimum
    shifted = cancer.head(40).copy()
    shifted["mean radius"] = shifted["mean radius"] * 3
    metrics = compute_window_metrics(
        inference_payloads(shifted, timestamp=time.time() - 30),
        baseline,
        drift_threshold=0.2,
        drift_min_rows=200,
    )

    sent = publish_metrics(clients.cloudwatch, TENANT, MODEL, "1", metrics)

    # then: the PSI stays in the window (for the snapshot), but it is not called drift or published
    assert metrics.features["mean radius"].psi > 0.2
    assert (metrics.drift_scored, metrics.drifted_features) == (False, ())
    cw = clients.cloudwatch
    assert _stat(cw, "RequestCount", VERSION_DIMS, "Sum") == 40
    for metric in ("DriftScore", "FeatureDrift", "PredictionDrift"):
        assert cw.list_metrics(Namespace=metrics_namespace(TENANT), MetricName=metric)["Metrics"] == [], (
            metric
        )
    assert sent == 2 * 3  # RequestCount, ErrorRate and one latency datum per dimension set
    # and from 40 rows on, the same window is scored
    scored = compute_window_metrics(
        inference_payloads(shifted, timestamp=time.time() - 30),
        baseline,
        drift_threshold=0.2,
        drift_min_rows=40,
    )
    assert scored.drift_scored and "mean radius" in scored.drifted_features


def test_given_small_batches_then_their_rows_are_parked_until_a_window_can_be_scored(
    clients, settings, baseline, cancer
):
    # given batches of 20 rows under a 50-row minimum (settings), the third shifted hard
    shifted = cancer.iloc[40:60].copy()
    shifted["mean radius"] = shifted["mean radius"] * 3
    batches = [cancer.iloc[0:20], cancer.iloc[20:40], shifted]
    start = 49_600_000_000_000_000_000
    results = []
    for b, frame in enumerate(batches):
        payloads = inference_payloads(frame, timestamp=time.time() - 30)
        results.append(
            monitor_batch(kinesis_event(payloads, first_sequence=start + 100 * b), settings, clients)
        )

    # then each batch's health is published, but drift only once, over all 60 rows
    assert [r.processed for r in results] == [20, 20, 20]
    assert [r.metrics["1"].drift_scored for r in results] == [False, False, True]
    assert results[2].metrics["1"].row_count == 60
    assert results[2].metrics["1"].request_count == 20
    assert _stat(clients.cloudwatch, "RequestCount", VERSION_DIMS, "Sum") == 60
    assert _stat(clients.cloudwatch, "DriftScore", VERSION_DIMS, "SampleCount") == 1
    together = compute_window_metrics(
        inference_payloads(pd.concat(batches), timestamp=time.time() - 30), baseline
    )
    assert results[2].metrics["1"].features["mean radius"].psi == pytest.approx(
        together.features["mean radius"].psi
    )
    # and nothing stays parked
    assert clients.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="monitoring/_pending/").get("KeyCount") == 0


def test_given_a_batch_with_malformed_records_then_they_are_counted_and_skipped_not_retried(
    clients, settings, cancer
):
    payloads = inference_payloads(cancer.head(50), timestamp=time.time() - 10)
    raw = kinesis_event([*payloads[:25], b"{not json", {"request_id": "x"}, *payloads[25:]])

    result = monitor_batch(raw, settings, clients)

    assert (result.received, result.processed, result.malformed, result.failures) == (52, 50, 2, [])
    assert result.batch_item_failures() == []
    assert _stat(clients.cloudwatch, "RequestCount", VERSION_DIMS, "Sum") == 50
    (key,) = _snapshots(clients.s3)
    assert key.startswith(f"monitoring/{MODEL}/1/") and key.endswith(
        f"_{raw[0]['kinesis']['sequenceNumber']}.json"
    )
    snapshot = orjson.loads(clients.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())
    assert (snapshot["tenant"], snapshot["model_version"], snapshot["request_count"]) == (TENANT, "1", 50)
    assert len(snapshot["features"]) == 30 and snapshot["features"]["mean radius"]["ks_pvalue"] is not None
    assert snapshot["drift_threshold"] == settings.drift_threshold


def test_given_the_same_batch_delivered_twice_then_metrics_are_published_once(clients, settings, cancer):
    raw = kinesis_event(inference_payloads(cancer.head(100), timestamp=time.time() - 10))

    first = monitor_batch(raw, settings, clients)
    second = monitor_batch(raw, settings, clients)

    assert (first.processed, first.duplicates) == (100, 0)
    assert (second.processed, second.duplicates) == (0, 100)
    assert _stat(clients.cloudwatch, "DriftScore", VERSION_DIMS, "SampleCount") == 1
    assert _stat(clients.cloudwatch, "RequestCount", VERSION_DIMS, "Sum") == 100
    assert len(_snapshots(clients.s3)) == 1
    assert read_checkpoint(clients.s3, ARTIFACTS, "shardId-000000000000") == int(
        raw[-1]["kinesis"]["sequenceNumber"]
    )


def test_given_a_redelivery_overlapping_new_records_then_only_the_new_ones_are_processed(
    clients, settings, cancer
):
    raw = kinesis_event(inference_payloads(cancer.head(60), timestamp=time.time() - 10))

    monitor_batch(raw[:40], settings, clients)
    again = monitor_batch(raw[20:], settings, clients)

    assert (again.duplicates, again.processed) == (20, 20)
    assert _stat(clients.cloudwatch, "RequestCount", VERSION_DIMS, "Sum") == 60
    assert len(_snapshots(clients.s3)) == 2


def test_given_two_shards_then_each_keeps_its_own_checkpoint(clients, settings, cancer):
    payloads = inference_payloads(cancer.head(20), timestamp=time.time() - 10)
    raw = kinesis_event(payloads[:10], shard="shardId-000000000000", first_sequence=500) + kinesis_event(
        payloads[10:], shard="shardId-000000000001", first_sequence=100
    )

    result = monitor_batch(raw, settings, clients)

    assert result.processed == 20
    assert read_checkpoint(clients.s3, ARTIFACTS, "shardId-000000000000") == 509
    assert read_checkpoint(clients.s3, ARTIFACTS, "shardId-000000000001") == 109


def test_given_a_version_without_a_baseline_then_its_records_are_counted_as_unmonitored(
    clients, settings, cancer
):
    payloads = inference_payloads(cancer.head(10), version="7", timestamp=time.time()) + inference_payloads(
        cancer.head(5), version="local", timestamp=time.time()
    )

    result = monitor_batch(kinesis_event(payloads), settings, clients)

    assert (result.unmonitored, result.processed, result.failures) == (15, 0, [])
    assert _snapshots(clients.s3) == []


def test_load_baseline_names_the_version_and_the_missing_key(clients):
    with pytest.raises(BaselineNotFoundError, match=r"model version 'local': not a registry version number"):
        load_baseline(clients.s3, clients.registry, ARTIFACTS, "local")
    clients.s3.delete_object(Bucket=ARTIFACTS, Key="runs/20261125T000000Z-abc123/baseline.json")
    with pytest.raises(
        BaselineNotFoundError,
        match=r"s3://acme-dev-artifacts/runs/20261125T000000Z-abc123/"
        r"baseline.json does not exist",
    ):
        load_baseline(clients.s3, clients.registry, ARTIFACTS, "1")


def test_given_cloudwatch_throttles_then_the_window_is_reported_for_retry_and_the_checkpoint_stays_below_it(
    clients, settings, cancer
):
    raw = kinesis_event(inference_payloads(cancer.head(30), timestamp=time.time() - 10))
    sequences = [r["kinesis"]["sequenceNumber"] for r in raw]
    with Stubber(clients.cloudwatch) as throttled:
        throttled.add_client_error(
            "put_metric_data", service_error_code="Throttling", service_message="Rate exceeded"
        )
        result = monitor_batch(raw, settings, clients)

    assert result.failures == sequences
    assert result.batch_item_failures()[0] == {"itemIdentifier": sequences[0]}
    assert read_checkpoint(clients.s3, ARTIFACTS, "shardId-000000000000") == int(sequences[0]) - 1

    retry = monitor_batch(raw, settings, clients)  # Lambda redelivers from the first failed record

    assert (retry.processed, retry.duplicates, retry.failures) == (30, 0, [])
    assert _stat(clients.cloudwatch, "RequestCount", VERSION_DIMS, "Sum") == 30
    assert read_checkpoint(clients.s3, ARTIFACTS, "shardId-000000000000") == int(sequences[-1])
