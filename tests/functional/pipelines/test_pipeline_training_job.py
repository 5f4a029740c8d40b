"""The training entry point run the way SageMaker runs it: files under /opt/ml, set by env vars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.training.train import TrainingConfig, load_model, main

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def opt_ml(tmp_path: Path, cancer: pd.DataFrame) -> Path:
    """A /opt/ml-like tree: hyperparameters as SageMaker writes them and a two-file train channel."""
    root = tmp_path / "opt" / "ml"
    config_dir = root / "input" / "config"
    channel = root / "input" / "data" / "train"
    config_dir.mkdir(parents=True)
    channel.mkdir(parents=True)
    cancer.iloc[:300].to_parquet(channel / "part-00000.parquet")
    cancer.iloc[300:].to_parquet(channel / "part-00001.parquet")
    hyperparameters = TrainingConfig(
        model_name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        estimator="logistic_regression",
        n_trials=3,
        cv_folds=3,
        seed=1,
    ).to_hyperparameters()
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return root


def _env(root: Path) -> dict[str, str]:
    return {
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNEL_TRAIN": str(root / "input" / "data" / "train"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
    }


def test_entry_point_reads_sagemaker_paths_from_the_environment(opt_ml: Path, monkeypatch, cancer):
    # given SageMaker's environment variables
    for name, value in _env(opt_ml).items():
        monkeypatch.setenv(name, value)
    # when the container's entry point runs with SageMaker's "train" argument
    assert main(["train"]) == 0
    # then the model directory holds a model trained on both channel files
    trained = load_model(opt_ml / "model")
    assert trained.metadata.training_rows == 569
    assert [Path(p.uri).name for p in trained.metadata.data.parts] == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert trained.metadata.n_trials == 3
    predictions = trained.pipeline.predict(cancer.drop(columns="target"))
    assert (predictions == cancer["target"]).mean() > 0.95
    assert not (opt_ml / "output" / "failure").exists()


def test_bad_hyperparameters_fail_the_job_with_a_reason(opt_ml: Path, monkeypatch):
    # given hyperparameters with a metric that does not fit the problem
    config = opt_ml / "input" / "config" / "hyperparameters.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "primary_metric": "rmse"}))
    for name, value in _env(opt_ml).items():
        monkeypatch.setenv(name, value)
    # when run / then it exits non-zero and leaves SageMaker's failure file naming the problem
    assert main([]) == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("invalid training configuration (1 problem(s))")
    assert "primary_metric 'rmse' is not a classification metric" in failure
    assert not (opt_ml / "model").exists()


def test_missing_target_in_the_channel_fails_the_job(opt_ml: Path, cancer):
    channel = opt_ml / "input" / "data" / "train"
    for part in channel.iterdir():
        part.unlink()
    cancer.drop(columns="target").to_parquet(channel / "part-00000.parquet")
    args = [
        "--config-dir",
        str(opt_ml / "input" / "config"),
        "--train",
        str(channel),
        "--model-dir",
        str(opt_ml / "model"),
        "--output-dir",
        str(opt_ml / "output"),
    ]
    assert main(args) == 1
    assert "column 'target': target column is missing" in (opt_ml / "output" / "failure").read_text()


def test_python_dash_m_runs_as_a_training_container_would(opt_ml: Path):
    # given only environment variables, as in a SageMaker training container
    env = {**os.environ, **_env(opt_ml), "PYTHONPATH": str(REPO_ROOT)}
    # when the module runs in its own process
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.training.train", "train"],
        env=env,
        cwd=opt_ml,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then it succeeds, logs the result and writes the model
    assert done.returncode == 0, done.stderr
    assert "best roc_auc" in done.stderr
    assert (opt_ml / "model" / "model.joblib").is_file()
    assert json.loads((opt_ml / "model" / "model_metadata.json").read_text())["target"] == "target"
