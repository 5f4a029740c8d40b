"""A small real model for tests that need one fast: logistic regression, one search trial, two folds."""

from __future__ import annotations

import warnings

import pandas as pd

from pipelines.training.train import TrainedModel, TrainingConfig, train_model

QUICK_LOGISTIC = TrainingConfig(
    problem="classification",
    target="target",
    primary_metric="roc_auc",
    estimator="logistic_regression",
    n_trials=1,
    cv_folds=2,
)


def quick_logistic(frame: pd.DataFrame) -> TrainedModel:
    """Trained by the pipeline's own ``train_model`` on ``frame`` (label column ``target``), C = 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a one-trial search
        return train_model(frame, QUICK_LOGISTIC, initial_params=[{"C": 1.0, "class_weight": None}])
