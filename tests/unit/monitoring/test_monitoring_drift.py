"""Drift and window statistics on synthetic data with answers checkable by hand or by numpy."""

from __future__ import annotations

import base64
import math

import numpy as np
import orjson
import pandas as pd
import pytest

from core.errors import InferenceRecordError
from core.percentiles import percentile
from core.spec import ModelSpec, ProblemType
from pipelines.inference_log.decoding import decode_record_data
from pipelines.monitoring.baseline import (
    OTHER_CATEGORY,
    CategoricalSummary,
    compute_baseline,
    summarize_numeric,
)
from pipelines.monitoring.drift import PSI_EPSILON, category_shares, numeric_drift, psi
from pipelines.monitoring.publishing import _latency_histogram
from pipelines.monitoring.window import compute_window_metrics, decode_records, validate_record

SPEC = ModelSpec(
    name="churn",
    problem=ProblemType.CLASSIFICATION,
    target="target",
    primary_metric="roc_auc",
    minimum_metric=0.5,
)


def _records(frame: pd.DataFrame, *, predictions=None, latencies=None, errors=None) -> list[dict]:
    n = len(frame)
    predictions = [0] * n if predictions is None else list(predictions)
    latencies = [10.0] * n if latencies is None else list(latencies)
    errors = [False] * n if errors is None else list(errors)
    return [
        {
            "request_id": f"r{i}",
            "model_version": "1",
            "features": row,
            "prediction": predictions[i],
            "latency_ms": float(latencies[i]),
            "error": bool(errors[i]),
            "timestamp": 1_700_000_000.0 + i,
        }
        for i, row in enumerate(frame.to_dict(orient="records"))
    ]


@pytest.fixture(scope="module")
def normal_baseline():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=20_000),
            "y": rng.uniform(size=20_000),
            "plan": rng.choice(["basic", "pro"], size=20_000, p=[0.7, 0.3]),
        }
    )
    frame["target"] = rng.integers(0, 2, len(frame))
    return compute_baseline(frame, SPEC)


def test_psi_matches_the_formula_by_hand():
    # (0.9-0.5)ln(0.9/0.5) + (0.1-0.5)ln(0.1/0.5)
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5), rel=1e-12)
    assert psi([0.25] * 4, [0.25] * 4) == 0.0


def test_psi_of_an_empty_bin_is_finite_through_epsilon():
    expected = 0.5 * math.log(1 / 0.5) + (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5)
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected, rel=1e-12)


