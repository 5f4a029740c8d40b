"""Load: concurrency 32 for 60 s against a model server logging to a real (moto) Kinesis stream.

Done when (issue #5): zero non-2xx responses and zero transport errors, and after a graceful
shutdown every request's inference-log record is on the stream (all shards read from
TRIM_HORIZON), with its row count and model version, and no worker reports a lost row.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
from serving_support import free_port, wait_for_workers

from pipelines.inference_log.decoding import parse_payloads
from pipelines.serving.config import InferenceLogConfig, ServerConfig
from pipelines.serving.loader import DirectorySource

#: the issue's load: 32 concurrent clients for 60 s
DURATION_S = 60.0
CONCURRENCY = 32
#: two workers, two sender threads whose PutRecords calls overlap: moto 5.2.5 alone would give two
#: concurrent records one sequence number and silently keep only one; the serving tests' moto is
#: the emulator's, which serializes puts per stream (``fix_kinesis_put_concurrency``)
WORKERS = 2
VERSION = "21"
#: every 10th request carries this many rows, the others one
MULTI_ROWS = 100
CLOSED = re.compile(r"inference log closed \(all delivered: (True|False)\): (\{.*\})")


async def _load(url: str, bodies: dict[int, bytes]) -> tuple[dict[str, int], Counter, list[str]]:
    """Send for DURATION_S from CONCURRENCY clients; the rows of each request id, statuses, errors."""
    sent: dict[str, int] = {}
    statuses: Counter = Counter()
    transport_errors: list[str] = []
    deadline = time.monotonic() + DURATION_S
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                i = next(counter)
                rows = MULTI_ROWS if i % 10 == 0 else 1
                request_id = f"load-{i}"
                try:
                    response = await client.post(
                        "/invocations",
                        content=bodies[rows],
                        headers={"content-type": "application/json", "x-request-id": request_id},
                    )
                except httpx.TransportError as err:
                    transport_errors.append(f"{request_id}: {type(err).__name__}: {err}")
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200 and response.headers.get("x-request-id") == request_id:
                    sent[request_id] = rows

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sent, statuses, transport_errors


def test_a_minute_at_concurrency_32_has_no_errors_and_every_request_is_logged(
    aws, stream, stream_data, model_dir: Path, rows, tmp_path
):
    # given a server of model version 21 logging to a 2-shard stream
    port = free_port()
    config = ServerConfig(
        source=DirectorySource(path=model_dir, version=VERSION),
        inference_log=InferenceLogConfig(stream_name=stream),
    )
    env = {**os.environ, **config.to_env(), "AWS_ENDPOINT_URL": aws}
    command = [sys.executable, "-m", "pipelines.serving", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(WORKERS), "--log-level", "info"]  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[3],
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_workers(url, WORKERS, process)
            bodies = {
                1: orjson.dumps({"instances": [rows[0]]}),
                MULTI_ROWS: orjson.dumps({"instances": [rows[i % len(rows)] for i in range(MULTI_ROWS)]}),
            }
            # when 32 clients send for a minute (one request in ten with 100 rows)
            started = time.monotonic()
            sent, statuses, transport_errors = asyncio.run(_load(url, bodies))
            elapsed = time.monotonic() - started
        finally:
            # and the server shuts down gracefully (each worker flushes its log)
            process.send_signal(signal.SIGTERM)
            try:
                exit_code = process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
    server_log = log_path.read_text(errors="replace")
    total = sum(statuses.values()) + len(transport_errors)
    print(
        f"\nload: {total} requests in {elapsed:.1f}s = {total / elapsed:,.0f} requests/s "
        f"({sum(sent.values())} rows) at concurrency {CONCURRENCY}"
    )

    # then nothing failed
    assert transport_errors == [], transport_errors[:5]
    assert set(statuses) == {200}, statuses
    assert len(sent) == total > 0
    # uvicorn (>= 0.29) re-raises SIGTERM after a graceful one-process shutdown: -15 is a clean exit
    assert exit_code in (0, -signal.SIGTERM), server_log[-3000:]
    assert "Application shutdown complete" in server_log
    # and each worker flushed everything and lost nothing
    closed = CLOSED.findall(server_log)
    assert len(closed) == WORKERS, server_log[-3000:]
    stats = [ast.literal_eval(snapshot) for _, snapshot in closed]
    assert [delivered for delivered, _ in closed] == ["True"] * WORKERS
    assert [s["lost_rows"] for s in stats] == [0] * WORKERS, stats
    assert sum(s["submitted_requests"] for s in stats) == len(sent)

    # and the stream holds exactly one record per request, with its rows and version
    records = [p for data in stream_data(stream) for p in parse_payloads(data)]
    logged = {r["request_id"]: r for r in records}
    assert len(records) == len(logged), "a request was logged twice"
    assert logged.keys() == sent.keys()
    assert {r["model_version"] for r in records} == {VERSION}
    assert {rid: r["n_rows"] for rid, r in logged.items()} == sent
    assert all(not r["error"] and len(r["predictions"]) == r["n_rows"] and r["chunks"] == 1 for r in records)
