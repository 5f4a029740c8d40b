"""The planned scikit-learn path and the ONNX export against the pipeline itself, on real models.

Stated tolerances:
- planned scikit-learn vs ``pipeline.predict_proba(DataFrame)``: identical labels, probabilities and
  regression values within 1e-9 (observed: exact to 1e-16; the same fitted objects do the math);
- ONNX (float64 graph, onnxruntime) vs scikit-learn on the breast-cancer holdout: identical labels,
  probabilities within 1e-5 absolute (observed: about 1e-15 for logistic regression, 7e-7 for the
  100-tree forest, whose leaf values ONNX stores as float32; split decisions are identical).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ModelExportError
from pipelines.serving.predictor import SklearnPredictor, batch_to_frame
from pipelines.serving.schema import InputSchema

ONNX_PROBABILITY_TOLERANCE = 1e-5


def _batch(model, frame):
    schema = InputSchema(model.metadata.input_signature)
    return schema, schema.batch_from_frame(frame[schema.names])


@pytest.mark.parametrize("name", ["logistic", "forest", "mixed"])
def test_planned_classifier_matches_the_pipeline(request, name, cancer_split, mixed_frame):
    model = request.getfixturevalue(name)
    frame = mixed_frame if name == "mixed" else cancer_split[1]
    schema, batch = _batch(model, frame)
    # given the planned predictor / when it predicts the holdout
    predictor = SklearnPredictor(model.pipeline, schema)
    result = predictor.predict(batch)
    # then it was planned (no DataFrame per request) and agrees with the pipeline on DataFrames
    assert predictor.mode == "planned"
    expected = model.pipeline.predict_proba(frame[schema.names])
    np.testing.assert_allclose(result.probabilities, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(result.predictions, model.pipeline.predict(frame[schema.names]))
    assert predictor.classes == [0, 1]


def test_planned_regressor_matches_the_pipeline(ridge):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    schema, batch = _batch(ridge, frame)
    predictor = SklearnPredictor(ridge.pipeline, schema)
    assert predictor.mode == "planned" and predictor.classes is None
    np.testing.assert_allclose(
        predictor.predict(batch).predictions, ridge.pipeline.predict(frame[schema.names]), rtol=1e-12
    )


def test_dataframe_fallback_matches_the_pipeline(logistic, cancer_split):
    schema, batch = _batch(logistic, cancer_split[1])
    predictor = SklearnPredictor(logistic.pipeline, schema, plan=False)
    assert predictor.mode == "dataframe"
    frame = batch_to_frame(batch, schema)
    assert list(frame.columns) == schema.names
    np.testing.assert_allclose(
        predictor.predict(batch).probabilities,
        logistic.pipeline.predict_proba(cancer_split[1][schema.names]),
        rtol=0,
        atol=1e-12,
    )


def test_an_unrecognised_pipeline_is_served_through_dataframes(cancer_split):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from pipelines.data.features import input_signature

    train, holdout = cancer_split
    pipeline = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=2000))
    pipeline.fit(train.drop(columns="target"), train["target"])
    schema = InputSchema(input_signature(train, "target"))
    predictor = SklearnPredictor(pipeline, schema)
    assert predictor.mode == "dataframe"
    batch = schema.batch_from_frame(holdout)
    np.testing.assert_array_equal(
        predictor.predict(batch).predictions, pipeline.predict(holdout[schema.names])
    )


@pytest.mark.parametrize("name", ["logistic", "forest"])
def test_onnx_export_matches_scikit_learn_on_the_holdout(request, name, cancer_split, tmp_path):
    from pipelines.serving.onnx_export import load_onnx_predictor, save_onnx

    model = request.getfixturevalue(name)
    holdout = cancer_split[1]
    schema, batch = _batch(model, holdout)
    # given the export written beside the model / when onnxruntime predicts the holdout
    save_onnx(model.pipeline, schema, tmp_path)
    predictor = load_onnx_predictor(model.pipeline, schema, tmp_path)
    result = predictor.predict(batch)
    # then labels are identical and probabilities within the stated tolerance
    expected = model.pipeline.predict_proba(holdout[schema.names])
    assert np.max(np.abs(result.probabilities - expected)) <= ONNX_PROBABILITY_TOLERANCE
    np.testing.assert_array_equal(result.predictions, model.pipeline.predict(holdout[schema.names]))
    assert len(holdout) >= 100


def test_onnx_export_with_categorical_features_and_missing_values(mixed, mixed_frame):
    from pipelines.serving.onnx_export import load_onnx_predictor

    schema, batch = _batch(mixed, mixed_frame)
    predictor = load_onnx_predictor(mixed.pipeline, schema)
    result = predictor.predict(batch)
    expected = mixed.pipeline.predict_proba(mixed_frame[schema.names])
    assert np.max(np.abs(result.probabilities - expected)) <= ONNX_PROBABILITY_TOLERANCE
    np.testing.assert_array_equal(result.predictions, mixed.pipeline.predict(mixed_frame[schema.names]))


def test_onnx_export_of_an_unrecognised_pipeline_says_to_use_sklearn(cancer_split):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from pipelines.data.features import input_signature
    from pipelines.serving.onnx_export import export_onnx

    train, _ = cancer_split
    pipeline = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=2000))
    pipeline.fit(train.drop(columns="target"), train["target"])
    with pytest.raises(ModelExportError, match="serve it as 'sklearn'"):
        export_onnx(pipeline, InputSchema(input_signature(train, "target")))
