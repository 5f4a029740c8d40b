"""The evaluation report a run publishes: candidate and champion side by side, and the gate's decision.

Both models were evaluated on the same holdout (:func:`pipelines.evaluation.evaluate.evaluate_model`
wrote each one's ``evaluation.json`` and plots into its own directory); this module reads the two,
lines up every metric with the difference and the margin the spec requires of the primary one,
pairs the plots both have, and renders one HTML file (PNGs embedded) and one JSON file.
"""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from core.errors import DataValidationError, Problem
from pipelines.evaluation.evaluate import METRICS_FILENAME, EvaluationResult
from pipelines.evaluation.gate import GateDecision
from pipelines.evaluation.metrics import METRICS
from pipelines.reports import render_template

COMPARISON_HTML = "evaluation_report.html"
COMPARISON_JSON = "evaluation_comparison.json"


class MetricComparison(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    primary: bool
    higher_is_better: bool
    candidate: float | None
    champion: float | None
    #: candidate - champion (raw)
    difference: float | None
    #: the difference in the metric's better direction: positive means the candidate is better
    improvement: float | None
    #: the improvement the gate requires (the primary metric only)
    required_margin: float | None = None


class PlotPair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    candidate: str | None
    champion: str | None


class ComparisonReport(BaseModel):
    """What the HTML shows, as JSON (``evaluation_comparison.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    primary_metric: str
    higher_is_better: bool
    rows: int
    holdout_sha256: str
    champion_version: int | None
    #: why there is no champion column ("no champion yet", or why it could not be evaluated)
    champion_note: str | None = None
    metrics: list[MetricComparison]
    plots: list[PlotPair]
    decision: GateDecision


def compare(
    candidate: EvaluationResult,
    champion: EvaluationResult | None,
    decision: GateDecision,
    *,
    champion_version: int | None = None,
) -> ComparisonReport:
    """Line the two results up; refuses results from different holdouts (no fair comparison)."""
    if champion is not None and champion.holdout_sha256 != candidate.holdout_sha256:
        raise DataValidationError(
            [
                Problem(
                    "champion evaluation: holdout_sha256",
                    f"differs from the candidate's ({candidate.holdout_sha256[:12]}); "
                    "both must be evaluated on the same holdout",
                    champion.holdout_sha256[:12],
                )
            ]
        )
    names = list(candidate.metrics) + [
        n for n in (champion.metrics if champion else {}) if n not in candidate.metrics
    ]
    rows = []
    for name in names:
        ours = candidate.metrics.get(name)
        theirs = champion.metrics.get(name) if champion is not None else None
        higher = candidate.higher_is_better if name == candidate.primary_metric else _higher(name)
        difference = ours - theirs if ours is not None and theirs is not None else None
        improvement = None if difference is None else (difference if higher else -difference)
        primary = name == candidate.primary_metric
        rows.append(
            MetricComparison(
                name=name,
                primary=primary,
                higher_is_better=higher,
                candidate=ours,
                champion=theirs,
                difference=difference,
                improvement=improvement,
                required_margin=decision.margin if primary and champion is not None else None,
            )
        )
    plot_names = list(candidate.plots) + [
        p for p in (champion.plots if champion else {}) if p not in candidate.plots
    ]
    plots = [
        PlotPair(
            name=name,
            candidate=candidate.plots.get(name),
            champion=champion.plots.get(name) if champion is not None else None,
        )
        for name in plot_names
    ]
    note = None
    if champion_version is None:
        note = "no champion yet: the candidate is measured against the minimum only"
    elif champion is None:
        note = f"champion version {champion_version} could not be evaluated on this holdout"
    return ComparisonReport(
        model_name=candidate.model_name,
        primary_metric=candidate.primary_metric,
        higher_is_better=candidate.higher_is_better,
        rows=candidate.rows,
        holdout_sha256=candidate.holdout_sha256,
        champion_version=champion_version,
        champion_note=note,
        metrics=rows,
        plots=plots,
        decision=decision,
    )


def read_result(directory: Path) -> EvaluationResult:
    return EvaluationResult.model_validate_json(
        (Path(directory) / METRICS_FILENAME).read_text(encoding="utf-8")
    )


def write_comparison_report(
    candidate_dir: Path,
    champion_dir: Path | None,
    decision: GateDecision,
    output_dir: Path,
    *,
    champion_version: int | None = None,
) -> ComparisonReport:
    """Write ``evaluation_report.html`` and ``evaluation_comparison.json`` into ``output_dir`` from the
    two evaluation directories (``champion_dir`` None: no champion, or it could not be evaluated)."""
    candidate = read_result(candidate_dir)
    champion = read_result(champion_dir) if champion_dir is not None else None
    report = compare(candidate, champion, decision, champion_version=champion_version)
    images = {
        (pair.name, side): _png(directory, file)
        for pair in report.plots
        for side, directory, file in (
            ("candidate", candidate_dir, pair.candidate),
            ("champion", champion_dir, pair.champion),
        )
        if directory is not None and file is not None
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / COMPARISON_JSON).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    html = render_template("evaluation_comparison.html.j2", report=report, images=images)
    (output_dir / COMPARISON_HTML).write_text(html, encoding="utf-8")
    return report


def _higher(metric: str) -> bool:
    return METRICS[metric][1] if metric in METRICS else True


def _png(directory: Path, file: str) -> str:
    return base64.b64encode((Path(directory) / file).read_bytes()).decode("ascii")


__all__ = [
    "COMPARISON_HTML",
    "COMPARISON_JSON",
    "ComparisonReport",
    "MetricComparison",
    "PlotPair",
    "compare",
    "read_result",
    "write_comparison_report",
]
