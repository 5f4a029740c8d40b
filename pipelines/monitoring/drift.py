"""Drift statistics of live values against a training :class:`~pipelines.monitoring.baseline.Baseline`.

Pure numpy/scipy over whole columns: nothing here loops over records in Python. Numeric columns are
binned with :func:`pipelines.monitoring.baseline.bin_proportions` (the rule the baseline itself was built with)
and compared by PSI and a two-sample KS test against the baseline's sample; categorical columns are
compared by PSI over category shares, with categories the baseline never saw in an "other" bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipelines.monitoring.baseline import OTHER_CATEGORY, CategoricalSummary, NumericSummary, bin_proportions

#: share given to an empty bin on either side, so PSI stays finite
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column in one window; ``psi`` is ``None`` when the window had no present value."""

    name: str
    kind: str
    count: int
    psi: float | None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def psi(expected: Any, actual: Any, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over matching bins.

    Both sides are clipped to at least ``epsilon`` (an empty bin would make the log infinite).
    """
    e = np.clip(np.asarray(expected, dtype="float64"), epsilon, None)
    a = np.clip(np.asarray(actual, dtype="float64"), epsilon, None)
    if e.shape != a.shape:
        raise ValueError(f"psi needs bins of the same length, got {e.shape} and {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_drift(name: str, values: np.ndarray, summary: NumericSummary) -> FeatureDrift:
    """PSI over the baseline's quantile bins plus KS against its sample, for one float column."""
    present = values[np.isfinite(values)]
    if present.size == 0 or not summary.bin_edges:
        return FeatureDrift(name=name, kind="numeric", count=int(present.size), psi=None)
    actual = bin_proportions(present, summary.bin_edges)
    value = psi(summary.expected_proportions, actual)
    ks_stat: float | None = None
    ks_p: float | None = None
    if summary.sample:
        result = stats.ks_2samp(present, np.asarray(summary.sample, dtype="float64"), method="asymp")
        ks_stat, ks_p = float(result.statistic), float(result.pvalue)
    return FeatureDrift(
        name=name, kind="numeric", count=int(present.size), psi=value, ks_statistic=ks_stat, ks_pvalue=ks_p
    )


def category_shares(values: np.ndarray, frequencies: dict[str, float]) -> tuple[list[float], list[float]]:
    """``(expected, actual)`` shares over the baseline's categories plus the "other" bucket.

    ``values`` is an object array; ``None`` (and NaN) counts as missing. Values are compared as strings, the
    way the baseline stored them; a float like ``1.0`` also matches a baseline category ``"1"``.
    Only distinct values are visited in Python, never every record.
    """
    present = values[~pd.isna(values)]
    categories = [c for c in frequencies if c != OTHER_CATEGORY]
    index = {c: i for i, c in enumerate(categories)}
    other = len(categories)
    counts = np.zeros(other + 1, dtype="float64")
    if present.size:
        uniques, inverse = np.unique(present.astype(str), return_inverse=True)
        slot = np.array([index.get(u, index.get(_integral(u), other)) for u in uniques], dtype="int64")
        counts += np.bincount(slot[inverse.ravel()], minlength=other + 1)
    expected = [frequencies[c] for c in categories] + [frequencies.get(OTHER_CATEGORY, 0.0)]
    actual = list(counts / present.size) if present.size else [0.0] * (other + 1)
    return expected, actual


def categorical_drift(name: str, values: np.ndarray, summary: CategoricalSummary) -> FeatureDrift:
    present = int(np.count_nonzero(~pd.isna(values)))
    if present == 0:
        return FeatureDrift(name=name, kind="categorical", count=0, psi=None)
    expected, actual = category_shares(values, summary.frequencies)
    return FeatureDrift(name=name, kind="categorical", count=present, psi=psi(expected, actual))


def column_drift(name: str, values: np.ndarray, summary: NumericSummary | CategoricalSummary) -> FeatureDrift:
    if isinstance(summary, NumericSummary):
        return numeric_drift(name, as_float(values), summary)
    return categorical_drift(name, values, summary)


def as_float(values: np.ndarray) -> np.ndarray:
    """A float column; ``None`` and anything non-numeric become NaN (missing)."""
    try:
        return np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            "float64", na_value=np.nan
        )


def _integral(text: str) -> str:
    """``"1.0"`` -> ``"1"``; anything else unchanged."""
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


__all__ = [
    "PSI_EPSILON",
    "FeatureDrift",
    "as_float",
    "categorical_drift",
    "category_shares",
    "column_drift",
    "numeric_drift",
    "psi",
]
