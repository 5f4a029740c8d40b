"""A server configured for a champion that does not exist yet (an EC2 tenant's instance booting
before the first pipeline run) waits for it: /ping 503 while the alias names no version, then the
champion within a bounded wait, with no restart. A real server on 127.0.0.1, the registry on moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import httpx
import pytest
from wait_support import wait_until

from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.interface import CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import RegistrySource

REGION = "eu-west-1"
GROUP = "tenantml-acme-dev-waiting"
BUCKET = "tenantml-acme-dev-models"


@pytest.fixture
def registry(aws: str) -> tuple[SageMakerModelRegistry, object]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    registry = SageMakerModelRegistry(boto3.client("sagemaker", region_name=REGION, endpoint_url=aws), GROUP)
    registry.ensure_group()
    return registry, s3


def _config(aws: str, poll: float | None) -> ServerConfig:
    source = RegistrySource(group=GROUP, alias=CHAMPION, region=REGION, endpoint_url=aws)
    return ServerConfig(source=source, alias_poll_seconds=poll, alias_max_poll_seconds=0.4)


def test_without_a_champion_the_server_waits_and_then_serves_it(
    registry, aws, model_dir: Path, rows, start_server, tmp_path: Path
) -> None:
    registry_, s3 = registry
    # given a server for the champion alias of an empty model group
    server = start_server(_config(aws, poll=0.1))
    app_server = server.server.config.app.state.server

    # then it answers, 503, and says it is waiting (after a few polls: still waiting, not failed)
    wait_until(lambda: app_server.status == "waiting", timeout=30, message="the server never waited")
    ping = httpx.get(f"{server.url}/ping")
    assert ping.status_code == 503
    assert ping.json()["status"] == "waiting" and "holds alias 'champion'" in ping.json()["error"]
    body = ",".join(str(v) for v in rows[0])
    refused = httpx.post(f"{server.url}/invocations", content=body, headers={"content-type": "text/csv"})
    assert refused.status_code == 503 and refused.json()["error"] == "model_not_ready"
    assert not app_server.loaded.is_set()

    # when a champion is registered
    stored = upload_artifact(s3, BUCKET, pack_model_dir(model_dir, tmp_path / "model.tar.gz"))
    version = registry_.create_model_version(
        model_data_url=stored.uri,
        image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0",
        lineage=Lineage(
            run_id=new_run_id(),
            data_uri="s3://acme/raw/train.parquet",
            data_sha256="0" * 64,
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
        ),
        approval_status=ApprovalStatus.APPROVED,
    )
    registry_.set_alias(CHAMPION, version.version)

    # then within a bounded wait (the backoff is capped at 0.4 s) the same server serves it
    wait_until(lambda: httpx.get(f"{server.url}/ping").status_code == 200, timeout=60)
    response = httpx.post(f"{server.url}/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Model-Version"] == str(version.version)


def test_without_polling_a_missing_champion_fails_at_once(registry, aws, start_server) -> None:
    # given the default (no alias_poll_seconds): the CLI and `up` want the error, not a wait
    server = start_server(_config(aws, poll=None))
    app_server = server.server.config.app.state.server

    # then the load fails and /ping says why
    assert app_server.loaded.wait(30)
    ping = httpx.get(f"{server.url}/ping")
    assert ping.status_code == 503 and ping.json()["status"] == "failed"
