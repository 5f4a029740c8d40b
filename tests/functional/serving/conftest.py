"""Serving flows against real parts: uvicorn on 127.0.0.1, real scikit-learn models, and one moto
server (the emulator's, on a free loopback port) for Kinesis, S3 and SageMaker, reset
before every test that uses it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pandas as pd
import pytest
from model_support import quick_logistic
from sklearn.datasets import load_breast_cancer

from pipelines.inference_log.decoding import InferenceRecord, decode_stream_record
from pipelines.serving.app import create_app
from pipelines.serving.config import InferenceLogConfig, ServerConfig
from pipelines.serving.loader import DirectorySource
from pipelines.serving.runner import ThreadedServer
from pipelines.training.train import TrainedModel, TrainingConfig, save_model, train_model
from tenantml.emulator import server as emulator

REGION = "eu-west-1"
STREAM = "tenantml-acme-dev-inference-log"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    # the emulator's moto, with its fixes (Kinesis puts from several workers lose nothing)
    with emulator.running(0) as server:
        yield server.endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials, the region, and an emptied moto server; returns its endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    httpx.post(f"{moto_endpoint}/moto-api/reset").raise_for_status()
    return moto_endpoint


@pytest.fixture
def kinesis(aws: str):
    return boto3.client("kinesis", region_name=REGION, endpoint_url=aws)


@pytest.fixture
def stream(kinesis) -> str:
    kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    return STREAM


@pytest.fixture
def stream_data(kinesis) -> Callable[[str], list[bytes]]:
    """Every Kinesis record's bytes on every shard of a stream, from TRIM_HORIZON until a shard
    has nothing more."""

    def read(stream_name: str) -> list[bytes]:
        data = []
        for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                data += [r["Data"] for r in page["Records"]]
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return data

    return read


@pytest.fixture
def read_records(stream_data) -> Callable[[str], list[InferenceRecord]]:
    """Every request logged on every shard of a stream (each of an aggregated record's), decoded as
    InferenceRecord (fails on a malformed record)."""
    return lambda stream_name: [
        record for data in stream_data(stream_name) for record in decode_stream_record(data)
    ]


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def logistic(cancer: pd.DataFrame) -> TrainedModel:
    return quick_logistic(cancer)


@pytest.fixture(scope="session")
def model_dir(logistic: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(logistic, tmp_path_factory.mktemp("served") / "model")


@pytest.fixture(scope="session")
def forest_dir(cancer: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random forest: scikit-learn's trees compute on float32, not float64."""
    config = TrainingConfig(
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        estimator="random_forest",
        n_trials=1,
        cv_folds=2,
    )
    params = {"n_estimators": 10, "max_depth": 4, "min_samples_leaf": 2, "max_features": "sqrt"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forest = train_model(cancer, config, initial_params=[params])
    return save_model(forest, tmp_path_factory.mktemp("forest") / "model")


@pytest.fixture
def rows(cancer: pd.DataFrame, logistic: TrainedModel) -> list[list[float]]:
    return cancer[logistic.metadata.feature_names].head(20).to_numpy().tolist()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ThreadedServer]]:
    """Start create_app(config, **kwargs) under uvicorn in a thread; stopped (gracefully) at teardown."""
    started: list[ThreadedServer] = []

    def start(config: ServerConfig, **kwargs) -> ThreadedServer:
        server = ThreadedServer(create_app(config, **kwargs)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def served_config(model_dir: Path, stream: str, aws: str) -> ServerConfig:
    """The local model, logging to the moto stream, with a 64 KiB body limit."""
    return ServerConfig(
        source=DirectorySource(path=model_dir, version="7"),
        max_body_bytes=64 * 1024,
        inference_log=InferenceLogConfig(
            stream_name=stream, region=REGION, endpoint_url=aws, flush_interval=0.05
        ),
    )


def _wait_ready(server: ThreadedServer, timeout: float = 30.0) -> None:
    app_server = server.server.config.app.state.server  # type: ignore[attr-defined]
    assert app_server.loaded.wait(timeout), "the model did not load in time"
    assert app_server.status == "ready", app_server.error


@pytest.fixture
def wait_ready() -> Callable[[ThreadedServer], None]:
    """Wait until a started server's model has loaded, and check that it did."""
    return _wait_ready
