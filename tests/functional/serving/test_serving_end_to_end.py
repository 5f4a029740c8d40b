"""End to end: a server with 2 worker processes in a subprocess, moto's Kinesis behind AWS_ENDPOINT_URL,
N requests, SIGTERM, and exactly N inference-log records on the stream.

Two launchers: ``uvicorn --workers`` (one shared socket) and ``python -m pipelines.serving`` (the
container entry point and ``tenantml serve``: one SO_REUSEPORT socket per uvicorn worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from serving_support import free_port, wait_for_workers

from pipelines.serving.config import InferenceLogConfig, ServerConfig
from pipelines.serving.loader import DirectorySource

REQUESTS = 240
WORKERS = 2


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "pipelines.serving.app:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
        "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _entry_point(port: int) -> list[str]:
    return [sys.executable, "-m", "pipelines.serving", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(WORKERS), "--log-level", "warning"]  # fmt: skip


@pytest.mark.parametrize(
    "launcher", [_uvicorn, _entry_point], ids=["uvicorn-workers", "reuse-port-supervisor"]
)
def test_every_request_to_a_multi_worker_server_is_logged_exactly_once(
    aws, stream, model_dir: Path, rows, read_records, tmp_path, launcher
):
    port = free_port()
    config = ServerConfig(
        source=DirectorySource(path=model_dir, version="12"),
        # a small buffer flush interval keeps the test short; shutdown must flush the rest anyway
        inference_log=InferenceLogConfig(stream_name=stream, flush_interval=1.0),
    )
    env = {**os.environ, **config.to_env(), "AWS_ENDPOINT_URL": aws}
    command = launcher(port)
    log_file = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3]
    )
    # no keep-alive: every request opens a new connection, so the kernel spreads them over the workers
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    )
    try:
        pids = wait_for_workers(f"http://127.0.0.1:{port}", WORKERS, process)
        assert len(pids) == WORKERS

        def send(i: int) -> str:
            body = orjson.dumps({"instances": [rows[i % len(rows)]]})
            response = client.post("/invocations", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 200, response.text
            assert response.headers["x-model-version"] == "12"
            return response.headers["x-request-id"]

        with ThreadPoolExecutor(8) as pool:
            request_ids = list(pool.map(send, range(REQUESTS)))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log_file.close()
            client.close()
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    assert exit_code == 0, server_log
    records = read_records(stream)
    assert len(records) == REQUESTS, server_log
    assert sorted(r.request_id for r in records) == sorted(request_ids)
    assert {r.model_version for r in records} == {"12"}
    assert all(r.latency_ms > 0 and r.n_rows == 1 and len(r.numeric_features) == 30 for r in records)
    # every worker flushed its own buffer on shutdown
    assert server_log.count("inference log closed (all delivered: True)") == WORKERS, server_log
