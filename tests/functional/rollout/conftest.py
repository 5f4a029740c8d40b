"""Rollout flows against real parts: two real model servers (or deliberately bad Starlette servers)
under uvicorn on 127.0.0.1, the router under uvicorn in front of them, and moto (``mock_aws``,
in process) for the SageMaker model registry and the SNS topic, read through a subscribed SQS queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import boto3
import httpx
import pytest
from model_support import quick_logistic
from moto import mock_aws
from sklearn.datasets import load_breast_cancer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.serving.app import create_app
from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import DirectorySource
from pipelines.serving.router import RolloutRouter, create_router_app
from pipelines.serving.runner import ThreadedServer
from pipelines.training.train import TrainedModel, save_model

REGION = "eu-west-1"
GROUP = "tenantml-acme-dev-default"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"


@pytest.fixture(scope="session")
def trained() -> tuple[TrainedModel, list[list[float]]]:
    frame = load_breast_cancer(as_frame=True).frame
    model = quick_logistic(frame)
    return model, frame[model.metadata.feature_names].head(5).to_numpy().tolist()


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(trained[0], tmp_path_factory.mktemp("rollout") / "model")


@pytest.fixture(scope="session")
def csv_body(trained) -> bytes:
    return "\n".join(",".join(repr(v) for v in row) for row in trained[1][:2]).encode()


@pytest.fixture
def servers() -> Iterator[Callable[[object], ThreadedServer]]:
    """Start any ASGI app under uvicorn on a free loopback port; all stopped at teardown, last first."""
    started: list[ThreadedServer] = []

    def start(app: object) -> ThreadedServer:
        server = ThreadedServer(app).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def model_server(servers, model_dir: Path) -> Callable[[str], ThreadedServer]:
    """A real model server for the trained model, reporting ``version``; waits until it is ready."""

    def start(version: str) -> ThreadedServer:
        app = create_app(ServerConfig(source=DirectorySource(path=model_dir, version=version)))
        server = servers(app)
        state = app.state.server
        assert state.loaded.wait(30), "the model did not load in time"
        assert state.status == "ready", state.error
        return server

    return start


@dataclass
class FaultyServer:
    """A real HTTP server that answers /invocations with 500 for every ``fail_every``-th request
    (1: all of them) and sleeps ``delay`` seconds first; it counts what it received."""

    fail_every: int = 0
    delay: float = 0.0
    version: str = "2"
    received: list[bytes] = field(default_factory=list)

    def app(self) -> Starlette:
        async def invocations(request: Request) -> Response:
            body = await request.body()
            self.received.append(body)
            if self.delay:
                await asyncio.sleep(self.delay)
            headers = {"X-Model-Version": self.version}
            if self.fail_every and len(self.received) % self.fail_every == 0:
                return JSONResponse({"error": "prediction_failed", "message": "boom"}, 500, headers)
            return JSONResponse({"predictions": [0]}, 200, headers)

        async def ping(request: Request) -> Response:
            return JSONResponse({"status": "ready"})

        return Starlette(routes=[Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
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
    with mock_aws():
        yield


@pytest.fixture
def registry(aws) -> SageMakerModelRegistry:
    """Versions 1 (champion) and 2 (challenger), registered as the pipeline does."""
    registry = SageMakerModelRegistry(boto3.client("sagemaker", region_name=REGION), GROUP)
    registry.ensure_group()
    for _ in range(2):
        registry.create_model_version(
            model_data_url="s3://tenantml-acme-dev-models/model.tar.gz",
            image_uri=IMAGE,
            lineage=Lineage(
                run_id=new_run_id(),
                data_uri="s3://acme/raw/train.parquet",
                data_sha256="0" * 64,
                artifact_uri="s3://tenantml-acme-dev-models/model.tar.gz",
                artifact_sha256="1" * 64,
            ),
            approval_status=ApprovalStatus.APPROVED,
        )
    registry.set_alias(CHAMPION, 1)
    registry.set_alias(CHALLENGER, 2)
    return registry


@dataclass
class Topic:
    sns: object
    sqs: object
    arn: str
    queue_url: str

    def messages(self) -> list[dict]:
        import json

        found = []
        while True:
            page = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not page.get("Messages"):
                return found
            found.extend(json.loads(m["Body"]) for m in page["Messages"])


@pytest.fixture
def topic(aws) -> Topic:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="tenantml-acme-dev-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(sns, sqs, arn, queue_url)


@pytest.fixture
def router(servers) -> Callable[..., tuple[RolloutRouter, ThreadedServer]]:
    def start(
        champion_url: str, challenger_url: str, strategy: str, **kwargs
    ) -> tuple[RolloutRouter, ThreadedServer]:
        router = RolloutRouter(
            champion_url,
            challenger_url,
            strategy=strategy,
            champion_version=1,
            challenger_version=2,
            **kwargs,
        )
        return router, servers(create_router_app(router))

    return start


class Traffic:
    """Clients posting ``body`` to a URL in background threads until stopped; keeps every response."""

    def __init__(self, url: str, body: bytes, *, clients: int = 2) -> None:
        self.url, self.body = url, body
        self.responses: list[httpx.Response] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._drive, daemon=True) for _ in range(clients)]

    def _drive(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                response = client.post(
                    f"{self.url}/invocations", content=self.body, headers={"content-type": "text/csv"}
                )
                self.responses.append(response)

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


@pytest.fixture
def faulty() -> type[FaultyServer]:
    return FaultyServer


@pytest.fixture
def traffic() -> type[Traffic]:
    return Traffic
