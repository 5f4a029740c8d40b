"""Model metrics by name, shared by the hyperparameter search, evaluation and the promotion gate.

One definition per metric keeps the search objective, the evaluation report and the gate
comparing the same number. Binary classification scores the second of the sorted class labels
as positive (``1`` for 0/1 labels); with more than two classes, f1/precision/recall are
macro-averaged and ROC AUC is one-vs-rest, macro-averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from core.spec import METRICS, ProblemType

CLASSIFICATION_METRICS = tuple(m for m, (p, _) in METRICS.items() if p is ProblemType.CLASSIFICATION)
REGRESSION_METRICS = tuple(m for m, (p, _) in METRICS.items() if p is ProblemType.REGRESSION)


def metric_names(problem: ProblemType) -> tuple[str, ...]:
    """Every metric tenantml reports for a problem type."""
    return CLASSIFICATION_METRICS if problem is ProblemType.CLASSIFICATION else REGRESSION_METRICS


def higher_is_better(metric: str) -> bool:
    return METRICS[metric][1]


def metric_value(
    metric: str,
    y_true: Any,
    y_pred: Any,
    y_proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> float:
    """One metric. Classification metrics that need scores (roc_auc, log_loss) need ``y_proba``
    with one column per entry of ``classes`` (a classifier's ``classes_``)."""
    if metric == "r2":
        return float(skm.r2_score(y_true, y_pred))
    if metric == "rmse":
        return float(skm.root_mean_squared_error(y_true, y_pred))
    if metric == "mae":
        return float(skm.mean_absolute_error(y_true, y_pred))
    if classes is None:
        raise ValueError(f"metric {metric!r} needs the classifier's classes")
    labels = list(classes)
    binary = len(labels) == 2
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if metric in {"f1", "precision", "recall"}:
        kwargs: dict[str, Any] = (
            {"average": "binary", "pos_label": labels[1]}
            if binary
            else {"average": "macro", "labels": labels}
        )
        func = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric]
        return float(func(y_true, y_pred, zero_division=0, **kwargs))
    if y_proba is None:
        raise ValueError(f"metric {metric!r} needs predicted probabilities")
    if metric == "roc_auc":
        if binary:
            return float(skm.roc_auc_score(np.asarray(y_true) == labels[1], y_proba[:, 1]))
        return float(skm.roc_auc_score(y_true, y_proba, multi_class="ovr", average="macro", labels=labels))
    if metric == "log_loss":
        return float(skm.log_loss(y_true, y_proba, labels=labels))
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def predict_for_metrics(model: Any, X: Any, problem: ProblemType) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and, for classifiers, class probabilities (columns ordered as ``model.classes_``)."""
    y_pred = np.asarray(model.predict(X))
    if problem is ProblemType.CLASSIFICATION and hasattr(model, "predict_proba"):
        return y_pred, np.asarray(model.predict_proba(X))
    return y_pred, None


def compute_metrics(model: Any, X: Any, y_true: Any, problem: ProblemType) -> dict[str, float]:
    """Every metric of the problem type for a fitted model on (X, y_true).

    A metric that is undefined on this data (ROC AUC when the holdout has one class) is left out
    rather than reported as NaN; the gate treats a missing primary metric as a reason to hold.
    """
    y_pred, y_proba = predict_for_metrics(model, X, problem)
    classes = list(getattr(model, "classes_", [])) or None
    undefined: set[str] = set()
    if problem is ProblemType.CLASSIFICATION:
        if y_proba is None:
            undefined |= {"roc_auc", "log_loss"}
        if len(np.unique(np.asarray(y_true))) < 2:
            undefined.add("roc_auc")
    result: dict[str, float] = {}
    for name in (n for n in metric_names(problem) if n not in undefined):
        value = metric_value(name, y_true, y_pred, y_proba, classes)
        if np.isfinite(value):
            result[name] = value
    return result


#: metrics computed from class probabilities alone (the others from predicted labels or values)
_PROBABILITY_METRICS = frozenset({"roc_auc", "log_loss"})


def predicts_probabilities(metric: str) -> bool:
    """Whether ``metric`` is computed from class probabilities (else from labels or values)."""
    return metric in _PROBABILITY_METRICS


def score_model(model: Any, X: Any, y_true: Any, metric: str) -> float:
    """One metric of a fitted model on (X, y_true), predicting only what the metric needs."""
    classes = getattr(model, "classes_", None)
    if predicts_probabilities(metric):
        return metric_value(metric, y_true, None, np.asarray(model.predict_proba(X)), classes)
    return metric_value(metric, y_true, np.asarray(model.predict(X)), None, classes)


__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "compute_metrics",
    "higher_is_better",
    "metric_names",
    "metric_value",
    "predict_for_metrics",
    "predicts_probabilities",
    "score_model",
]
