"""Batched permutation importance gives scikit-learn's importances (same permutations, same scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import inspection
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

from core.spec import ProblemType
from pipelines.data.features import input_signature
from pipelines.evaluation.importance import permutation_importance
from pipelines.evaluation.metrics import score_model
from pipelines.training.estimators import build_pipeline


def _sklearn(model, X, y, metric: str, sign: float, seed: int):
    def scorer(estimator, X_, y_):
        return sign * score_model(estimator, X_, y_, metric)

    return inspection.permutation_importance(model, X, y, scoring=scorer, n_repeats=4, random_state=seed)


def _assert_same(ours, theirs) -> None:
    np.testing.assert_allclose(ours.means, theirs.importances_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.stds, theirs.importances_std, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_rows", [50_000, 250])  # everything at once; a few copies per batch
def test_a_forest_scored_on_probabilities_gets_scikit_learns_importances(cancer, batch_rows) -> None:
    # given a forest, a sampled holdout (its index is not 0..n) and roc_auc
    X, y = cancer.drop(columns="target"), cancer["target"]
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X.iloc[:400], y.iloc[:400])
    holdout = cancer.iloc[400:].sample(n=120, random_state=3)
    hX, hy = holdout.drop(columns="target"), holdout["target"]
    # when
    ours = permutation_importance(
        model, hX, hy, metric="roc_auc", n_repeats=4, random_state=7, batch_rows=batch_rows
    )
    # then
    _assert_same(ours, _sklearn(model, hX, hy, "roc_auc", 1.0, 7))
    assert ours.means.max() > 0  # some feature matters: the comparison is not of zeros


def test_a_lower_is_better_metric_counts_a_rise_as_importance(diabetes) -> None:
    X, y = diabetes.drop(columns="target"), diabetes["target"]
    model = Ridge().fit(X, y)
    ours = permutation_importance(model, X, y, metric="rmse", n_repeats=4, random_state=0)
    _assert_same(ours, _sklearn(model, X, y, "rmse", -1.0, 0))
    assert ours.means[list(X.columns).index("bmi")] > 0


def test_categorical_columns_and_label_metrics_are_permuted_like_scikit_learn(cancer) -> None:
    # given a pipeline with a string column (one-hot encoded) and a label metric
    frame = cancer.iloc[:, :6].assign(
        band=pd.cut(cancer["mean radius"], 4, labels=["a", "b", "c", "d"]).astype(str),
        target=cancer["target"],
    )
    signature = input_signature(frame, "target")
    X, y = frame[[f.name for f in signature]], frame["target"]
    model = build_pipeline(signature, "logistic_regression", ProblemType.CLASSIFICATION).fit(X, y)
    # when / then
    ours = permutation_importance(model, X, y, metric="accuracy", n_repeats=4, random_state=1)
    _assert_same(ours, _sklearn(model, X, y, "accuracy", 1.0, 1))