def test_psi_refuses_bins_of_different_lengths():
    with pytest.raises(ValueError, match=r"same length, got \(2,\) and \(3,\)"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_given_live_data_from_the_training_distribution_then_psi_is_near_zero_and_ks_does_not_reject(
    normal_baseline,
):
    rng = np.random.default_rng(1)
    live = pd.DataFrame(
        {
            "x": rng.normal(size=10_000),
            "y": rng.uniform(size=10_000),
            "plan": rng.choice(["basic", "pro"], size=10_000, p=[0.7, 0.3]),
        }
    )

    metrics = compute_window_metrics(_records(live), normal_baseline, drift_threshold=0.1)

    assert metrics.features["x"].psi < 0.01
    assert metrics.features["y"].psi < 0.01
    assert metrics.features["plan"].psi < 0.001
    assert metrics.features["x"].ks_pvalue > 0.01
    assert metrics.drifted_features == ()
    assert metrics.drift_score == max(f.psi for f in metrics.features.values())


def test_given_a_shifted_feature_then_its_psi_is_large_ks_p_tiny_and_it_is_listed_as_drifted(normal_baseline):
    rng = np.random.default_rng(2)
    live = pd.DataFrame(
        {
            "x": rng.normal(loc=1.0, size=5_000),
            "y": rng.uniform(size=5_000),
            "plan": rng.choice(["basic", "pro"], size=5_000, p=[0.7, 0.3]),
        }
    )

    metrics = compute_window_metrics(_records(live), normal_baseline, drift_threshold=0.2)

    x = metrics.features["x"]
    assert x.psi > 0.5
    assert x.ks_statistic > 0.3
    assert x.ks_pvalue < 1e-20
    assert metrics.drifted_features == ("x",)
    assert metrics.drift_score == x.psi


def test_numeric_drift_bins_live_values_with_the_baseline_rule():
    # edges from 0..99: values outside the training range land in the end bins
    summary = summarize_numeric(pd.Series(np.arange(100, dtype=float)), bins=4, sample_size=100)
    live = np.array([-50.0, 200.0, 300.0, np.nan])
    drift = numeric_drift("x", live, summary)
    assert drift.count == 3
    actual = [1 / 3, 0.0, 0.0, 2 / 3]
    assert drift.psi == pytest.approx(psi(summary.expected_proportions, actual))


def test_categorical_psi_puts_unseen_categories_in_the_other_bucket():
    frequencies = {"a": 0.5, "b": 0.5}
    values = np.array(["a", "c", "c", "d", None], dtype=object)

    expected, actual = category_shares(values, frequencies)

    assert expected == [0.5, 0.5, 0.0]
    assert actual == [0.25, 0.0, 0.75]
    summary = CategoricalSummary(count=2, missing_ratio=0.0, frequencies=frequencies)
    metrics_psi = psi(expected, actual)
    by_hand = (
        (0.25 - 0.5) * math.log(0.25 / 0.5)
        + (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5)
        + (0.75 - PSI_EPSILON) * math.log(0.75 / PSI_EPSILON)
    )
    assert metrics_psi == pytest.approx(by_hand, rel=1e-12)
    assert summary.frequencies == frequencies


def test_categorical_shares_use_the_baselines_other_bucket_and_match_integral_floats():
    expected, actual = category_shares(
        np.array([1.0, 1, "zzz", 2.5], dtype=object), {"1": 0.6, "2": 0.3, OTHER_CATEGORY: 0.1}
    )
    assert expected == [0.6, 0.3, 0.1]
    assert actual == [0.5, 0.0, 0.5]


def test_latency_percentiles_are_the_nearest_rank_the_rollout_gate_and_cloudwatch_use(normal_baseline):
    rng = np.random.default_rng(3)
    n = 2_000
    live = pd.DataFrame({"x": rng.normal(size=n), "y": rng.uniform(size=n), "plan": ["pro"] * n})
    latencies = rng.lognormal(3, 0.5, n)
    errors = rng.random(n) < 0.05

    metrics = compute_window_metrics(_records(live, latencies=latencies, errors=errors), normal_baseline)

    assert metrics.request_count == n
    assert metrics.error_count == int(errors.sum())
    assert metrics.error_rate == pytest.approx(errors.mean())
    # the one definition (core.percentiles), which numpy's "inverted_cdf" method also computes
    assert (
        metrics.latency_p50_ms
        == percentile(list(latencies), 50)
        == np.percentile(latencies, 50, method="inverted_cdf")
    )
    assert (
        metrics.latency_p99_ms
        == percentile(list(latencies), 99)
        == np.percentile(latencies, 99, method="inverted_cdf")
    )
    assert metrics.window_start == 1_700_000_000.0 and metrics.window_end == 1_700_000_000.0 + n - 1


def test_prediction_drift_compares_against_the_target_when_the_baseline_has_no_predictions(normal_baseline):
    n = 1_000
    live = pd.DataFrame({"x": np.zeros(n), "y": np.zeros(n), "plan": ["pro"] * n})
    target = normal_baseline.target_distribution.frequencies  # about 50/50

    balanced = compute_window_metrics(_records(live, predictions=[i % 2 for i in range(n)]), normal_baseline)
    all_ones = compute_window_metrics(_records(live, predictions=[1] * n), normal_baseline)

    assert balanced.prediction_drift < 0.01
    assert all_ones.prediction_drift == pytest.approx(psi([target["0"], target["1"]], [0.0, 1.0]))
    assert all_ones.prediction_drift > 1


def test_errored_requests_count_for_health_but_not_for_prediction_drift(normal_baseline):
    live = pd.DataFrame({"x": [0.0] * 4, "y": [0.5] * 4, "plan": ["pro"] * 4})
    records = _records(live, predictions=[0, 1, "", ""], errors=[False, False, True, True])
    metrics = compute_window_metrics(records, normal_baseline)
    assert metrics.error_rate == 0.5
    assert metrics.prediction_drift < 0.01  # only the two real predictions, 0 and 1


def test_missing_and_null_features_count_as_missing_values(normal_baseline):
    records = _records(
        pd.DataFrame({"x": [1.0, None, 2.0], "y": [0.1, 0.2, 0.3], "plan": ["pro", None, "basic"]})
    )
    del records[2]["features"]["y"]
    metrics = compute_window_metrics(records, normal_baseline)
    assert (metrics.features["x"].count, metrics.features["y"].count, metrics.features["plan"].count) == (
        2,
        2,
        2,
    )


def test_a_window_of_inference_records_and_of_their_dicts_give_the_same_metrics(normal_baseline):
    rng = np.random.default_rng(4)
    live = pd.DataFrame({"x": rng.normal(size=300), "y": rng.uniform(size=300), "plan": ["pro"] * 300})
    dicts = _records(live)  # format 1: one row per record
    models = [decode_record_data(orjson.dumps(d)) for d in dicts]
    assert (
        compute_window_metrics(models, normal_baseline).as_dict()
        == compute_window_metrics(dicts, normal_baseline).as_dict()
    )


def test_an_empty_window_has_no_drift_and_no_latency(normal_baseline):
    metrics = compute_window_metrics([], normal_baseline)
    assert (metrics.request_count, metrics.drift_score, metrics.latency_p99_ms) == (0, 0.0, None)
    assert metrics.prediction_drift is None


def test_validate_record_reads_a_format_1_record_as_a_one_row_format_2_record():
    got = validate_record(
        {
            "request_id": "r",
            "model_version": "1",
            "features": {"a": 1, "b": 2.5, "c": "x", "d": None},
            "prediction": 1,
            "latency_ms": 3,
            "timestamp": 5,
        }
    )
    assert (got["numeric_features"], got["categorical_features"]) == (("a", "b", "d"), ("c",))
    assert got["numeric"].tolist()[0][:2] == [1.0, 2.5] and math.isnan(got["numeric"][0, 2])
    assert got["categorical_rows"] == [["x"]] and got["predictions"] == [1] and got["n_rows"] == 1


def test_validate_record_rejects_a_bad_record_naming_the_field():
    with pytest.raises(InferenceRecordError, match="features"):
        validate_record(
            {
                "request_id": "r",
                "model_version": "1",
                "features": {"a": [1]},
                "prediction": 1,
                "latency_ms": 1.0,
                "timestamp": 1.0,
            }
        )


def _event(data: bytes, sequence: int) -> dict:
    return {
        "eventID": f"shardId-000000000000:{sequence}",
        "kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": str(sequence)},
    }


def test_decode_records_counts_and_skips_malformed_records():
    good = orjson.dumps(
        {
            "request_id": "r",
            "model_version": "1",
            "features": {"a": 1.0},
            "prediction": 1,
            "latency_ms": 1.0,
            "timestamp": 1.0,
        }
    )
    raw = [
        _event(good, 1),
        _event(b"{not json", 2),
        _event(b'{"request_id": "r"}', 3),
        {"eventID": "shardId-000000000000:4", "kinesis": {"data": "%%%", "sequenceNumber": "4"}},
        _event(good, 5),
    ]

    decoded = decode_records(raw)

    assert [r.sequence_number for r in decoded.records] == ["1", "5"]
    assert decoded.malformed == ["2", "3", "4"]
    assert decoded.records[0].shard_id == "shardId-000000000000"


def test_latency_histogram_keeps_every_request_and_three_significant_digits():
    latencies = np.array([0.0, 1.2345, 1.2349, 123.456, 99_999.0])
    values, counts = _latency_histogram(latencies)
    assert sum(counts) == 5
    assert values == pytest.approx([0.0, 1.23, 123.0, 100_000.0])
    assert counts == [1.0, 2.0, 1.0, 1.0]
