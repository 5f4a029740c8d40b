"""Predictors: a fitted pipeline (or its ONNX export) applied to a :class:`FeatureBatch`.

A model pipeline (``pipelines.training.estimators.build_pipeline``) is a ``ColumnTransformer`` over named
DataFrame columns followed by an estimator. Run as is, one row costs about 3 ms, almost all of it
pandas and ColumnTransformer bookkeeping (the ``numbers_as_float`` step alone rebuilds a
DataFrame). :class:`SklearnPredictor` therefore *plans* the fitted pipeline once: each block's
imputation and scaling become numpy expressions over the fitted statistics, other fitted steps
(one-hot encoding, anything unrecognised) get numpy arrays, and the fitted estimator itself is
called on the resulting matrix: about 0.1 ms for one row of logistic regression. The plan is
checked against the full pipeline on probe rows at load time; a pipeline it does not recognise,
or one whose planned output differs, is run the slow way (a DataFrame built from the arrays).

:class:`OnnxPredictor` runs the ONNX export (:mod:`pipelines.serving.onnx_export`) with
onnxruntime; imputation stays on the host, shared with the plan.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import ModelExportError
from pipelines.serving.limits import (
    InputLimits,
    check_estimator_input,
    check_finite_output,
    estimator_limit,
    input_limits,
)
from pipelines.serving.pipeline_plan import PipelinePlan, PredictionResult, plan_pipeline
from pipelines.serving.schema import FeatureBatch, InputSchema

log = logging.getLogger(__name__)


ServingFormat = Literal["sklearn", "onnx"]


#: the planned (or ONNX) output must match the pipeline's on the probe rows within this
PROBE_TOLERANCE = 1e-9


#: ONNX: probabilities and regression values within this of scikit-learn's, labels identical
ONNX_TOLERANCE = 1e-5


class Predictor(Protocol):
    format: ServingFormat
    #: class labels in probability-column order (classifiers), else None
    classes: list[Any] | None
    #: ``classes`` when ``predict`` returns class probabilities, else None (a regressor, or a
    #: classifier without ``predict_proba``): what the inference log records them under
    probability_classes: list[Any] | None
    #: how the predictor runs, for /metrics and logs ("planned", "dataframe", "onnx")
    mode: str
    #: the range of each numeric feature the model computes with (None: not derivable)
    limits: InputLimits | None

    def predict(self, batch: FeatureBatch) -> PredictionResult: ...


def _classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return [c.item() if hasattr(c, "item") else c for c in classes]


class SklearnPredictor:
    """The fitted scikit-learn pipeline, planned when possible (see the module docstring)."""

    format: ServingFormat = "sklearn"

    def __init__(self, pipeline: Any, schema: InputSchema, *, plan: bool = True) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.classes = _classes(pipeline)
        self._proba = self.classes is not None and hasattr(pipeline, "predict_proba")
        self.probability_classes = self.classes if self._proba else None
        self.plan = plan_pipeline(pipeline, schema) if plan else None
        self.mode = "planned" if self.plan is not None else "dataframe"
        if self.plan is not None:
            probes = probe_batch(schema, self.plan)
            reason = _disagreement(
                self._predict_planned(probes), self._predict_frame(probes), PROBE_TOLERANCE
            )
            if reason:
                log.warning("planned pipeline disagrees with the pipeline (%s); using DataFrames", reason)
                self.plan, self.mode = None, "dataframe"
        self.limits = input_limits(self.plan, schema.numeric_names) if self.plan is not None else None

    def predict(self, batch: FeatureBatch) -> PredictionResult:
        """Predictions for a batch; input the model cannot compute with is an :class:`InferenceInputError`."""
        if self.limits is not None:
            self.limits.check(batch.numeric, batch.first_row)
        if self.plan is not None:
            result = self._predict_planned(batch)
        else:
            result = self._predict_frame(batch, check=True)
        check_finite_output(result, batch.first_row)
        return result

    def _predict_planned(self, batch: FeatureBatch) -> PredictionResult:
        assert self.plan is not None
        matrix = self.plan.transform(batch)
        model = self.plan.model
        if self._proba:
            probabilities = model.predict_proba(matrix)
            labels = np.asarray(model.classes_)[probabilities.argmax(axis=1)]
            return PredictionResult(labels, probabilities)
        return PredictionResult(np.asarray(model.predict(matrix)).ravel())

    def _predict_frame(self, batch: FeatureBatch, *, check: bool = False) -> PredictionResult:
        frame = batch_to_frame(batch, self.schema)
        model: Any = self.pipeline
        data: Any = frame
        if check and isinstance(self.pipeline, Pipeline) and len(self.pipeline.steps) > 1:
            # what Pipeline.predict does, with a look at the estimator's input in between: an
            # unrecognised preprocessing may still turn a finite value into one it refuses
            with np.errstate(over="ignore"):  # an overflow is refused just below, by name
                data = self.pipeline[:-1].transform(frame)
            model = self.pipeline.steps[-1][1]
            if isinstance(data, np.ndarray) and data.dtype.kind in "fc":
                check_estimator_input(
                    data, estimator_limit(model), self._matrix_columns(data), batch.first_row
                )
        if self._proba:
            probabilities = model.predict_proba(data)
            labels = np.asarray(self.pipeline.classes_)[probabilities.argmax(axis=1)]
            return PredictionResult(labels, probabilities)
        return PredictionResult(np.asarray(model.predict(data)).ravel())

    def _matrix_columns(self, matrix: np.ndarray) -> list[str]:
        try:
            return [str(name) for name in self.pipeline[:-1].get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):  # a step without feature names
            return [f"#{j}" for j in range(matrix.shape[1])]


def batch_to_frame(batch: FeatureBatch, schema: InputSchema) -> pd.DataFrame:
    """The cheapest DataFrame the pipeline accepts: one dict of column arrays, no copies of numbers."""
    columns: dict[str, Any] = {}
    for j, name in enumerate(schema.numeric_names):
        columns[name] = batch.numeric[:, j]
    if batch.categorical is not None:
        for j, name in enumerate(schema.categorical_names):
            columns[name] = batch.categorical[:, j]
    return pd.DataFrame({name: columns[name] for name in schema.names}, copy=False)


def probe_batch(schema: InputSchema, plan: PipelinePlan | None) -> FeatureBatch:
    """Rows to compare two ways of predicting: all missing, the imputers' fill values, and shifts."""
    n_num = len(schema.numeric_names)
    center = np.zeros(n_num)
    spread = np.ones(n_num)
    categories: list[list[Any]] = [[None] for _ in schema.categorical_names]
    if plan is not None:
        for block in plan.blocks:
            if block.kind == "numeric" and block.fill is not None:
                center[block.columns] = block.fill
                for _, step in block.fitted:
                    if isinstance(step, StandardScaler) and step.with_std:
                        spread[block.columns] = step.scale_
            elif block.kind == "categorical":
                for _, step in block.fitted:
                    for j, cats in zip(block.columns, getattr(step, "categories_", []), strict=False):
                        categories[j] = [None, *list(cats)[:3]]
    rows_num = [np.full(n_num, np.nan), center, center + spread, center - 2 * spread, center + 0.5 * spread]
    numeric = np.vstack(rows_num).astype(np.float64)
    categorical = None
    if schema.categorical_names:
        categorical = np.empty((len(rows_num), len(schema.categorical_names)), dtype=object)
        for r in range(len(rows_num)):
            for j, cats in enumerate(categories):
                value = cats[r % len(cats)]
                categorical[r, j] = None if value is None else str(value)
    return FeatureBatch(numeric=numeric, categorical=categorical, n_rows=len(rows_num))


