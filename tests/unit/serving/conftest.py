"""Real models for the serving unit tests: trained once per session on small bundled datasets."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from core.spec import ModelSpec
from pipelines.data.datasets import split_holdout
from pipelines.serving.schema import InputSchema
from pipelines.training.train import TrainedModel, TrainingConfig, save_model, train_model


def _train(frame: pd.DataFrame, problem: str, metric: str, estimator: str, params=None) -> TrainedModel:
    config = TrainingConfig(
        problem=problem, target="target", primary_metric=metric, estimator=estimator, n_trials=1, cv_folds=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_model(frame, config, initial_params=[params] if params else ())


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def cancer_split(cancer: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = ModelSpec(
        name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.9,
        estimator="logistic_regression",
    )
    return split_holdout(cancer, spec, seed=0)


@pytest.fixture(scope="session")
def logistic(cancer_split) -> TrainedModel:
    train, _ = cancer_split
    return _train(train, "classification", "roc_auc", "logistic_regression", {"C": 1.0, "class_weight": None})


@pytest.fixture(scope="session")
def forest(cancer_split) -> TrainedModel:
    """The benchmark's random forest: 100 trees."""
    train, _ = cancer_split
    params = {"n_estimators": 100, "max_depth": 10, "min_samples_leaf": 1, "max_features": "sqrt"}
    return _train(train, "classification", "roc_auc", "random_forest", params)


@pytest.fixture(scope="session")
def ridge() -> TrainedModel:
    return _train(load_diabetes(as_frame=True).frame, "regression", "rmse", "ridge", {"alpha": 1.0})


@pytest.fixture(scope="session")
def mixed_frame() -> pd.DataFrame:
    """Numeric and categorical (string and boolean) features, with missing values in both kinds."""
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, n),
            "color": rng.choice(["red", "green", "blue"], n).astype(object),
            "age": rng.integers(18, 90, n).astype(float),
            "member": rng.choice([True, False], n),
        }
    )
    frame.loc[::9, "amount"] = np.nan
    frame.loc[::11, "color"] = None
    frame["target"] = (frame["amount"].fillna(100) / 100 + (frame["color"] == "red") + frame["member"]) > 1.5
    frame["target"] = frame["target"].astype(int)
    return frame


@pytest.fixture(scope="session")
def mixed(mixed_frame: pd.DataFrame) -> TrainedModel:
    params = {"n_estimators": 30, "max_depth": 6, "min_samples_leaf": 2, "max_features": "sqrt"}
    return _train(mixed_frame, "classification", "roc_auc", "random_forest", params)


@pytest.fixture(scope="session")
def logistic_dir(logistic: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(logistic, tmp_path_factory.mktemp("logistic") / "model")


@pytest.fixture(scope="session")
def cancer_schema(logistic: TrainedModel) -> InputSchema:
    return InputSchema(logistic.metadata.input_signature)
