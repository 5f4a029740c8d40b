"""Evaluation plots as PNG files, drawn on bare matplotlib ``Figure`` objects.

Using ``Figure`` directly (not ``pyplot``) means no GUI backend is ever selected and no global
figure state leaks between calls, so plotting is safe in Lambda, in threads and in tests; PNGs
are rendered by the Agg canvas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

_SIZE = (6.0, 4.5)
_DPI = 100


def _figure(size: tuple[float, float] = _SIZE) -> Figure:
    figure = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def roc_curve_figure(y_true: Any, y_proba: np.ndarray, classes: Sequence[Any]) -> Figure:
    """ROC curve: one for binary problems, one per class (one-vs-rest) otherwise."""
    figure = _figure()
    ax = figure.add_subplot()
    for index, label in _curves(classes):
        RocCurveDisplay.from_predictions(
            np.asarray(y_true) == label, y_proba[:, index], name=f"class {label}", ax=ax
        )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_title("ROC curve")
    return figure


def precision_recall_figure(y_true: Any, y_proba: np.ndarray, classes: Sequence[Any]) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    for index, label in _curves(classes):
        PrecisionRecallDisplay.from_predictions(
            np.asarray(y_true) == label, y_proba[:, index], name=f"class {label}", ax=ax
        )
    ax.set_title("Precision-recall curve")
    return figure


def confusion_matrix_figure(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> Figure:
    figure = _figure((5.0, 4.5))
    ax = figure.add_subplot()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=list(classes), ax=ax, colorbar=False)
    ax.set_title("Confusion matrix")
    return figure


def residuals_figure(y_true: Any, y_pred: Any) -> Figure:
    """Residuals against predictions, and their histogram."""
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    residuals = y_true - y_pred
    figure = _figure((9.0, 4.0))
    scatter, histogram = figure.subplots(1, 2)
    scatter.scatter(y_pred, residuals, s=10, alpha=0.6)
    scatter.axhline(0, color="grey", linestyle="--", linewidth=1)
    scatter.set_xlabel("predicted")
    scatter.set_ylabel("actual - predicted")
    scatter.set_title("Residuals")
    histogram.hist(residuals, bins=30)
    histogram.set_xlabel("actual - predicted")
    histogram.set_title("Residual distribution")
    return figure


def feature_importance_figure(importance: Mapping[str, tuple[float, float]], *, top: int = 20) -> Figure:
    """Horizontal bars of (mean, std) importance per feature, the largest ``top`` at the top."""
    ranked = sorted(importance.items(), key=lambda item: item[1][0], reverse=True)[:top]
    names = [name for name, _ in ranked][::-1]
    means = [value[0] for _, value in ranked][::-1]
    stds = [value[1] for _, value in ranked][::-1]
    figure = _figure((6.5, max(2.5, 0.3 * len(names) + 1.2)))
    ax = figure.add_subplot()
    ax.barh(names, means, xerr=stds, color="#4c72b0")
    ax.set_xlabel("drop in score when the feature is shuffled")
    ax.set_title("Permutation importance")
    return figure


def _curves(classes: Sequence[Any]) -> list[tuple[int, Any]]:
    labels = list(classes)
    return [(1, labels[1])] if len(labels) == 2 else list(enumerate(labels))


__all__ = [
    "confusion_matrix_figure",
    "feature_importance_figure",
    "precision_recall_figure",
    "residuals_figure",
    "roc_curve_figure",
    "save_png",
]
