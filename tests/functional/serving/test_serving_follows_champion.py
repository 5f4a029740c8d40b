"""The serving image in follow mode (EKS pods, EC2 instances): ``python -m pipelines.container serve``
with ``ServerConfig.follow`` serves the registry's champion and moves with the alias, through a
bake, with rollback. The real entry point as its own process on 127.0.0.1, the registry and the
artifacts on moto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from serving_support import free_port
from wait_support import wait_until

from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.interface import CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.serving.config import FollowConfig, ServerConfig
from pipelines.serving.loader import RegistrySource

REGION = "eu-west-1"
GROUP = "tenantml-acme-dev-followed"
BUCKET = "tenantml-acme-dev-models"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def registry(aws: str) -> tuple[SageMakerModelRegistry, object]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    registry = SageMakerModelRegistry(boto3.client("sagemaker", region_name=REGION, endpoint_url=aws), GROUP)
    registry.ensure_group()
    return registry, s3


def _register(registry: SageMakerModelRegistry, s3, archive: Path, *, sha256: str | None = None) -> int:
    stored = upload_artifact(s3, BUCKET, archive)
    version = registry.create_model_version(
        model_data_url=stored.uri,
        image_uri=IMAGE,
        lineage=Lineage(
            run_id=new_run_id(),
            data_uri="s3://acme/raw/train.parquet",
            data_sha256="0" * 64,
            artifact_uri=stored.uri,
            artifact_sha256=sha256 or stored.sha256,
        ),
        approval_status=ApprovalStatus.APPROVED,
    )
    return version.version


def _follow_config(aws: str) -> ServerConfig:
    return ServerConfig(
        source=RegistrySource(group=GROUP, alias=CHAMPION, region=REGION, endpoint_url=aws),
        # a short bake, judged often, that a few requests can pass: the test sends them
        follow=FollowConfig(
            poll_seconds=0.2,
            max_backoff_seconds=0.4,
            load_timeout_seconds=60,
            canary_weight=0.5,
            bake_seconds=2.0,
            min_requests=5,
            check_interval_seconds=0.2,
            max_p99_ms=10_000,
        ),
    )


def test_a_following_server_waits_serves_rolls_back_and_moves_with_the_champion(
    registry, aws, model_dir: Path, rows, tmp_path: Path
) -> None:
    registry_, s3 = registry
    archive = pack_model_dir(model_dir, tmp_path / "model.tar.gz")
    body = ",".join(str(v) for v in rows[0])
    port = free_port()
    log_path = tmp_path / "server.log"
    # given the image's server, following the champion of an empty model group
    env = {**os.environ, **_follow_config(aws).to_env(), "PYTHONPATH": str(ROOT)}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.container",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def server_log() -> str:
        return log_path.read_text(errors="replace")

    def answer(path: str = "/ping") -> httpx.Response | None:
        assert process.poll() is None, server_log()
        try:
            return client.get(path)
        except httpx.TransportError:
            return None

    def invoke() -> httpx.Response:
        return client.post("/invocations", content=body, headers={"content-type": "text/csv"})

    try:
        # then it listens at once and answers /ping 503: no champion yet
        ping = wait_until(answer, timeout=60, message=server_log)
        assert ping.status_code == 503 and ping.json()["status"] == "waiting", ping.text
        refused = invoke()
        assert refused.status_code == 503 and refused.json()["error"] == "model_not_ready"
        # and its router says it is alive (the EKS liveness probe's path), serving nothing yet
        alive = answer("/follow")
        assert alive.status_code == 200 and alive.json()["model_version"] is None

        # when a first champion is registered, then the same server serves it: /ping 200
        first = _register(registry_, s3, archive)
        registry_.set_alias(CHAMPION, first)
        wait_until(lambda: answer().status_code == 200, timeout=60, message=server_log)
        served = invoke()
        assert served.status_code == 200, served.text
        assert served.headers["X-Model-Version"] == str(first)

        # when the alias moves to a version whose artifact fails its checksum
        broken = _register(registry_, s3, archive, sha256="f" * 64)
        registry_.set_alias(CHAMPION, broken)

        # then it is rolled back, and the first version keeps serving every request
        last = wait_until(
            lambda: (
                (answer("/follow").json().get("last_rollout") or {}).get("version") == broken
                and answer("/follow").json()["last_rollout"]
            ),
            timeout=60,
            message=server_log,
        )
        assert last["status"] == "rolled_back" and "checksum" in last["reason"], last
        assert {invoke().headers["X-Model-Version"] for _ in range(10)} == {str(first)}
        assert answer().status_code == 200

        # when the alias moves again, to a good version
        good = _register(registry_, s3, archive)
        registry_.set_alias(CHAMPION, good)

        # then it bakes (the canary takes some of the requests) and, the bake passed, serves them all
        seen: set[str] = set()

        def moved() -> bool:
            response = invoke()
            assert response.status_code == 200, response.text
            seen.add(response.headers["X-Model-Version"])
            return (answer("/follow").json()["last_rollout"] or {}).get("version") == good

        wait_until(moved, timeout=90, interval=0.01, message=server_log)
        assert {invoke().headers["X-Model-Version"] for _ in range(10)} == {str(good)}
        assert str(good) in seen and str(first) in seen, seen  # both served during the canary bake
        state = answer("/follow").json()
        assert state["last_rollout"]["status"] == "promoted", state
        assert state["model_version"] == str(good)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            client.close()
    # and SIGTERM stops it cleanly
    assert exit_code == 0, server_log()


def test_a_following_server_refuses_several_workers(aws, tmp_path: Path) -> None:
    # given a follow config, when the server is started with two workers
    env = {**os.environ, **_follow_config(aws).to_env(), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.container", "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then it refuses at once, naming the setting, instead of serving with one
    assert result.returncode != 0
    assert "workers: a server that follows the champion" in result.stderr, result.stderr