def _disagreement(a: PredictionResult, b: PredictionResult, tolerance: float) -> str | None:
    if a.probabilities is not None and b.probabilities is not None:
        gap = float(np.max(np.abs(a.probabilities - b.probabilities)))
        if gap > tolerance:
            return f"probabilities differ by {gap:.3g} > {tolerance:g}"
    if a.predictions.dtype.kind in "fc" and b.predictions.dtype.kind in "fc":
        gap = float(np.max(np.abs(a.predictions.astype(np.float64) - b.predictions.astype(np.float64))))
        if gap > tolerance * max(1.0, float(np.max(np.abs(b.predictions)))):
            return f"predictions differ by {gap:.3g}"
    elif list(a.predictions.tolist()) != list(b.predictions.tolist()):
        return "predicted labels differ"
    return None


class OnnxPredictor:
    """An ONNX export of the pipeline run by onnxruntime (one thread per worker process)."""

    format: ServingFormat = "onnx"
    mode = "onnx"

    def __init__(
        self,
        onnx_bytes: bytes,
        plan: PipelinePlan,
        schema: InputSchema,
        classes: list[Any] | None,
        *,
        probability_classes: list[Any] | None = None,
    ):
        """``probability_classes``: the scikit-learn predictor's (its second output is then class
        probabilities, not a classifier's decision scores)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        # the server scales with worker processes; threads inside one would fight over the cores
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.plan = plan
        self.schema = schema
        self.classes = classes
        self.probability_classes = probability_classes
        self._input_names = [i.name for i in self.session.get_inputs()]
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._single = self._input_names == ["numeric"]
        # scikit-learn's limits: a version takes the same input whichever format serves it
        self.limits = input_limits(plan, schema.numeric_names)

    def predict(self, batch: FeatureBatch) -> PredictionResult:
        self.limits.check(batch.numeric, batch.first_row)
        result = self._run(batch)
        check_finite_output(result, batch.first_row)
        return result

    def _run(self, batch: FeatureBatch) -> PredictionResult:
        imputed, blocks = self.plan.impute(batch)
        if self._single:
            feeds = {"numeric": np.ascontiguousarray(imputed[0], dtype=np.float64)}
        else:
            feeds = {}
            for values, block in zip(imputed, blocks, strict=True):
                names = (
                    self.schema.numeric_names if block.kind == "numeric" else self.schema.categorical_names
                )
                for j, col in enumerate(block.columns):
                    feeds[names[col]] = np.ascontiguousarray(values[:, j : j + 1])
        outputs = self.session.run(None, feeds)
        if self.classes is not None:
            labels = np.asarray(outputs[0]).ravel()
            return PredictionResult(labels, np.asarray(outputs[1], dtype=np.float64))
        return PredictionResult(np.asarray(outputs[0], dtype=np.float64).ravel())


def check_agreement(
    candidate: Predictor, reference: Predictor, batch: FeatureBatch, tolerance: float = ONNX_TOLERANCE
) -> None:
    """Raise :class:`ModelExportError` when ``candidate`` disagrees with ``reference`` on ``batch``."""
    reason = _disagreement(candidate.predict(batch), reference.predict(batch), tolerance)
    if reason:
        raise ModelExportError(
            f"the {candidate.mode} model disagrees with scikit-learn on probe rows ({reason}); "
            "serve this model with serving_format 'sklearn'"
        )


def time_predict(predictor: Predictor, batch: FeatureBatch, repeat: int = 20) -> float:
    """Median seconds per ``predict`` call on ``batch``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        predictor.predict(batch)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def repeat_rows(batch: FeatureBatch, n: int) -> FeatureBatch:
    index = np.arange(n) % batch.n_rows
    categorical = batch.categorical[index] if batch.categorical is not None else None
    return FeatureBatch(numeric=batch.numeric[index], categorical=categorical, n_rows=n)
