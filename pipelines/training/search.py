"""Hyperparameter search with Optuna: a seeded TPE sampler, median pruning over k-fold CV folds.

Each trial reports the running mean of its fold scores after every fold, so the median pruner can
stop a trial that is already behind the others at the same fold. All trials share one set of folds,
which makes their scores comparable; with a fixed seed the search is deterministic (as long as the
timeout does not cut it short).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import KFold, StratifiedKFold

from core.errors import Problem, TrainingConfigError
from core.spec import ProblemType
from pipelines.data.features import FeatureSignature
from pipelines.evaluation.metrics import higher_is_better, score_model
from pipelines.training.estimators import Params, build_pipeline, suggest_params


class SearchSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    n_trials: int = Field(default=20, ge=1, le=1000)
    timeout_seconds: float | None = Field(default=300, gt=0)
    cv_folds: int = Field(default=5, ge=2, le=20)
    seed: int = 0
    #: trials that complete before the pruner starts judging; Optuna's default is 5
    pruner_startup_trials: int = Field(default=5, ge=0)
    #: folds a trial always runs before it may be pruned
    pruner_warmup_steps: int = Field(default=0, ge=0)


class TrialSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int
    state: str
    value: float | None
    params: dict[str, Any]


class SearchResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    direction: str
    best_params: dict[str, Any]
    #: mean cross-validated score of the best trial
    best_score: float
    n_trials: int
    n_complete: int
    n_pruned: int
    seconds: float
    trials: list[TrialSummary]


def cv_splits(
    y: pd.Series, problem: ProblemType, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled k-fold splits, stratified on the target for classification."""
    splitter = (
        StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        if problem is ProblemType.CLASSIFICATION
        else KFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(y)), y))


def run_search(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    signature: Sequence[FeatureSignature],
    estimator: str,
    problem: ProblemType,
    metric: str,
    settings: SearchSettings,
    initial_params: Sequence[Params] = (),
) -> SearchResult:
    """Search the estimator's space for the best mean CV score of ``metric``.

    ``initial_params`` are tried first (for example the current champion's parameters), so a
    search never ends worse than what is already known.
    """
    # Optuna logs one INFO line per trial; the job's log should show the result, not the search
    optuna.logging.set_verbosity(logging.WARNING)
    direction = "maximize" if higher_is_better(metric) else "minimize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=settings.pruner_startup_trials, n_warmup_steps=settings.pruner_warmup_steps
        ),
    )
    for params in initial_params:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    splits = cv_splits(y, problem, settings.cv_folds, settings.seed)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, estimator)
        scores: list[float] = []
        for step, (train_idx, valid_idx) in enumerate(splits):
            model = build_pipeline(signature, estimator, problem, params, seed=settings.seed)
            model.fit(X.iloc[train_idx], y.iloc[train_idx])
            scores.append(score_model(model, X.iloc[valid_idx], y.iloc[valid_idx], metric))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    started = time.perf_counter()
    study.optimize(objective, n_trials=settings.n_trials, timeout=settings.timeout_seconds)
    seconds = time.perf_counter() - started

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TrainingConfigError(
            [
                Problem(
                    "timeout_seconds",
                    f"no search trial completed ({len(trials)} started); raise timeout_seconds or n_trials",
                    settings.timeout_seconds,
                )
            ]
        )
    best = study.best_trial
    return SearchResult(
        metric=metric,
        direction=direction,
        best_params=dict(best.params),
        best_score=float(best.value),
        n_trials=len(trials),
        n_complete=len(complete),
        n_pruned=sum(t.state is optuna.trial.TrialState.PRUNED for t in trials),
        seconds=seconds,
        trials=[
            TrialSummary(number=t.number, state=t.state.name.lower(), value=t.value, params=dict(t.params))
            for t in trials
        ],
    )


__all__ = ["SearchResult", "SearchSettings", "TrialSummary", "cv_splits", "run_search"]
