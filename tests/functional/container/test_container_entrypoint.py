"""The image's entry point, run directly (no Docker engine here): `train` then `serve` as SageMaker would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sklearn.datasets import load_breast_cancer

from tenantml.sample_data import write_sample_dataset

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sagemaker_layout(base: Path) -> dict[str, str]:
    """The directories SageMaker mounts into a training container, filled as it would fill them."""
    config, train, model, output = (base / p for p in ("input/config", "input/data/train", "model", "output"))
    for folder in (config, train, model, output):
        folder.mkdir(parents=True)
    write_sample_dataset(train / "data.parquet")
    (config / "hyperparameters.json").write_text(
        json.dumps(
            {
                "model_name": "churn",
                "problem": "classification",
                "target": "target",
                "primary_metric": "roc_auc",
                "estimator": "logistic_regression",
                "n_trials": "2",
                "cv_folds": "3",
            }
        )
    )
    return {
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_CHANNEL_TRAIN": str(train),
        "SM_MODEL_DIR": str(model),
        "SM_OUTPUT_DIR": str(output),
    }


def test_the_image_entry_point_trains_then_serves_the_model_as_sagemaker_runs_it(tmp_path: Path) -> None:
    env = {**os.environ, **_sagemaker_layout(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("TENANTML_SERVING_CONFIG", None)

    # when SageMaker runs `<image> train`
    trained = subprocess.run(
        [sys.executable, "-m", "pipelines.container", "train"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "model" / "model_metadata.json").is_file()

    # and then `<image> serve`, which must serve /opt/ml/model (here SM_MODEL_DIR) on the given port
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.container", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server never became ready"
            time.sleep(0.2)
        row = ",".join(str(v) for v in load_breast_cancer().data[0])
        answer = httpx.post(
            f"http://127.0.0.1:{port}/invocations", content=row, headers={"Content-Type": "text/csv"}
        )
        assert answer.status_code == 200
        assert answer.json()["predictions"] == [0]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    # uvicorn drains, runs the lifespan shutdown, then re-raises the SIGTERM it caught
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output


def test_an_unknown_mode_is_refused_with_the_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.container", "deploy"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 2
    usage = "usage: python -m pipelines.container prepare|train|evaluate|register|cleanup|compare|serve|monitor|features"
    assert usage in proc.stderr


def test_the_dockerfile_runs_that_entry_point_and_copies_every_package_it_imports() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "pipelines.container"]' in dockerfile
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.MULTILINE))
    assert {"core", "tenantml", "infra", "stacks", "pipelines", "lambdas"} <= copied
    assert "EXPOSE 8080" in dockerfile
