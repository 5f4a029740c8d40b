from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from core.errors import DataValidationError, ModelArtifactError, TrainingConfigError
from core.spec import ESTIMATORS, ProblemType
from pipelines.data.features import input_signature
from pipelines.training.estimators import SEARCH_SPACES, build_pipeline
from pipelines.training.train import (
    METADATA_FILENAME,
    MODEL_FILENAME,
    TrainingConfig,
    _search_sample,
    load_model,
    save_model,
    train_model,
)


@pytest.fixture
def config() -> TrainingConfig:
    return TrainingConfig(
        model_name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        estimator="logistic_regression",
        n_trials=4,
        cv_folds=3,
        seed=7,
    )


def test_trained_model_predicts_and_describes_its_inputs(cancer, config, tmp_path: Path):
    # given the breast cancer data / when trained, saved and loaded back
    trained = train_model(cancer, config)
    save_model(trained, tmp_path)
    loaded = load_model(tmp_path)
    # then the loaded model predicts like the trained one
    X = cancer.drop(columns="target")
    np.testing.assert_array_equal(loaded.pipeline.predict(X), trained.pipeline.predict(X))
    assert (loaded.pipeline.predict(X) == cancer["target"]).mean() > 0.95
    # and the metadata carries the input signature and the search summary
    meta = loaded.metadata
    # (all but the search's wall-clock time and worker count, never saved: they would change digests)
    assert meta == trained.metadata.model_copy(update={"search_seconds": None, "search_workers": None})
    assert trained.metadata.search_seconds is not None and trained.metadata.search_seconds >= 0
    assert trained.metadata.search_workers == 1
    assert meta.feature_names == list(X.columns)
    assert {f.dtype for f in meta.input_signature} == {"float64"}
    assert {f.kind for f in meta.input_signature} == {"numeric"}
    assert meta.classes == [0, 1]
    assert set(meta.best_params) == {"C", "class_weight"}
    assert meta.n_trials == 4 and meta.n_complete + meta.n_pruned == 4
    assert 0.95 < meta.cv_score <= 1.0
    assert meta.training_rows == 569 and meta.higher_is_better
    assert {"python", "scikit-learn", "numpy", "pandas", "optuna"} <= set(meta.library_versions)
    assert json.loads((tmp_path / METADATA_FILENAME).read_text())["input_signature"][0] == {
        "name": "mean radius",
        "dtype": "float64",
        "kind": "numeric",
    }


def test_same_seed_gives_the_same_search(cancer, config):
    first = train_model(cancer, config)
    second = train_model(cancer, config)
    assert first.metadata.best_params == second.metadata.best_params
    assert first.metadata.cv_score == second.metadata.cv_score
    assert [t.params for t in first.search.trials] == [t.params for t in second.search.trials]
    other = train_model(cancer, config.model_copy(update={"seed": 8}))
    assert [t.params for t in other.search.trials] != [t.params for t in first.search.trials]


def test_median_pruner_stops_trials_that_fall_behind(cancer):
    # given a search that judges trials from the second one on, seeded with one strong trial first
    config = TrainingConfig(
        problem="classification",
        target="target",
        primary_metric="accuracy",
        estimator="logistic_regression",
        n_trials=6,
        cv_folds=5,
        pruner_startup_trials=1,
    )
    trained = train_model(cancer, config, initial_params=[{"C": 1.0, "class_weight": None}])
    search = trained.search
    # then some trials are pruned before their last fold and the counts add up
    assert search.trials[0].params == {"C": 1.0, "class_weight": None}
    assert search.n_pruned >= 1
    assert search.n_pruned == sum(t.state == "pruned" for t in search.trials)
    assert search.n_complete + search.n_pruned == search.n_trials == 6
    assert trained.metadata.n_pruned == search.n_pruned


def test_lower_is_better_metrics_are_minimized(diabetes):
    config = TrainingConfig(
        problem="regression",
        target="target",
        primary_metric="rmse",
        estimator="ridge",
        n_trials=5,
        cv_folds=3,
    )
    trained = train_model(diabetes, config)
    completed = [t.value for t in trained.search.trials if t.state == "complete"]
    assert trained.search.direction == "minimize"
    assert trained.metadata.cv_score == min(completed)
    assert trained.metadata.classes is None


