from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.spec import ProblemType
from pipelines.evaluation.metrics import compute_metrics, score_model


def test_binary_metrics_match_scikit_learn_with_string_labels(cancer):
    # given string labels, where "malignant" sorts after "benign" and is the positive class
    X = cancer.drop(columns="target")
    y = np.where(cancer["target"] == 0, "malignant", "benign")
    model = LogisticRegression(max_iter=5000).fit(X, y)
    # when measured
    result = compute_metrics(model, X, y, ProblemType.CLASSIFICATION)
    # then each metric equals scikit-learn's own with the same positive class
    proba = model.predict_proba(X)[:, list(model.classes_).index("malignant")]
    pred = model.predict(X)
    assert result == pytest.approx(
        {
            "roc_auc": skm.roc_auc_score(y == "malignant", proba),
            "accuracy": skm.accuracy_score(y, pred),
            "f1": skm.f1_score(y, pred, pos_label="malignant"),
            "precision": skm.precision_score(y, pred, pos_label="malignant"),
            "recall": skm.recall_score(y, pred, pos_label="malignant"),
            "log_loss": skm.log_loss(y, model.predict_proba(X)),
        }
    )


def test_multiclass_metrics_are_macro_and_one_vs_rest(cancer):
    X = cancer.drop(columns="target")
    y = np.digitize(cancer["mean radius"], [12, 16])  # three classes
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    result = compute_metrics(model, X, y, ProblemType.CLASSIFICATION)
    assert result["f1"] == pytest.approx(skm.f1_score(y, model.predict(X), average="macro"))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, model.predict_proba(X), multi_class="ovr"))


def test_regression_metrics(diabetes):
    X, y = diabetes.drop(columns="target"), diabetes["target"]
    model = Ridge().fit(X, y)
    pred = model.predict(X)
    result = compute_metrics(model, X, y, ProblemType.REGRESSION)
    assert result == pytest.approx(
        {
            "r2": skm.r2_score(y, pred),
            "rmse": skm.root_mean_squared_error(y, pred),
            "mae": skm.mean_absolute_error(y, pred),
        }
    )
    assert score_model(model, X, y, "mae") == pytest.approx(result["mae"])


def test_roc_auc_is_left_out_when_the_holdout_has_one_class(cancer):
    X, y = cancer.drop(columns="target"), cancer["target"]
    model = LogisticRegression(max_iter=5000).fit(X, y)
    positives = y == 1
    result = compute_metrics(model, X[positives], y[positives], ProblemType.CLASSIFICATION)
    assert "roc_auc" not in result
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y[positives], model.predict(X[positives])))
