"""The training-data baseline that drift monitoring compares live traffic against.

Per numeric feature: quantile bin edges and the share of rows per bin (for PSI), summary
statistics, and a seeded random sample (for a two-sample KS test). Per categorical feature: the
category frequencies. Plus the target distribution and, when given, the prediction distribution.
Monitoring must bin live values with :func:`bin_proportions` so both sides use the same rule.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from core.spec import ModelSpec, ProblemType
from pipelines.data.features import feature_kind

#: bucket for categories beyond ``max_categories`` (and, when monitoring, for unseen ones)
OTHER_CATEGORY = "__other__"


class NumericSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["numeric"] = "numeric"
    count: int
    missing_ratio: float
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    #: ascending, deduplicated quantile edges; the first and last bins are open-ended
    bin_edges: list[float]
    expected_proportions: list[float]
    #: a seeded uniform sample of the present values, for a KS test
    sample: list[float]


class CategoricalSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["categorical"] = "categorical"
    count: int
    missing_ratio: float
    #: category (as a string) -> share of present values
    frequencies: dict[str, float]


Summary = Annotated[NumericSummary | CategoricalSummary, Field(discriminator="kind")]


class Baseline(BaseModel):
    """Reference statistics of the data a model was trained on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = 1
    model_name: str
    problem: ProblemType
    target: str
    rows: int
    features: dict[str, Summary]
    target_distribution: Summary
    prediction_distribution: Summary | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Baseline:
        return cls.model_validate_json(text)


def bin_proportions(values: Any, edges: list[float]) -> list[float]:
    """Share of the present values in each bin defined by ``edges`` (``len(edges) - 1`` bins).

    Values below the first edge count in the first bin and values above the last edge in the last
    one, so live data outside the training range still lands somewhere. A value equal to an inner
    edge belongs to the bin above it.
    """
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    array = array[np.isfinite(array)]
    n_bins = max(len(edges) - 1, 1)
    if array.size == 0:
        return [0.0] * n_bins
    index = np.searchsorted(np.asarray(edges[1:-1], dtype="float64"), array, side="right")
    counts = np.bincount(index, minlength=n_bins)
    return [float(c) for c in counts / array.size]


def summarize_numeric(
    values: pd.Series, *, bins: int = 10, sample_size: int = 1000, seed: int = 0
) -> NumericSummary:
    series = pd.to_numeric(values, errors="coerce")
    array = series.to_numpy(dtype="float64", na_value=np.nan)
    present = array[np.isfinite(array)]
    missing_ratio = float(1 - present.size / array.size) if array.size else 0.0
    if present.size == 0:
        return NumericSummary(
            count=0,
            missing_ratio=missing_ratio,
            mean=None,
            std=None,
            min=None,
            max=None,
            bin_edges=[],
            expected_proportions=[],
            sample=[],
        )
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if edges.size == 1:  # a constant column: one bin
        edges = np.array([edges[0], edges[0]])
    edge_list = [float(e) for e in edges]
    rng = np.random.default_rng(seed)
    sample = present if present.size <= sample_size else rng.choice(present, size=sample_size, replace=False)
    return NumericSummary(
        count=int(present.size),
        missing_ratio=missing_ratio,
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        bin_edges=edge_list,
        expected_proportions=bin_proportions(present, edge_list),
        sample=[float(v) for v in sample],
    )


def summarize_categorical(values: pd.Series, *, max_categories: int = 100) -> CategoricalSummary:
    present = values.dropna()
    missing_ratio = float(1 - len(present) / len(values)) if len(values) else 0.0
    shares = present.astype(str).value_counts(normalize=True)
    frequencies = {str(k): float(v) for k, v in shares.iloc[:max_categories].items()}
    if len(shares) > max_categories:
        frequencies[OTHER_CATEGORY] = float(shares.iloc[max_categories:].sum())
    return CategoricalSummary(count=len(present), missing_ratio=missing_ratio, frequencies=frequencies)


def summarize(values: pd.Series, *, bins: int = 10, sample_size: int = 1000, seed: int = 0) -> Summary:
    """Numeric or categorical summary, by the column's feature kind."""
    if feature_kind(values) == "numeric":
        return summarize_numeric(values, bins=bins, sample_size=sample_size, seed=seed)
    return summarize_categorical(values)


def with_prediction_distribution(
    baseline: Baseline, model: Any, train: pd.DataFrame, spec: ModelSpec, *, seed: int = 0
) -> Baseline:
    """``baseline`` plus the distribution of ``model``'s predictions on its own training rows,
    as the registered artifact's ``baseline.json`` carries it (one definition for the pipeline
    run and for reproducing a version)."""
    predictions = pd.Series(model.predict(train.drop(columns=[spec.target])))
    summary = (
        summarize_categorical(predictions)
        if spec.problem is ProblemType.CLASSIFICATION
        else summarize_numeric(predictions, seed=seed)
    )
    return baseline.model_copy(update={"prediction_distribution": summary})


def compute_baseline(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    predictions: Any = None,
    bins: int = 10,
    sample_size: int = 1000,
    seed: int = 0,
) -> Baseline:
    """Baseline statistics of a (validated) training frame for ``spec``.

    ``predictions`` (a model's predictions on the same rows) adds the prediction distribution;
    without it, monitoring can compare predictions against the target distribution.
    """
    features = {
        str(name): summarize(frame[name], bins=bins, sample_size=sample_size, seed=seed)
        for name in frame.columns
        if name != spec.target
    }
    target = frame[spec.target]
    target_summary: Summary = (
        summarize_categorical(target)
        if spec.problem is ProblemType.CLASSIFICATION
        else summarize_numeric(target, bins=bins, sample_size=sample_size, seed=seed)
    )
    prediction_summary: Summary | None = None
    if predictions is not None:
        series = pd.Series(np.asarray(predictions))
        prediction_summary = (
            summarize_categorical(series)
            if spec.problem is ProblemType.CLASSIFICATION
            else summarize_numeric(series, bins=bins, sample_size=sample_size, seed=seed)
        )
    return Baseline(
        model_name=spec.name,
        problem=spec.problem,
        target=spec.target,
        rows=len(frame),
        features=features,
        target_distribution=target_summary,
        prediction_distribution=prediction_summary,
    )


__all__ = [
    "OTHER_CATEGORY",
    "Baseline",
    "CategoricalSummary",
    "NumericSummary",
    "Summary",
    "bin_proportions",
    "compute_baseline",
    "summarize",
    "summarize_categorical",
    "summarize_numeric",
    "with_prediction_distribution",
]
