"""The hyperparameter search in batches: exact against the plain Optuna loop, the same on any number of
workers, and failing cleanly. Real scikit-learn fits, real Optuna studies, real forked processes."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from core.errors import SearchWorkerError
from core.spec import ProblemType
from pipelines.data.features import input_signature
from pipelines.evaluation.metrics import higher_is_better, score_model
from pipelines.training.estimators import build_pipeline, suggest_params
from pipelines.training.search import SearchResult, SearchSettings, cv_splits, run_search
from pipelines.training.trial_pool import PRUNED, Failed, ForkedTrials, KeepGoing, Pruned, WorkerTraceback

CLASSIFICATION = ProblemType.CLASSIFICATION


@pytest.fixture
def small_cancer(cancer: pd.DataFrame) -> pd.DataFrame:
    # 200 rows keep forests quick; the search logic is the same at any size
    return cancer.sample(200, random_state=0)


def _search(
    frame: pd.DataFrame, estimator: str, metric: str, settings: SearchSettings, **kwargs: Any
) -> SearchResult:
    signature = input_signature(frame, "target")
    return run_search(
        frame[[f.name for f in signature]],
        frame["target"],
        signature=signature,
        estimator=estimator,
        problem=CLASSIFICATION,
        metric=metric,
        settings=settings,
        **kwargs,
    )


def _trials(result: SearchResult) -> list[tuple[int, str, float | None, dict[str, Any]]]:
    return [(t.number, t.state, t.value, t.params) for t in result.trials]


def _plain_optuna_loop(
    frame: pd.DataFrame, estimator: str, metric: str, settings: SearchSettings
) -> list[Any]:
    """The search as it ran before batching: ``study.optimize`` over an objective that fits a whole
    pipeline per fold and reports the running mean after each fold."""
    signature = input_signature(frame, "target")
    X, y = frame[[f.name for f in signature]], frame["target"]
    study = optuna.create_study(
        direction="maximize" if higher_is_better(metric) else "minimize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials),
    )
    splits = cv_splits(y, CLASSIFICATION, settings.cv_folds, settings.seed)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, estimator)
        scores: list[float] = []
        for step, (train_idx, valid_idx) in enumerate(splits):
            model = build_pipeline(signature, estimator, CLASSIFICATION, params, seed=settings.seed)
            model.fit(X.iloc[train_idx], y.iloc[train_idx])
            scores.append(score_model(model, X.iloc[valid_idx], y.iloc[valid_idx], metric))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study.optimize(objective, n_trials=settings.n_trials)
    return [(t.number, t.state.name.lower(), t.value, dict(t.params)) for t in study.trials]


@pytest.mark.parametrize(
    ("estimator", "metric", "n_trials", "seed"),
    [("logistic_regression", "accuracy", 8, 3), ("random_forest", "roc_auc", 6, 1)],
)
def test_one_trial_at_a_time_is_exactly_the_plain_optuna_loop(
    small_cancer, estimator, metric, n_trials, seed
):
    # given a search that starts pruning after its first trial
    settings = SearchSettings(
        n_trials=n_trials, cv_folds=3, seed=seed, pruner_startup_trials=1, parallel_trials=1
    )

    # when it runs with batches of one, and the plain study.optimize loop runs on the same data
    batched = _search(small_cancer, estimator, metric, settings)
    reference = _plain_optuna_loop(small_cancer, estimator, metric, settings)

    # then every trial has the same parameters, state and value (to the last bit), in one process
    assert _trials(batched) == reference
    assert batched.workers == 1 and batched.n_pruned >= 1
    assert batched.best_score == max(v for _, state, v, _ in reference if state == "complete")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("estimator", "metric", "n_trials", "seed"),
    [("random_forest", "roc_auc", 6, 1), ("gradient_boosting", "accuracy", 7, 5)],
)
def test_a_batch_gives_the_same_trials_on_one_worker_and_on_two(
    small_cancer, estimator, metric, n_trials, seed
):
    # given this process has used OpenMP threads (a forked child that does too must not hang)
    X = small_cancer.drop(columns="target")
    HistGradientBoostingClassifier(max_iter=5).fit(X, small_cancer["target"])
    settings = SearchSettings(
        n_trials=n_trials, cv_folds=3, seed=seed, pruner_startup_trials=1, parallel_trials=2
    )

    # when the same batched search runs in this process alone and in two worker processes
    alone = _search(small_cancer, estimator, metric, settings, workers=1)
    forked = _search(small_cancer, estimator, metric, settings, workers=2)

    # then the trials, their pruning and the best parameters are identical: B decides, not the workers
    assert (alone.workers, forked.workers) == (1, 2)
    assert _trials(forked) == _trials(alone)
    assert (forked.best_params, forked.best_score) == (alone.best_params, alone.best_score)
    assert forked.n_trials == n_trials and forked.n_complete + forked.n_pruned == n_trials
    assert forked.n_pruned >= 1
    # and no worker outlives the search
    assert multiprocessing.active_children() == []


def test_the_batch_size_decides_the_search(small_cancer):
    # given the same budget searched one trial at a time and four at a time (no pruning: all complete)
    common = {"n_trials": 12, "cv_folds": 3, "seed": 1, "pruner_startup_trials": 12}
    one = _search(small_cancer, "logistic_regression", "roc_auc", SearchSettings(**common, parallel_trials=1))
    four = _search(
        small_cancer, "logistic_regression", "roc_auc", SearchSettings(**common, parallel_trials=4), workers=1
    )
    # then both start with the same random start-up trials (TPE samples its first 10 at random), and
    # differ after: one at a time, trials 10 and 11 are guided by 10 results; in the third batch of
    # four, only 8 results are known when they are drawn, so they are still random ones
    one_params, four_params = [t.params for t in one.trials], [t.params for t in four.trials]
    assert four_params[:10] == one_params[:10]
    assert four_params[10] != one_params[10] and four_params[11] != one_params[11]
    assert four.n_complete == one.n_complete == 12


def test_the_timeout_starts_no_new_batch_but_lets_a_running_one_finish(small_cancer):
    # given far more trials than fit in a short timeout, three at a time
    settings = SearchSettings(n_trials=1000, timeout_seconds=0.5, cv_folds=3, parallel_trials=3)

    # when
    result = _search(small_cancer, "logistic_regression", "roc_auc", settings, workers=1)

    # then it stopped early, after whole batches whose every trial finished
    assert 3 <= result.n_trials < 1000
    assert result.n_trials % 3 == 0
    assert result.n_complete + result.n_pruned == result.n_trials


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_trial_that_raises_fails_the_search_with_its_own_error(small_cancer, workers):
    # given a first trial whose parameters the forest refuses, batched with a good one
    settings = SearchSettings(n_trials=4, cv_folds=3, parallel_trials=2)
    bad = {"n_estimators": 0, "max_depth": 3, "min_samples_leaf": 1, "max_features": "sqrt"}

    # when / then the search raises scikit-learn's own error, in this process or from a worker
    with (
        pytest.warns(UserWarning, match="Fixed parameter n_estimators with value 0 is out of range"),
        pytest.raises(ValueError) as caught,
    ):
        _search(small_cancer, "random_forest", "roc_auc", settings, initial_params=[bad], workers=workers)
    assert (
        "The 'n_estimators' parameter of RandomForestClassifier must be an int in the range [1, inf)"
        in str(caught.value)
    )
    if workers == 2:
        # with the worker's traceback as its cause, down to the fit that raised
        assert isinstance(caught.value.__cause__, WorkerTraceback)
        assert "in fit" in str(caught.value.__cause__)
    # and no worker is left behind
    assert multiprocessing.active_children() == []


class _TwoPartError(Exception):
    """An error pickle can write but not read back (its constructor wants two arguments)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


