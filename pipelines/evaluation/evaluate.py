"""Evaluate a fitted model on a holdout: metrics, plots (PNG), permutation importance, HTML report.

The candidate and the champion should both be evaluated here on the same holdout;
``EvaluationResult.holdout_sha256`` lets the caller check that before asking the gate.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.errors import DataValidationError, Problem
from core.spec import ModelSpec, ProblemType
from pipelines.evaluation import plots
from pipelines.evaluation.importance import permutation_importance
from pipelines.evaluation.metrics import compute_metrics, higher_is_better, predict_for_metrics
from pipelines.reports import render_template

REPORT_FILENAME = "evaluation_report.html"
METRICS_FILENAME = "evaluation.json"


class FeatureImportance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str
    #: mean drop of the primary metric (sign-adjusted so larger = more important) over the repeats
    mean: float
    std: float


class EvaluationResult(BaseModel):
    """Metrics of one model on one holdout, and the files written for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    problem: ProblemType
    primary_metric: str
    higher_is_better: bool
    metrics: dict[str, float]
    rows: int
    #: fingerprint of the holdout rows (columns and values), to prove two models saw the same data
    holdout_sha256: str
    feature_importance: list[FeatureImportance]
    #: plot name -> PNG file name, relative to the output directory
    plots: dict[str, str]
    #: HTML report file name, relative to the output directory
    report: str | None = None

    @property
    def primary_value(self) -> float | None:
        return self.metrics.get(self.primary_metric)


def holdout_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over column names and row values, independent of the index."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def evaluate_model(
    model: Any,
    holdout: pd.DataFrame,
    spec: ModelSpec,
    output_dir: Path | None = None,
    *,
    importance_rows: int = 500,
    importance_repeats: int = 5,
    seed: int = 0,
) -> EvaluationResult:
    """Metrics of a fitted model (a scikit-learn pipeline) on ``holdout`` (features + target).

    With ``output_dir``, also writes the PNG plots, ``evaluation.json`` and
    ``evaluation_report.html`` there. Permutation importance uses at most ``importance_rows``
    rows (seeded sample) because it refits nothing but predicts ``features x repeats`` times.
    """
    if spec.target not in holdout.columns:
        raise DataValidationError(
            [Problem(f"holdout: column {spec.target!r}", "target column is missing from the holdout")]
        )
    features = [
        str(c) for c in getattr(model, "feature_names_in_", [c for c in holdout.columns if c != spec.target])
    ]
    missing = [c for c in features if c not in holdout.columns]
    if missing:
        raise DataValidationError(
            [Problem(f"holdout: column {c!r}", "the model needs this column") for c in missing]
        )
    X, y = holdout[features], holdout[spec.target]
    metrics = compute_metrics(model, X, y, spec.problem)

    sample = holdout.sample(n=min(importance_rows, len(holdout)), random_state=seed)
    importance = permutation_importance(
        model,
        sample[features],
        sample[spec.target],
        metric=spec.primary_metric,
        n_repeats=importance_repeats,
        random_state=seed,
    )
    ranked = sorted(
        (
            FeatureImportance(feature=name, mean=float(mean), std=float(std))
            for name, mean, std in zip(features, importance.means, importance.stds, strict=True)
        ),
        key=lambda item: item.mean,
        reverse=True,
    )

    plot_files: dict[str, str] = {}
    if output_dir is not None:
        output_dir = Path(output_dir)
        plot_files = _write_plots(model, X, y, spec.problem, ranked, output_dir)

    result = EvaluationResult(
        model_name=spec.name,
        problem=spec.problem,
        primary_metric=spec.primary_metric,
        higher_is_better=higher_is_better(spec.primary_metric),
        metrics=metrics,
        rows=len(holdout),
        holdout_sha256=holdout_fingerprint(holdout),
        feature_importance=ranked,
        plots=plot_files,
        report=REPORT_FILENAME if output_dir is not None else None,
    )
    if output_dir is not None:
        (output_dir / METRICS_FILENAME).write_text(result.model_dump_json(indent=2), encoding="utf-8")
        (output_dir / REPORT_FILENAME).write_text(
            render_evaluation_html(result, output_dir), encoding="utf-8"
        )
    return result


def render_evaluation_html(result: EvaluationResult, output_dir: Path) -> str:
    """The HTML report, with the PNGs embedded so the single file can be shared or presigned."""
    images = {
        name: base64.b64encode((Path(output_dir) / file).read_bytes()).decode("ascii")
        for name, file in result.plots.items()
    }
    return render_template("evaluation_report.html.j2", result=result, images=images)


def _write_plots(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series,
    problem: ProblemType,
    importance: list[FeatureImportance],
    output_dir: Path,
) -> dict[str, str]:
    figures = {}
    y_pred, y_proba = predict_for_metrics(model, X, problem)
    if problem is ProblemType.CLASSIFICATION:
        classes = list(model.classes_)
        if y_proba is not None and len(np.unique(y)) > 1:
            figures["roc_curve"] = plots.roc_curve_figure(y, y_proba, classes)
            figures["precision_recall"] = plots.precision_recall_figure(y, y_proba, classes)
        figures["confusion_matrix"] = plots.confusion_matrix_figure(y, y_pred, classes)
    else:
        figures["residuals"] = plots.residuals_figure(y, y_pred)
    figures["feature_importance"] = plots.feature_importance_figure(
        {item.feature: (item.mean, item.std) for item in importance}
    )
    files = {}
    for name, figure in figures.items():
        plots.save_png(figure, output_dir / f"{name}.png")
        files[name] = f"{name}.png"
    return files


__all__ = [
    "METRICS_FILENAME",
    "REPORT_FILENAME",
    "EvaluationResult",
    "FeatureImportance",
    "evaluate_model",
    "holdout_fingerprint",
    "render_evaluation_html",
]
