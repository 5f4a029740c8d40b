"""Which finite numbers a model can compute with, per numeric feature, and the checks that say so.

A finite float64 in a request is not always a value the model can take. Standard scaling divides
by the training spread (``1e308`` in a feature with spread 0.003 becomes infinite), scikit-learn's
trees compare in float32 (anything above ~3.4e38 after scaling is refused), and a linear model's
dot product can overflow. scikit-learn answers such input with ``ValueError`` (a 500, which fires
the error-rate alarm and starts a retrain) and the ONNX graph with a number computed from infinity.

:func:`input_limits` derives from the fitted plan the closed range ``[low, high]`` of each numeric
feature inside which every step stays finite: with ``z = (x - mean) / scale`` the scaled value,
``|z| <= limit`` where ``limit`` is what the estimator takes (:func:`estimator_limit`). The same
limits apply to the scikit-learn and ONNX paths, so a version accepts the same input whichever
format serves it, and the OpenAPI description publishes them as ``minimum``/``maximum``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from core.errors import InferenceInputError

if TYPE_CHECKING:
    from pipelines.serving.pipeline_plan import PipelinePlan, PredictionResult

FLOAT64_MAX = float(np.finfo(np.float64).max)
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: head-room under a dtype's maximum for the rounding of the scaling and of the limit itself
_MARGIN = 1 - 1e-6
OUT_OF_RANGE = "value_out_of_range"


def estimator_limit(model: Any) -> float:
    """The largest ``|z|`` of a scaled feature the fitted estimator computes with, staying finite.

    - scikit-learn's trees (random forests, classic gradient boosting) cast their input to float32;
    - linear models (``coef_``): ``|coef . z + intercept|`` must stay finite, so each ``|z|`` is
      bounded by half the float64 maximum over the largest row sum of ``|coef|`` (the other half
      is room for the intercept, the one-hot columns and rounding);
    - anything else (histogram gradient boosting bins float64): any finite float64.
    """
    if hasattr(model, "tree_") or _holds_trees(getattr(model, "estimators_", None)):
        return FLOAT32_MAX * _MARGIN
    coef = getattr(model, "coef_", None)
    if coef is not None:
        weight = float(np.max(np.sum(np.abs(np.atleast_2d(np.asarray(coef, dtype=np.float64))), axis=1)))
        return FLOAT64_MAX / 2 / max(weight, 1.0)
    return FLOAT64_MAX * _MARGIN


def _holds_trees(estimators: Any) -> bool:
    if estimators is None:
        return False
    flat = np.ravel(np.asarray(estimators, dtype=object))
    return len(flat) > 0 and all(hasattr(e, "tree_") for e in flat)


@dataclass(frozen=True)
class InputLimits:
    """Closed ranges of the numeric features, in the order of the batch's numeric matrix."""

    names: Sequence[str]
    low: np.ndarray
    high: np.ndarray

    def bounds(self, name: str) -> tuple[float, float]:
        j = list(self.names).index(name)
        return float(self.low[j]), float(self.high[j])

    def check(self, numeric: np.ndarray, first_row: int = 1) -> None:
        """Raise :class:`InferenceInputError` (400) naming the first value outside its range."""
        # NaN (a missing value, imputed later) compares False on both sides
        outside = (numeric < self.low) | (numeric > self.high)
        if not outside.any():
            return
        bad = np.argwhere(outside)
        r, j = (int(i) for i in bad[0])
        more = f" ({len(bad) - 1} more value(s) out of range)" if len(bad) > 1 else ""
        raise InferenceInputError(
            f"row {r + first_row}, column {self.names[j]!r}: {float(numeric[r, j])!r} is outside the range "
            f"this model can compute with, {float(self.low[j])!r} to {float(self.high[j])!r}{more}",
            code=OUT_OF_RANGE,
        )


def input_limits(plan: PipelinePlan, numeric_names: Sequence[str]) -> InputLimits:
    """Per numeric feature, the inputs for which the plan's steps and the estimator stay finite.

    A feature whose block does more than scale (a step this module does not know) is bounded only
    by float64; :func:`check_estimator_input` and :func:`check_finite_output` catch the rest.
    """
    n = len(numeric_names)
    low, high = np.full(n, -FLOAT64_MAX), np.full(n, FLOAT64_MAX)
    limit = estimator_limit(plan.model) if not plan.middle else FLOAT64_MAX
    for block in plan.blocks:
        if block.kind != "numeric":
            continue
        steps = [step for _, step in block.fitted]
        if not all(isinstance(step, StandardScaler) for step in steps):
            continue
        mean, scale = np.zeros(len(block.columns)), np.ones(len(block.columns))
        for step in steps:  # z = ((x - m1) / s1 - m2) / s2 ...: x = mean + z * scale, composed
            m = np.asarray(step.mean_, dtype=np.float64) if step.with_mean else 0.0
            s = np.asarray(step.scale_, dtype=np.float64) if step.with_std else 1.0
            mean, scale = mean + m * scale, scale * s
        with np.errstate(over="ignore"):
            low[block.columns] = np.maximum(mean - limit * scale, -FLOAT64_MAX)
            high[block.columns] = np.minimum(mean + limit * scale, FLOAT64_MAX)
    return InputLimits(names=list(numeric_names), low=low, high=high)


def check_estimator_input(
    matrix: np.ndarray, limit: float, columns: Sequence[str], first_row: int = 1
) -> None:
    """For pipelines run as they are: the transformed matrix must be what the estimator takes."""
    values = np.asarray(matrix, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        outside = ~(np.abs(values) <= limit) & ~np.isnan(values)
    if outside.any():
        r, j = (int(i) for i in np.argwhere(outside)[0])
        raise InferenceInputError(
            f"row {r + first_row}: the model's preprocessing turns it into {values[r, j]!r} in column "
            f"{columns[j]!r}, outside what the model can compute with (|value| <= {limit:.4g}); "
            "a feature value is too large in magnitude",
            code=OUT_OF_RANGE,
        )


def check_finite_output(result: PredictionResult, first_row: int = 1) -> None:
    """A prediction computed from input inside the limits must be finite: a 400, never a null."""
    for values in (result.probabilities, result.predictions):
        if values is None or values.dtype.kind not in "fc":
            continue
        finite = np.isfinite(values)
        if not finite.all():
            r = int(np.argwhere(~finite)[0][0])
            raise InferenceInputError(
                f"row {r + first_row}: the model's output is not a finite number for this input "
                "(a feature value is too large in magnitude)",
                code=OUT_OF_RANGE,
            )


__all__ = [
    "FLOAT32_MAX",
    "FLOAT64_MAX",
    "OUT_OF_RANGE",
    "InputLimits",
    "check_estimator_input",
    "check_finite_output",
    "estimator_limit",
    "input_limits",
]
