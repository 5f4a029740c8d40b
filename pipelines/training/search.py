"""Hyperparameter search with Optuna: a seeded TPE sampler, median pruning over k-fold CV folds.

Each trial reports the running mean of its fold scores after every fold, so the median pruner can
stop a trial that is already behind the others at the same fold. All trials share one set of folds,
which makes their scores comparable; with a fixed seed the search is deterministic (as long as the
timeout does not cut it short).

Trials run in batches of ``parallel_trials`` (B), side by side in up to B forked worker processes
(:mod:`pipelines.training.trial_pool`). During a batch the study is told nothing, so the completed
trials the pruner compares with are the same whichever trial reaches a fold first; the pruning
decision for each fold is taken here, on the real Optuna trial, and the batch's results are told in
trial-number order. B decides the results, the number of workers only the speed: B = 1 is the
plain sequential ask-run-tell loop.
"""

from __future__ import annotations

import functools
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
from core.spec import MAX_PARALLEL_TRIALS, ProblemType
from pipelines.data.features import FeatureSignature
from pipelines.evaluation.metrics import higher_is_better, score_model
from pipelines.training.estimators import Params, build_pipeline, suggest_params
from pipelines.training.trial_pool import PRUNED, Failed, KeepGoing, Pruned, available_cpus, trial_pool


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
    #: trials asked from the sampler at once and run side by side (B); decides the results, unlike
    #: the number of worker processes (min(B, CPUs available))
    parallel_trials: int = Field(default=2, ge=1, le=MAX_PARALLEL_TRIALS)


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
    #: processes the trials ran in (1: in this process); speed only, never the results
    workers: int
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
    workers: int | None = None,
) -> SearchResult:
    """Search the estimator's space for the best mean CV score of ``metric``.

    ``initial_params`` are tried first (for example the current champion's parameters), so a
    search never ends worse than what is already known. ``workers`` caps the worker processes
    (default: the CPUs available); it changes the speed, not the result. A trial that raises
    stops the search with its error, after the rest of its batch.
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

    def cross_validate(params: Params, keep_going: KeepGoing) -> float | Pruned:
        scores: list[float] = []
        for step, (train_idx, valid_idx) in enumerate(splits):
            model = build_pipeline(signature, estimator, problem, params, seed=settings.seed)
            model.fit(X.iloc[train_idx], y.iloc[train_idx])
            scores.append(score_model(model, X.iloc[valid_idx], y.iloc[valid_idx], metric))
            if not keep_going(step, float(np.mean(scores))):
                return PRUNED
        return float(np.mean(scores))

    batch_size = settings.parallel_trials
    n_workers = min(batch_size, settings.n_trials, available_cpus() if workers is None else workers)
    started = time.perf_counter()
    with trial_pool(cross_validate, n_workers) as pool:
        asked = 0
        while asked < settings.n_trials and (
            settings.timeout_seconds is None or time.perf_counter() - started < settings.timeout_seconds
        ):
            batch = [study.ask() for _ in range(min(batch_size, settings.n_trials - asked))]
            asked += len(batch)
            params = [suggest_params(trial, estimator) for trial in batch]
            outcomes = pool.run(params, functools.partial(_go_on, batch))
            for trial, outcome in zip(batch, outcomes, strict=True):
                _tell(study, trial, outcome)
            failed = next((o for o in outcomes if isinstance(o, Failed)), None)
            if failed is not None:
                failed.reraise()
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
        workers=n_workers,
        trials=[
            TrialSummary(number=t.number, state=t.state.name.lower(), value=t.value, params=dict(t.params))
            for t in trials
        ],
    )


def _go_on(batch: Sequence[optuna.Trial], index: int, step: int, value: float) -> bool:
    """Whether the batch's trial ``index`` goes on after ``step``: Optuna's pruner decides."""
    trial = batch[index]
    trial.report(value, step)
    return not trial.should_prune()


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: float | Pruned | Failed) -> None:
    # as study.optimize does: a pruned trial's value is its last reported one, a failed one has none
    if isinstance(outcome, Pruned):
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif isinstance(outcome, Failed):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, outcome)


__all__ = ["SearchResult", "SearchSettings", "TrialSummary", "cv_splits", "run_search"]
