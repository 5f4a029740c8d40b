"""scikit-learn pipelines for the estimator families a tenant spec can name, and their search spaces.

A model is ``Pipeline([("preprocess", ColumnTransformer), ("model", estimator)])``: numeric columns
are imputed (median) and scaled, categorical ones imputed (most frequent) and one-hot encoded with
unknown categories ignored, so a category first seen in production does not fail a request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from core.spec import ESTIMATORS, ProblemType
from pipelines.data.features import FeatureSignature, categories_as_strings, numbers_as_float

Params = dict[str, Any]

#: one-hot columns per categorical feature at most; rarer categories share one column, which keeps
#: an ID-like column from exploding the design matrix (gradient boosting needs it dense)
MAX_CATEGORIES = 50


def make_estimator(
    name: str, problem: ProblemType, params: Params | None = None, *, seed: int = 0
) -> BaseEstimator:
    """The scikit-learn estimator for a spec's estimator name and problem type."""
    params = dict(params or {})
    if problem not in ESTIMATORS.get(name, frozenset()):
        raise ValueError(f"estimator {name!r} does not solve {problem.value}")
    classification = problem is ProblemType.CLASSIFICATION
    if name == "logistic_regression":
        return LogisticRegression(max_iter=2000, random_state=seed, **params)
    if name == "ridge":
        return Ridge(random_state=seed, **params)
    if name == "random_forest":
        cls = RandomForestClassifier if classification else RandomForestRegressor
        # one job: the search already runs many fits, and results must not depend on core count
        return cls(random_state=seed, n_jobs=1, **params)
    if name == "gradient_boosting":
        # the histogram variant: orders of magnitude faster than GradientBoosting* on >10k rows
        cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return cls(random_state=seed, **params)
    raise ValueError(f"unknown estimator {name!r}")


def make_preprocessor(signature: Sequence[FeatureSignature]) -> ColumnTransformer:
    numeric = [f.name for f in signature if f.kind == "numeric"]
    categorical = [f.name for f in signature if f.kind == "categorical"]
    numeric_steps = Pipeline(
        [
            ("as_float", FunctionTransformer(numbers_as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
    )
    categorical_steps = Pipeline(
        [
            ("as_strings", FunctionTransformer(categories_as_strings, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent")),
            (
                "one_hot",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, max_categories=MAX_CATEGORIES),
            ),
        ]
    )
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        sparse_threshold=0.0,
    )


def build_pipeline(
    signature: Sequence[FeatureSignature],
    estimator: str,
    problem: ProblemType,
    params: Params | None = None,
    *,
    seed: int = 0,
) -> Pipeline:
    """An unfitted preprocessing + estimator pipeline over the columns of ``signature``."""
    return Pipeline(
        [
            ("preprocess", make_preprocessor(signature)),
            ("model", make_estimator(estimator, problem, params, seed=seed)),
        ]
    )


def _logistic_regression(trial: optuna.Trial) -> Params:
    return {
        "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def _ridge(trial: optuna.Trial) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _random_forest(trial: optuna.Trial) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
        "max_depth": trial.suggest_int("max_depth", 2, 20),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", 1.0]),
    }


def _gradient_boosting(trial: optuna.Trial) -> Params:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_iter": trial.suggest_int("max_iter", 50, 300, step=50),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 7, 63),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 50),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
    }


#: estimator name -> function drawing one parameter set from an Optuna trial
SEARCH_SPACES: dict[str, Callable[[optuna.Trial], Params]] = {
    "logistic_regression": _logistic_regression,
    "ridge": _ridge,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}


def suggest_params(trial: optuna.Trial, estimator: str) -> Params:
    """Draw the estimator's hyperparameters for one trial (names as the estimator's own)."""
    return SEARCH_SPACES[estimator](trial)


__all__ = [
    "MAX_CATEGORIES",
    "SEARCH_SPACES",
    "Params",
    "build_pipeline",
    "make_estimator",
    "make_preprocessor",
    "suggest_params",
]
