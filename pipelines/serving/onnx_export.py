"""ONNX export of a trained pipeline (skl2onnx), for tenants whose ``model.serving_format`` is ``onnx``.

skl2onnx converts neither the ``FunctionTransformer`` dtype converters of our pipelines (arbitrary
Python functions) nor, usefully, their imputers (onnxruntime implements ``Imputer`` for float32
only, and string imputation does not convert). The export therefore covers what follows
imputation, built from the *fitted* steps of the pipeline (nothing is refitted):

- numeric-only models: one input ``numeric`` (float64, ``(n, numeric features)``) through the
  numeric block's steps (scaling) and the estimator;
- models with categorical features: one input per feature (float64 or string, ``(n, 1)``), named
  after it, through a copy of the ``ColumnTransformer`` without converters and imputers.

The server fills missing values on the host with the fitted imputers' statistics (exactly what
``SimpleImputer.transform`` does), then runs the graph in float64 (tree ensembles: on float32, as scikit-learn's trees do), so the
export agrees with scikit-learn to about 1e-6 for forests (float32 leaf values, identical splits:
see ``_float32_safe_trees``) and 1e-15 for linear models;
:func:`export_onnx` refuses an export that differs by more than ``ONNX_TOLERANCE`` on probe rows.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelExportError
from pipelines.serving.pipeline_plan import PipelinePlan, plan_pipeline
from pipelines.serving.predictor import (
    ONNX_TOLERANCE,
    OnnxPredictor,
    SklearnPredictor,
    check_agreement,
    probe_batch,
)
from pipelines.serving.schema import InputSchema

ONNX_FILENAME = "model.onnx"
#: the graph's name; skl2onnx would otherwise pick a random one, making every export's bytes differ
GRAPH_NAME = "tenantml"
#: the highest opsets the export may use (skl2onnx picks the lowest that suffices)
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def export_onnx(pipeline: Any, schema: InputSchema, *, check: bool = True) -> bytes:
    """The serialized ONNX model for a fitted pipeline; raises :class:`ModelExportError` if it cannot."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    except ImportError as err:  # the optional 'onnx' extra
        raise ModelExportError(
            "ONNX serving needs skl2onnx and onnxruntime: pip install 'tenantml[onnx]'"
        ) from err
    plan = plan_pipeline(pipeline, schema)
    if plan is None:
        raise ModelExportError(
            "this pipeline's preprocessing is not one tenantml can export (expected the "
            "ColumnTransformer built by pipelines.training.estimators.build_pipeline); serve it as 'sklearn'"
        )
    from sklearn.pipeline import Pipeline

    model = _float32_safe_trees(plan.model)
    tail: list[tuple[str, Any]] = [("model", model)]
    if model is not plan.model:
        # trees decide on float32 inputs, as scikit-learn's do (see _float32_safe_trees)
        from skl2onnx.sklapi import CastTransformer

        tail.insert(0, ("as_float32", CastTransformer(dtype=np.float32).fit(np.zeros((1, 1)))))
    if schema.numeric_only and len(plan.blocks) == 1:
        exported: Any = Pipeline([*plan.blocks[0].fitted, *plan.middle, *tail])
        initial_types = [("numeric", DoubleTensorType([None, len(schema.numeric_names)]))]
    else:
        exported = _without_host_steps(pipeline)
        exported = Pipeline([*exported.steps[:-1], *tail])
        initial_types = [
            (f.name, DoubleTensorType([None, 1]) if f.kind == "numeric" else StringTensorType([None, 1]))
            for f in schema.signature
        ]
    options = {type(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        onnx_model = convert_sklearn(
            exported,
            initial_types=initial_types,
            options=options,
            target_opset=TARGET_OPSET,
            name=GRAPH_NAME,
        )
    except Exception as err:  # skl2onnx raises RuntimeError, ValueError, TypeError, NameError...
        raise ModelExportError(
            f"skl2onnx cannot convert {type(model).__name__}: {str(err).splitlines()[0][:300]}; "
            "serve this model with serving_format 'sklearn'"
        ) from err
    data = onnx_model.SerializeToString()
    if check:
        reference = SklearnPredictor(pipeline, schema)
        candidate = OnnxPredictor(
            data, plan, schema, reference.classes, probability_classes=reference.probability_classes
        )
        check_agreement(candidate, reference, probe_batch(schema, plan), ONNX_TOLERANCE)
    return data


def save_onnx(pipeline: Any, schema: InputSchema, model_dir: Path) -> Path:
    """Write ``model.onnx`` beside ``model.joblib`` (include it in the archive to skip the export at load)."""
    path = Path(model_dir) / ONNX_FILENAME
    path.write_bytes(export_onnx(pipeline, schema))
    return path


def load_onnx_predictor(pipeline: Any, schema: InputSchema, model_dir: Path | None = None) -> OnnxPredictor:
    """An :class:`OnnxPredictor` from ``model_dir/model.onnx`` when present, else exported now.

    A shipped ``model.onnx`` is checked against the pipeline on probe rows like a fresh export.
    """
    plan = plan_pipeline(pipeline, schema)
    if plan is None:
        raise ModelExportError("this pipeline cannot be served as ONNX; serve it as 'sklearn'")
    shipped = Path(model_dir) / ONNX_FILENAME if model_dir is not None else None
    if shipped is not None and shipped.is_file():
        data = shipped.read_bytes()
    else:
        data = export_onnx(pipeline, schema, check=False)
    reference = SklearnPredictor(pipeline, schema)
    predictor = OnnxPredictor(
        data, plan, schema, reference.classes, probability_classes=reference.probability_classes
    )
    check_agreement(predictor, reference, probe_batch(schema, plan), ONNX_TOLERANCE)
    return predictor


def _float32_safe_trees(model: Any) -> Any:
    """A copy of a tree ensemble whose split thresholds survive ONNX's float32 comparison.

    scikit-learn casts inputs to float32 and compares ``x <= threshold`` with a float64
    threshold; onnxruntime's tree ensemble (``ai.onnx.ml`` 1) stores thresholds *rounded to the
    nearest* float32, which flips a split whenever ``x`` falls between the two. For a float32 ``x``,
    ``x <= t`` holds exactly when ``x <= t`` rounded *down* to float32, so with a float32 cast in
    front of the ensemble and thresholds rounded down, every decision is scikit-learn's. Other
    models are returned as they are.
    """
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return model
    trees = list(np.ravel(np.asarray(estimators, dtype=object)))
    if not trees or not all(hasattr(tree, "tree_") for tree in trees):
        return model
    model = copy.deepcopy(model)
    for tree in np.ravel(np.asarray(model.estimators_, dtype=object)):
        thresholds = tree.tree_.threshold
        rounded = thresholds.astype(np.float32)
        above = rounded.astype(np.float64) > thresholds
        rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
        thresholds[:] = rounded.astype(np.float64)
    return model


def _without_host_steps(pipeline: Any) -> Any:
    """A deep copy of the fitted pipeline whose blocks no longer convert dtypes or impute."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer

    exported = copy.deepcopy(pipeline)
    preprocess = exported.steps[0][1]
    for _name, transformer, _columns in preprocess.transformers_:
        if not hasattr(transformer, "steps"):
            continue
        kept = [
            (name, step)
            for name, step in transformer.steps
            if not isinstance(step, FunctionTransformer | SimpleImputer)
        ]
        if not kept:
            kept = [("identity", FunctionTransformer(None).fit(np.zeros((1, 1))))]
        transformer.steps[:] = kept
    return exported


__all__ = ["ONNX_FILENAME", "TARGET_OPSET", "PipelinePlan", "export_onnx", "load_onnx_predictor", "save_onnx"]
