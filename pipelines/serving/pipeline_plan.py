"""A fitted scikit-learn pipeline read as arrays: what the fast predictors run, and what a prediction returns.

:func:`plan_pipeline` turns the pipelines ``build_pipeline`` makes (imputation, scaling, one-hot
encoding, then the estimator) into numpy blocks, so a request skips pandas; the predictors
(:mod:`pipelines.serving.predictor`) and the input limits (:mod:`pipelines.serving.limits`) read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from pipelines.data.features import categories_as_strings, numbers_as_float
from pipelines.serving.schema import FeatureBatch, InputSchema

#: one numpy step of a planned pipeline block
Kernel = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PredictionResult:
    """``predictions``: class labels or regression values; ``probabilities``: (n, classes) or None."""

    predictions: np.ndarray
    probabilities: np.ndarray | None = None


@dataclass
class _Block:
    kind: Literal["numeric", "categorical"]
    #: column indices into the batch's numeric or categorical matrix
    columns: np.ndarray
    identity_columns: bool
    #: fill values for missing entries (the fitted imputer's statistics), applied on the host
    fill: np.ndarray | None = None
    #: steps after imputation: numpy kernels or fitted transformers' ``transform``
    steps: list[Kernel] = field(default_factory=list)
    #: the fitted transformers behind ``steps`` (for the ONNX export), None for pure reshaping
    fitted: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class PipelinePlan:
    """A fitted ``build_pipeline`` pipeline taken apart into host-side steps."""

    blocks: list[_Block]
    middle: list[tuple[str, Any]]
    model: Any

    def impute(self, batch: FeatureBatch) -> tuple[list[np.ndarray], list[_Block]]:
        """Each block's input columns with missing values filled, as the fitted imputers would."""
        outputs = []
        for block in self.blocks:
            source = batch.numeric if block.kind == "numeric" else batch.categorical
            assert source is not None
            values = source if block.identity_columns else source[:, block.columns]
            if block.fill is not None:
                if block.kind == "numeric":
                    missing = np.isnan(values)
                    if missing.any():
                        values = np.where(missing, block.fill, values)
                else:
                    missing = np.equal(values, None)
                    if missing.any():
                        values = np.where(missing, block.fill, values)
            outputs.append(values)
        return outputs, self.blocks

    def transform(self, batch: FeatureBatch) -> np.ndarray:
        parts = []
        for values, block in zip(*self.impute(batch), strict=True):
            for step in block.steps:
                values = step(values)
            parts.append(values)
        matrix = parts[0] if len(parts) == 1 else np.hstack(parts)
        for _, step in self.middle:
            matrix = step.transform(matrix)
        return matrix


def plan_pipeline(pipeline: Any, schema: InputSchema) -> PipelinePlan | None:
    """The plan of a fitted pipeline, or ``None`` when its shape is not one this module knows."""
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        return None
    preprocess = pipeline.steps[0][1]
    if not isinstance(preprocess, ColumnTransformer) or not hasattr(preprocess, "transformers_"):
        return None
    if preprocess.sparse_threshold != 0:
        return None
    numeric_pos = {name: i for i, name in enumerate(schema.numeric_names)}
    categorical_pos = {name: i for i, name in enumerate(schema.categorical_names)}
    blocks = []
    for _name, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or (isinstance(columns, list | tuple | np.ndarray) and len(columns) == 0):
            continue
        if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
            return None
        if all(c in numeric_pos for c in columns):
            kind, positions = "numeric", [numeric_pos[c] for c in columns]
        elif all(c in categorical_pos for c in columns):
            kind, positions = "categorical", [categorical_pos[c] for c in columns]
        else:
            return None
        width = len(numeric_pos) if kind == "numeric" else len(categorical_pos)
        block = _Block(
            kind=kind,  # type: ignore[arg-type]
            columns=np.asarray(positions, dtype=np.intp),
            identity_columns=positions == list(range(width)),
        )
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("step", transformer)]
        if transformer == "passthrough":
            steps = []
        for step_name, step in steps:
            if not _plan_step(block, step_name, step):
                return None
        blocks.append(block)
    if not blocks:
        return None
    middle = list(pipeline.steps[1:-1])
    return PipelinePlan(blocks=blocks, middle=middle, model=pipeline.steps[-1][1])


def _plan_step(block: _Block, name: str, step: Any) -> bool:
    if isinstance(step, FunctionTransformer):
        # the batch already holds float64 / str-or-None: these converters change nothing
        expected = numbers_as_float if block.kind == "numeric" else categories_as_strings
        return step.func is expected and step.inverse_func is None
    if isinstance(step, SimpleImputer) and not block.steps:
        if step.add_indicator or block.fill is not None:
            return False
        missing = step.missing_values
        if not (missing is None or (isinstance(missing, float) and np.isnan(missing)) or missing is pd.NA):
            return False
        statistics = np.asarray(step.statistics_)
        if len(statistics) != len(block.columns):
            return False
        if block.kind == "numeric":
            statistics = statistics.astype(np.float64)
            if np.isnan(statistics).any():
                return False  # a column missing at fit time is dropped by the imputer
        elif any(s is None or (isinstance(s, float) and np.isnan(s)) for s in statistics):
            return False
        block.fill = statistics if block.kind == "numeric" else statistics.astype(object)
        return True
    if isinstance(step, StandardScaler) and block.kind == "numeric":
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def scale_kernel(x: np.ndarray, mean: Any = mean, scale: Any = scale) -> np.ndarray:
            if mean is not None:
                x = x - mean
            if scale is not None:
                x = x / scale
            return x

        block.steps.append(scale_kernel)
        block.fitted.append((name, step))
        return True
    if hasattr(step, "transform"):
        block.steps.append(step.transform)
        block.fitted.append((name, step))
        return True
    return False
