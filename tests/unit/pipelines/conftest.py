"""Fixtures for the pipeline unit tests: small real datasets bundled with scikit-learn (``cancer``
is in ``tests/conftest.py``)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from core.spec import ModelSpec


@pytest.fixture
def diabetes() -> pd.DataFrame:
    """Diabetes: 442 rows, 10 numeric features, numeric ``target``."""
    return load_diabetes(as_frame=True).frame


@pytest.fixture
def classification_spec() -> ModelSpec:
    return ModelSpec(
        name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.9,
        estimator="logistic_regression",
        search_trials=3,
        search_timeout_seconds=60,
    )


@pytest.fixture
def regression_spec() -> ModelSpec:
    return ModelSpec(
        name="diabetes",
        problem="regression",
        target="target",
        primary_metric="rmse",
        minimum_metric=70.0,
        estimator="ridge",
        search_trials=3,
        search_timeout_seconds=60,
    )
