from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.monitoring.baseline import (
    OTHER_CATEGORY,
    Baseline,
    bin_proportions,
    compute_baseline,
    summarize_categorical,
    summarize_numeric,
)


def test_numeric_feature_has_ten_quantile_bins_with_their_shares(cancer, classification_spec):
    # given a continuous feature / when the baseline is computed
    baseline = compute_baseline(cancer, classification_spec)
    radius = baseline.features["mean radius"]
    # then there are 11 edges from min to max and each bin holds about a tenth of the rows
    values = cancer["mean radius"]
    assert len(radius.bin_edges) == 11 and len(radius.expected_proportions) == 10
    assert radius.bin_edges[0] == values.min() and radius.bin_edges[-1] == values.max()
    assert sum(radius.expected_proportions) == pytest.approx(1.0)
    assert all(0.08 <= p <= 0.12 for p in radius.expected_proportions)
    assert (radius.mean, radius.std) == pytest.approx((values.mean(), values.std(ddof=0)))
    assert (radius.min, radius.max, radius.count, radius.missing_ratio) == (
        values.min(),
        values.max(),
        569,
        0.0,
    )
    assert "target" not in baseline.features


def test_sample_is_capped_seeded_and_drawn_from_the_data():
    values = pd.Series(np.arange(5000, dtype="float64"))
    first = summarize_numeric(values, sample_size=1000, seed=1)
    assert len(first.sample) == 1000 and len(set(first.sample)) == 1000
    assert set(first.sample) <= set(values)
    assert summarize_numeric(values, sample_size=1000, seed=1).sample == first.sample
    assert summarize_numeric(values, sample_size=1000, seed=2).sample != first.sample


def test_bin_proportions_keeps_outliers_in_the_outer_bins():
    edges = [0.0, 1.0, 2.0, 3.0]
    # below the first edge, on an inner edge, above the last edge
    assert bin_proportions([-5, 0.5, 1.0, 2.5, 99, np.nan], edges) == [0.4, 0.2, 0.4]
    assert bin_proportions([], edges) == [0.0, 0.0, 0.0]


def test_constant_and_empty_numeric_columns():
    constant = summarize_numeric(pd.Series([3.0] * 10))
    assert constant.bin_edges == [3.0, 3.0] and constant.expected_proportions == [1.0]
    empty = summarize_numeric(pd.Series([np.nan, np.nan]))
    assert (empty.count, empty.missing_ratio, empty.mean, empty.bin_edges) == (0, 1.0, None, [])


def test_categorical_frequencies_with_a_cap():
    series = pd.Series(["a"] * 5 + ["b"] * 3 + ["c", "d", None])
    summary = summarize_categorical(series, max_categories=2)
    assert summary.frequencies == pytest.approx({"a": 0.5, "b": 0.3, OTHER_CATEGORY: 0.2})
    assert summary.missing_ratio == pytest.approx(1 / 11)


def test_target_and_prediction_distributions_and_json_round_trip(
    diabetes, regression_spec, cancer, classification_spec
):
    # given a regression baseline with predictions
    baseline = compute_baseline(diabetes, regression_spec, predictions=diabetes["target"] * 0.9)
    assert baseline.target_distribution.kind == "numeric"
    assert baseline.prediction_distribution.mean == pytest.approx(diabetes["target"].mean() * 0.9)
    # when serialized and read back / then it is the same baseline
    text = baseline.to_json()
    assert json.loads(text)["format_version"] == 1
    assert Baseline.from_json(text) == baseline
    # and a classification target is summarized as class frequencies
    labels = compute_baseline(cancer, classification_spec).target_distribution
    assert labels.kind == "categorical"
    assert labels.frequencies == pytest.approx({"1": 357 / 569, "0": 212 / 569})