@pytest.mark.parametrize(
    ("estimator", "problem"),
    [(e, p) for e, problems in sorted(ESTIMATORS.items()) for p in sorted(problems)],
)
def test_every_estimator_family_trains(cancer, diabetes, estimator, problem):
    # a small sample keeps random forests fast; the point is that each family builds and fits
    frame = (cancer if problem is ProblemType.CLASSIFICATION else diabetes).sample(150, random_state=0)
    metric = "roc_auc" if problem is ProblemType.CLASSIFICATION else "r2"
    config = TrainingConfig(
        problem=problem, target="target", primary_metric=metric, estimator=estimator, n_trials=1, cv_folds=2
    )
    trained = train_model(frame, config)
    assert set(trained.metadata.best_params) == set(SEARCH_SPACES[estimator](optuna.create_study().ask()))
    assert trained.pipeline.predict(frame.drop(columns="target")).shape == (150,)


def test_categorical_features_and_unseen_categories(config):
    # given customers with a categorical plan and region
    rng = np.random.default_rng(0)
    n = 300
    plan = rng.choice(["basic", "pro", "team"], size=n)
    usage = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "plan": pd.Series(plan, dtype="str").where(rng.random(n) > 0.05),
            "region": pd.Categorical(rng.choice(["eu", "us"], size=n)),
            "usage": usage,
            "target": np.where((plan == "pro") | (usage > 1), "churn", "stay"),
        }
    )
    trained = train_model(frame, config.model_copy(update={"n_trials": 2}))
    kinds = {f.name: f.kind for f in trained.metadata.input_signature}
    assert kinds == {"plan": "categorical", "region": "categorical", "usage": "numeric"}
    assert trained.metadata.classes == ["churn", "stay"]
    # when serving sends JSON-like rows with a new category, a None and an int where text was expected
    rows = pd.DataFrame(
        [
            {"plan": "enterprise", "region": "apac", "usage": 0.1},
            {"plan": None, "region": "eu", "usage": None},
            {"plan": 3, "region": "us", "usage": 2.5},
        ]
    )
    # then it still predicts a known class for each row
    assert set(trained.pipeline.predict(rows)) <= {"churn", "stay"}
    assert trained.pipeline.predict_proba(rows).shape == (3, 2)


def test_training_rejects_unusable_data(cancer, config):
    with pytest.raises(DataValidationError, match="column 'target': target column is missing"):
        train_model(cancer.drop(columns="target"), config)
    with pytest.raises(DataValidationError, match="column 'target': 2 rows have no target value"):
        train_model(cancer.assign(target=[np.nan, np.nan, *cancer["target"].iloc[2:]]), config)
    with pytest.raises(DataValidationError, match="column 'mixed' has unsupported dtype object"):
        train_model(cancer.assign(mixed=["a", 1] * 284 + ["b"]), config)


def test_config_from_sagemaker_hyperparameters():
    # given hyperparameters as SageMaker passes them: all strings, the SDK's JSON-quoted ones, its own keys
    values = {
        "problem": "classification",
        "target": '"label"',
        "primary_metric": "f1",
        "estimator": '"random_forest"',
        "n_trials": "7",
        "timeout_seconds": "120.5",
        "seed": "3",
        "sagemaker_program": "train.py",
        "_tuning_objective_metric": "f1",
    }
    config = TrainingConfig.from_hyperparameters(values)
    assert (config.target, config.estimator, config.n_trials, config.timeout_seconds, config.seed) == (
        "label",
        "random_forest",
        7,
        120.5,
        3,
    )
    # and a config survives the trip to CreateTrainingJob's string map and back
    assert TrainingConfig.from_hyperparameters(config.to_hyperparameters()) == config
    assert all(isinstance(v, str) for v in config.to_hyperparameters().values())


