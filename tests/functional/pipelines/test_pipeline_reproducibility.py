"""Byte-reproducible model artifacts: the training container run twice, in separate processes with
different hash seeds and from different scratch directories (as two pipeline runs would), packs to
the same sha256; a changed parameter does not. The ONNX export is stable across exports too."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pipelines.registry.artifacts import pack_model_dir, sha256_file
from pipelines.serving.onnx_export import export_onnx
from pipelines.serving.schema import InputSchema
from pipelines.training.train import TrainingConfig, load_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Breast cancer plus a categorical column with gaps: numeric and categorical blocks both fitted."""
    data = load_breast_cancer(as_frame=True).frame
    data["colour"] = np.random.default_rng(0).choice(["red", "green", "blue", "teal"], len(data))
    data.loc[::17, "colour"] = None
    return data


def _train_in_a_new_process(frame: pd.DataFrame, root: Path, *, hash_seed: str, **overrides: str) -> str:
    """Lay out a SageMaker training container's paths under ``root``, run ``python -m pipelines.training.train``
    and return the sha256 of the packed model directory."""
    (root / "train").mkdir(parents=True)
    frame.to_parquet(root / "train" / "part-00000.parquet", index=False)
    config = TrainingConfig(
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        estimator="random_forest",
        n_trials=2,
        cv_folds=2,
    )
    (root / "config").mkdir()
    (root / "config" / "hyperparameters.json").write_text(
        json.dumps({**config.to_hyperparameters(), **overrides})
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.training.train",
            "train",
            "--config-dir",
            str(root / "config"),
            "--train",
            str(root / "train"),
            "--model-dir",
            str(root / "model"),
            "--output-dir",
            str(root / "output"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return sha256_file(pack_model_dir(root / "model", root / "model.tar.gz"))


def test_the_same_data_seed_and_parameters_give_the_same_artifact_digest(frame, tmp_path):
    # given the same data and settings, trained by two processes from two scratch directories
    first = _train_in_a_new_process(frame, tmp_path / "run-a", hash_seed="1")
    second = _train_in_a_new_process(frame, tmp_path / "elsewhere" / "run-b", hash_seed="2")
    # then the archives are identical, byte for byte
    assert first == second
    # and what the artifact says about its data names the container's channel, not a scratch path
    metadata = json.loads((tmp_path / "run-a" / "model" / "model_metadata.json").read_text())
    assert metadata["data"]["uri"] == "/opt/ml/input/data/train"
    assert [p["uri"] for p in metadata["data"]["parts"]] == ["/opt/ml/input/data/train/part-00000.parquet"]
    assert "search_seconds" not in metadata
    # when a parameter changes / then so does the digest
    reseeded = _train_in_a_new_process(frame, tmp_path / "run-c", hash_seed="1", seed="1")
    assert reseeded != first


def test_the_onnx_export_is_the_same_bytes_every_time(frame, tmp_path):
    # given a trained model with numeric and categorical inputs
    _train_in_a_new_process(frame, tmp_path / "run", hash_seed="0")
    trained = load_model(tmp_path / "run" / "model")
    schema = InputSchema(trained.metadata.input_signature)
    # when it is exported twice / then the bytes agree (no random graph name, no timestamps)
    exports = [export_onnx(trained.pipeline, schema, check=False) for _ in range(2)]
    assert hashlib.sha256(exports[0]).hexdigest() == hashlib.sha256(exports[1]).hexdigest()