def _exits_when_told(params: dict[str, Any], keep_going: KeepGoing) -> float | Pruned:
    if params["exit"]:
        os._exit(3)
    if params.get("raise"):
        raise _TwoPartError("trial", "refused")
    for step in range(3):
        if not keep_going(step, float(params["value"])):
            return PRUNED
    return float(params["value"])


@pytest.mark.timeout(60)
def test_a_worker_that_dies_fails_the_batch_naming_the_trial():
    # given two workers, and a batch whose second trial kills the process running it
    dying = [{"exit": False, "value": 1.0}, {"exit": True, "value": 0.0}]
    # when / then
    with (
        ForkedTrials(_exits_when_told, workers=2) as pool,
        pytest.raises(SearchWorkerError, match="exit code 3 while running trial 1 of its batch"),
    ):
        pool.run(dying, lambda i, s, v: True)
    # and closing the pool ends the other worker too
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
def test_workers_ask_this_process_after_every_step_and_outcomes_keep_the_batch_order():
    # given a judge here that stops any trial whose value is below 0.5 after its second step
    asked: list[tuple[int, int, float]] = []

    def judge(index: int, step: int, value: float) -> bool:
        asked.append((index, step, value))
        return not (step == 1 and value < 0.5)

    with ForkedTrials(_exits_when_told, workers=2) as pool:
        # when three trials run on two workers, twice (the pool serves batch after batch)
        batch = [{"exit": False, "value": v} for v in (0.9, 0.1, 0.7)]
        first, second = pool.run(batch, judge), pool.run(batch, judge)

    # then each trial's steps were judged here, and the outcomes come back in the batch's order
    assert first == second == [0.9, PRUNED, 0.7]
    assert sorted(asked) == sorted(
        2
        * [
            (0, 0, 0.9),
            (0, 1, 0.9),
            (0, 2, 0.9),
            (1, 0, 0.1),
            (1, 1, 0.1),
            (2, 0, 0.7),
            (2, 1, 0.7),
            (2, 2, 0.7),
        ]
    )


@pytest.mark.timeout(60)
def test_an_error_that_cannot_cross_the_pipe_still_fails_its_trial_with_its_text():
    # given a worker trial raising an error that would not unpickle here
    with ForkedTrials(_exits_when_told, workers=2) as pool:
        # when
        outcomes = pool.run([{"exit": False, "raise": True, "value": 0.0}], lambda i, s, v: True)
    # then its trial failed with a stand-in naming the error and its message, and the worker's traceback
    (failed,) = outcomes
    assert isinstance(failed, Failed)
    assert (type(failed.error), str(failed.error)) == (RuntimeError, "_TwoPartError: trial: refused")
    assert "_TwoPartError: trial: refused" in failed.remote_traceback