def test_bad_hyperparameters_name_every_key():
    values = {
        "problem": "classification",
        "target": "y",
        "primary_metric": "rmse",
        "n_trials": "many",
        "estimatr": "ridge",
    }
    with pytest.raises(TrainingConfigError) as caught:
        TrainingConfig.from_hyperparameters(values, source="/opt/ml/input/config/hyperparameters.json")
    locations = sorted(p.location for p in caught.value.problems)
    assert locations == [
        "/opt/ml/input/config/hyperparameters.json: estimatr",
        "/opt/ml/input/config/hyperparameters.json: n_trials",
    ]
    with pytest.raises(TrainingConfigError, match="primary_metric 'rmse' is not a classification metric"):
        TrainingConfig.from_hyperparameters(
            {"problem": "classification", "target": "y", "primary_metric": "rmse"}
        )


def test_config_from_spec(classification_spec):
    config = TrainingConfig.from_spec(classification_spec, cv_folds=4)
    assert (
        config.model_name,
        config.estimator,
        config.n_trials,
        config.timeout_seconds,
        config.cv_folds,
    ) == (
        "cancer",
        "logistic_regression",
        3,
        60,
        4,
    )


def test_parallel_trials_travel_as_a_hyperparameter_and_default_to_the_old_sequential_search(
    classification_spec,
):
    required = {"problem": "classification", "target": "y", "primary_metric": "roc_auc"}
    # given hyperparameters recorded before batching (no parallel_trials) / then one trial at a time
    assert TrainingConfig.from_hyperparameters(required).parallel_trials == 1
    # given a spec (default 2) / then its batch size, which survives the trip through the job's strings
    config = TrainingConfig.from_spec(classification_spec)
    assert config.parallel_trials == 2 and config.search_settings().parallel_trials == 2
    assert config.to_hyperparameters()["parallel_trials"] == "2"
    assert TrainingConfig.from_hyperparameters(config.to_hyperparameters()) == config
    # given a batch of none / then the key is named
    with pytest.raises(TrainingConfigError) as caught:
        TrainingConfig.from_hyperparameters({**required, "parallel_trials": "0"}, source="hp.json")
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("hp.json: parallel_trials", "Input should be greater than or equal to 1", "0")
    ]


def test_a_batched_search_records_its_workers_but_saves_no_trace_of_them(cancer, config, tmp_path: Path):
    # given a search of two trials at a time
    trained = train_model(cancer, config.model_copy(update={"parallel_trials": 2}))
    # then the fresh model says how many processes searched (two, or one on a one-CPU machine)
    assert trained.metadata.search_workers == trained.search.workers == min(2, len(os.sched_getaffinity(0)))
    assert trained.metadata.n_trials == 4
    # and the saved metadata leaves the machine-dependent figure out
    save_model(trained, tmp_path)
    assert "search_workers" not in json.loads((tmp_path / METADATA_FILENAME).read_text())


def test_load_model_names_missing_files(tmp_path: Path):
    (tmp_path / METADATA_FILENAME).write_text("{}")
    with pytest.raises(ModelArtifactError, match=f"{MODEL_FILENAME}: missing from the model directory"):
        load_model(tmp_path)


def test_pipeline_preprocessing_matches_the_signature(cancer):
    signature = input_signature(cancer.assign(segment="a"), "target")
    pipeline = build_pipeline(signature, "ridge", ProblemType.REGRESSION)
    transformers = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert transformers["categorical"] == ["segment"]
    assert len(transformers["numeric"]) == 30


def test_the_search_runs_on_a_stratified_sample_and_the_final_fit_on_every_row(cancer, config):
    # given more rows than the search may use
    small = config.model_copy(update={"search_max_rows": 200})

    # when
    trained = train_model(cancer, small)

    # then the search saw 200 rows, the model every row, and both classes kept their share
    assert trained.metadata.search_rows == 200
    assert trained.metadata.training_rows == len(cancer)
    assert trained.pipeline.predict(cancer.drop(columns="target")).shape == (len(cancer),)
    share = cancer["target"].mean()
    _, sample_y = _search_sample(cancer.drop(columns="target"), cancer["target"], small)
    assert abs(sample_y.mean() - share) < 0.01


def test_small_data_is_searched_in_full(cancer, config):
    assert train_model(cancer, config).metadata.search_rows == len(cancer)
