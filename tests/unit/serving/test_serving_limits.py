"""The range of each numeric feature a model computes with: at its ends every path (planned
scikit-learn, the DataFrame fallback, ONNX) answers with finite numbers, and one step beyond is a
400 naming the row and the column, never scikit-learn's ValueError (a 500) or a number computed
from infinity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import InferenceInputError
from pipelines.data.features import FeatureSignature
from pipelines.serving.limits import FLOAT32_MAX, FLOAT64_MAX
from pipelines.serving.predictor import SklearnPredictor
from pipelines.serving.schema import FeatureBatch, InputSchema


def _predictors(model, schema: InputSchema, serving_format: str):
    if serving_format == "onnx":
        from pipelines.serving.onnx_export import load_onnx_predictor

        return load_onnx_predictor(model.pipeline, schema)
    return SklearnPredictor(model.pipeline, schema)


def _base_batch(schema: InputSchema, frame: pd.DataFrame) -> FeatureBatch:
    return schema.batch_from_frame(frame[schema.names].head(1))


def _with(batch: FeatureBatch, column: int, value: float) -> FeatureBatch:
    numeric = np.vstack([batch.numeric, batch.numeric])
    numeric[1, column] = value
    categorical = None if batch.categorical is None else np.vstack([batch.categorical, batch.categorical])
    return FeatureBatch(numeric=numeric, categorical=categorical, n_rows=2)


@pytest.mark.parametrize("serving_format", ["sklearn", "onnx"])
@pytest.mark.parametrize("name", ["logistic", "forest", "ridge", "mixed"])
def test_every_numeric_feature_is_served_up_to_its_limits_and_refused_beyond(
    request, name, serving_format, cancer, mixed_frame
):
    model = request.getfixturevalue(name)
    schema = InputSchema(model.metadata.input_signature)
    frame = mixed_frame if name == "mixed" else (cancer if name != "ridge" else None)
    if frame is None:
        from sklearn.datasets import load_diabetes

        frame = load_diabetes(as_frame=True).frame
    predictor = _predictors(model, schema, serving_format)
    limits = predictor.limits
    base = _base_batch(schema, frame)
    for j, column in enumerate(schema.numeric_names):
        low, high = limits.bounds(column)
        assert np.isfinite([low, high]).all() and low < high
        with np.errstate(over="ignore"):  # the float after float64's maximum is infinity
            ends = ((high, np.nextafter(high, np.inf)), (low, np.nextafter(low, -np.inf)))
        for inside, outside in ends:
            # a value at the end of the range is served with finite numbers
            result = predictor.predict(_with(base, j, inside))
            for values in (result.predictions, result.probabilities):
                if values is not None and values.dtype.kind == "f":
                    assert np.isfinite(values).all(), (column, inside)
            # and the next float beyond is refused, naming the row and the column
            if not np.isfinite(outside):
                continue  # the range is all of float64: nothing finite lies beyond
            with pytest.raises(InferenceInputError) as err:
                predictor.predict(_with(base, j, outside))
            assert err.value.status_code == 400 and err.value.code == "value_out_of_range"
            assert f"row 2, column {column!r}" in str(err.value)


def test_trees_are_limited_to_float32_and_linear_models_below_float64(forest, logistic):
    schema = InputSchema(forest.metadata.input_signature)
    tree_high = SklearnPredictor(forest.pipeline, schema).limits.bounds("fractal dimension error")[1]
    linear_high = SklearnPredictor(logistic.pipeline, schema).limits.bounds("fractal dimension error")[1]
    # the feature's spread is about 0.003: a scaled value of ~3.4e38 is about 1e36 unscaled
    assert 1e34 < tree_high < FLOAT32_MAX / 100
    assert FLOAT32_MAX < linear_high < FLOAT64_MAX / 100


@pytest.mark.parametrize(("value", "where"), [(1e308, "row 2:"), (-3e307, "row 2:")])
def test_the_dataframe_fallback_refuses_what_the_estimator_cannot_take(logistic, cancer, value, where):
    schema = InputSchema(logistic.metadata.input_signature)
    predictor = SklearnPredictor(logistic.pipeline, schema, plan=False)
    base = _base_batch(schema, cancer)
    column = schema.numeric_names.index("fractal dimension error")
    assert predictor.mode == "dataframe" and predictor.limits is None
    with pytest.raises(InferenceInputError) as err:
        predictor.predict(_with(base, column, value))
    assert err.value.code == "value_out_of_range"
    assert where in str(err.value) and "fractal dimension error" in str(err.value)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # the overflow under test
def test_a_non_finite_prediction_is_refused_not_answered_as_null():
    # given a regressor that predicts exp(ridge(x)): finite inputs can overflow its output
    names = ["a", "b"]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 2)), columns=names)
    target = np.exp(frame["a"] + 0.5 * frame["b"])
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pipeline = Pipeline(
        [
            ("preprocess", ColumnTransformer([("numeric", numeric, names)], sparse_threshold=0.0)),
            (
                "model",
                TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=np.exp, check_inverse=False),
            ),
        ]
    ).fit(frame, target)
    schema = InputSchema([FeatureSignature(name=n, dtype="float64", kind="numeric") for n in names])
    predictor = SklearnPredictor(pipeline, schema)
    assert predictor.mode == "planned"
    batch = schema.batch_from_rows([[0.0, 0.0], [1e6, 0.0]])
    with pytest.raises(InferenceInputError) as err:
        predictor.predict(batch)
    assert err.value.code == "value_out_of_range"
    assert "row 2: the model's output is not a finite number" in str(err.value)


def test_batch_inference_names_the_row_of_the_file(logistic, cancer):
    schema = InputSchema(logistic.metadata.input_signature)
    frame = cancer[schema.names].head(3).copy()
    frame.loc[2, "fractal dimension error"] = 1e308
    batch = schema.batch_from_frame(frame, first_row=101)
    with pytest.raises(InferenceInputError, match=r"row 103, column 'fractal dimension error'"):
        SklearnPredictor(logistic.pipeline, schema).predict(batch)
