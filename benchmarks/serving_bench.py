"""Model-server throughput and tail latency: tenantml's server against baselines, on loopback.

Model: logistic regression on breast cancer (30 numeric features), trained by ``train_model``.
Servers (each under uvicorn with httptools/uvloop and the same number of worker processes; the
baselines with uvicorn's own ``--workers``):

- ``tenantml``: ``python -m pipelines.serving`` (planned scikit-learn path; one SO_REUSEPORT socket
  per uvicorn worker), inference logging off and on. Logging on sends every request as one
  record (format 4, all its rows) with PutRecords over CBOR (the default wire format) to
  ``NullKinesis``, a local stand-in for the remote service that costs almost no CPU; once more
  to the emulator's moto server in this process, for reference (moto's own CPU then competes with the server);
- ``naive``: the baseline most hand-written servers are: Starlette, ``json``, a pandas DataFrame
  per request and ``pipeline.predict_proba`` on it (the same fitted pipeline);
- ``mlflow``: ``mlflow models serve`` of the same fitted pipeline, when MLflow can be installed
  into a throwaway virtual environment under /tmp (it is not a project dependency).

Load: one row and 100 rows per request, concurrency 1, 8 and 32, with ``wrk`` (a Lua script sets
the POST body and prints p99) when it is on PATH, else a built-in asyncio + httpx generator
(labelled; it saturates near a few thousand requests/s on two cores, so it understates servers).
Also: a 100-tree random forest served as scikit-learn and as ONNX (one row per request), and
the in-process one-row predict latency of both.

Targets (2-core machine): tenantml >= 20x MLflow's throughput and p99 <= 1/10 of MLflow's at
concurrency 8 with one row; logging on costs <= 10 % throughput; ONNX forest >= 10x scikit-learn's
one-row throughput.

    .venv/bin/python benchmarks/serving_bench.py [--duration 5] [--workers 2] [--no-mlflow] [--quick] [--logging-only [--rounds 3]] [--protocol cbor|json]

wrk: ``apt-get install -y wrk`` (Debian/Ubuntu) or ``brew install wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MLFLOW_VENV = Path(tempfile.gettempdir()) / "tenantml-bench-mlflow"
CONCURRENCY = (1, 8, 32)
ROWS = (1, 100)
REGION = "eu-west-1"

WRK_SCRIPT = r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, \"non2xx\": %d, "
    .. "\"socket_errors\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


# --- the naive baseline (imported by uvicorn workers from this file) -------------------------------


def naive_app():
    """uvicorn factory: Starlette + json + a DataFrame per request + pipeline.predict_proba."""
    import joblib
    import pandas as pd
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    model_dir = Path(os.environ["BENCH_MODEL_DIR"])
    pipeline = joblib.load(model_dir / "model.joblib")
    names = json.loads((model_dir / "model_metadata.json").read_text())["input_signature"]
    columns = [f["name"] for f in names]

    async def ping(request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    async def invocations(request: Request) -> Response:
        data = json.loads(await request.body())
        frame = pd.DataFrame(data["instances"], columns=columns)
        probabilities = pipeline.predict_proba(frame)
        return JSONResponse(
            {"predictions": probabilities.argmax(axis=1).tolist(), "probabilities": probabilities.tolist()}
        )

    return Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])


# --- helpers --------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    rows: int
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    generator: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_models(work: Path) -> tuple[Path, Path, list[list[float]], list[str]]:
    from sklearn.datasets import load_breast_cancer

    from pipelines.training.train import TrainingConfig, save_model, train_model

    frame = load_breast_cancer(as_frame=True).frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logistic = train_model(
            frame,
            TrainingConfig(
                problem="classification",
                target="target",
                primary_metric="roc_auc",
                estimator="logistic_regression",
                n_trials=1,
                cv_folds=2,
            ),
            initial_params=[{"C": 1.0, "class_weight": None}],
        )
        forest = train_model(
            frame,
            TrainingConfig(
                problem="classification",
                target="target",
                primary_metric="roc_auc",
                estimator="random_forest",
                n_trials=1,
                cv_folds=2,
            ),
            initial_params=[
                {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 1, "max_features": "sqrt"}
            ],
        )
    names = logistic.metadata.feature_names
    rows = frame[names].to_numpy().tolist()
    return save_model(logistic, work / "logistic"), save_model(forest, work / "forest"), rows, names


def wait_http(url: str, process: subprocess.Popen, *, workers: int = 1, timeout: float = 180) -> None:
    """Until ``url`` answers 200 on fresh connections; for tenantml, until every worker is ready."""
    import httpx

    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    with httpx.Client(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} during startup")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready after {timeout:.0f} s")
            try:
                response = client.get(url)
                if response.status_code == 200:
                    if url.endswith("/metrics"):
                        body = response.json()
                        if body["status"] == "ready":
                            seen.add(body["pid"])
                        if len(seen) >= workers:
                            return
                    else:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.05)


@contextmanager
def server(
    command: list[str],
    env: dict[str, str],
    ready_url: str,
    *,
    workers: int,
    cwd: Path = ROOT,
    log: Path | None = None,
) -> Iterator[None]:
    out = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_http(ready_url, process, workers=workers)
        yield
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def run_wrk(url: str, body: bytes, concurrency: int, duration: float, work: Path) -> dict:
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    body_file = work / f"body-{len(body)}.bin"
    body_file.write_bytes(body)
    env = {**os.environ, "BENCH_BODY": str(body_file)}
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    match = re.search(r"^BENCH (\{.*\})$", done.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["non2xx"] + data["socket_errors"],
    }


def run_python(url: str, body: bytes, concurrency: int, duration: float) -> dict:
    import httpx

    async def main() -> dict:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + duration
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await client.post(
                            url, content=body, headers={"content-type": "application/json"}
                        )
                        if response.status_code != 200:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "rps": len(latencies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "errors": errors,
        }

    return asyncio.run(main())


def measure(label: str, url: str, body: bytes, rows: int, concurrency: int, args, work: Path) -> Result:
    generator = "wrk" if shutil.which("wrk") else "python-httpx"
    run = (
        (lambda c, d: run_wrk(url, body, c, d, work))
        if generator == "wrk"
        else (lambda c, d: run_python(url, body, c, d))
    )
    run(concurrency, 1)  # warm-up: connections, caches, the first batches of logs
    data = run(concurrency, args.duration)
    result = Result(
        label, rows, concurrency, data["rps"], data["p50_ms"], data["p99_ms"], data["errors"], generator
    )
    print(
        f"  {label:<22} rows={rows:<3} c={concurrency:<2}  {result.rps:9.0f} req/s   p50 {result.p50_ms:7.2f} ms"
        f"   p99 {result.p99_ms:7.2f} ms   errors {result.errors}   [{generator}]",
        flush=True,
    )
    return result


def bodies(rows: list[list[float]]) -> dict[int, bytes]:
    return {n: json.dumps({"instances": rows[:n]}).encode() for n in ROWS}


def uvicorn_command(
    app: str, port: int, workers: int, *, factory: bool = True, app_dir: Path | None = None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        command.append("--factory")
    if app_dir:
        command += ["--app-dir", str(app_dir)]
    return command


def worker_log_stats(port: int, workers: int) -> list[dict]:
    """Each worker's inference-log counters (fresh connections until every worker answered)."""
    import httpx

    seen: dict[int, dict] = {}
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(200):
            metrics = client.get(f"http://127.0.0.1:{port}/metrics").json()
            seen[metrics["pid"]] = metrics["inference_log"]
            if len(seen) >= workers:
                break
    return list(seen.values())


def tenantml_server(
    model_dir: Path,
    port: int,
    workers: int,
    *,
    serving_format: str = "sklearn",
    stream: str | None = None,
    endpoint: str | None = None,
    log: Path | None = None,
    protocol: str = "cbor",
):
    from pipelines.serving.config import InferenceLogConfig, ServerConfig
    from pipelines.serving.loader import DirectorySource

    config = ServerConfig(
        source=DirectorySource(path=model_dir, version="1"),
        serving_format=serving_format,  # type: ignore[arg-type]
        inference_log=InferenceLogConfig(
            stream_name=stream,
            region=REGION,
            endpoint_url=endpoint,
            protocol=protocol,  # type: ignore[arg-type]
        )
        if stream
        else None,
    )
    env = {
        **os.environ,
        **config.to_env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    # the container entry point / `tenantml serve`: one SO_REUSEPORT socket per uvicorn worker
    command = [sys.executable, "-m", "pipelines.serving", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    return server(command, env, f"http://127.0.0.1:{port}/metrics", workers=workers, log=log)


# --- a Kinesis stand-in that costs (almost) no CPU -------------------------------------------------


class NullKinesis:
    """Answers PutRecords with success and counts records: an HTTP/1.1 keep-alive server, a thread
    per connection, reading each body into one reused buffer.

    Real Kinesis runs elsewhere, so the stand-in should cost this machine as little as it can:
    moto on the same two cores spends far more CPU per record than the server does (logging cost
    is measured against this sink, and once against moto, for reference), and even parsing every
    body, as a first version of this sink did, cost a tenth of what the server spent logging. It
    reads a CBOR body's record count from the head of the document (``StreamName``, then the
    ``Records`` array's length) and parses a JSON body whole.
    """

    MAX_BODY = 8 * 1024 * 1024

    def __init__(self) -> None:
        import threading

        self.records = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed by stop()
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import cbor2
        import orjson

        buffer = bytearray(self.MAX_BODY + 65536)
        view = memoryview(buffer)
        have = 0
        with conn:
            while True:
                while (end := buffer.find(b"\r\n\r\n", 0, have)) < 0:
                    n = conn.recv_into(view[have:])
                    if not n:
                        return
                    have += n
                head = bytes(buffer[:end]).lower()
                total = end + 4 + int(re.search(rb"content-length:\s*(\d+)", head).group(1))
                while have < total:
                    n = conn.recv_into(view[have:])
                    if not n:
                        return
                    have += n
                body = view[end + 4 : total]
                # the wire format the client chose (CBOR by default, JSON on request), answered in kind
                cbor = b"x-amz-cbor" in head
                count = _cbor_record_count(body) if cbor else len(orjson.loads(body).get("Records", []))
                with self._lock:
                    self.records += count
                    self.calls += 1
                answer = {
                    "FailedRecordCount": 0,
                    "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * count,
                }
                payload = cbor2.dumps(answer) if cbor else orjson.dumps(answer)
                content_type = b"application/x-amz-cbor-1.1" if cbor else b"application/x-amz-json-1.1"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: %b\r\n"
                    b"Content-Length: %d\r\n\r\n" % (content_type, len(payload)) + payload
                )
                buffer[: have - total] = buffer[total:have]  # a pipelined next request, if any
                have -= total

    def stop(self) -> None:
        self._server.close()


def _cbor_head(data: memoryview, at: int) -> tuple[int, int, int]:
    """A CBOR item's major type, argument and the offset after its head."""
    first = data[at]
    major, info = first >> 5, first & 0x1F
    if info < 24:
        return major, info, at + 1
    size = 1 << (info - 24)  # 24..27: a 1, 2, 4 or 8-byte argument follows
    return major, int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def _cbor_record_count(body: memoryview) -> int:
    """The length of a PutRecords body's ``Records`` array, read from the document's head (the
    map's entries before it are strings); the whole document is parsed only when it is otherwise."""
    major, pairs, at = _cbor_head(body, 0)
    if major == 5:
        for _ in range(pairs):
            kind, size, at = _cbor_head(body, at)
            if kind != 3:
                break
            key, at = bytes(body[at : at + size]), at + size
            kind, size, at = _cbor_head(body, at)
            if key == b"Records" and kind == 4:
                return size
            if kind not in (2, 3):
                break
            at += size
    import cbor2

    return len(cbor2.loads(body).get("Records", []))


# --- MLflow --------------------------------------------------------------------------------------


def ensure_mlflow() -> Path | None:
    """A throwaway venv with MLflow and this project's scikit-learn version; None when it cannot be made."""
    python = MLFLOW_VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([str(python), "-c", "import mlflow"], capture_output=True, check=False).returncode
        == 0
    ):
        return python
    from importlib.metadata import version

    print(f"  installing MLflow into {MLFLOW_VENV} (one-off, a few minutes)...", flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "mlflow",
                f"scikit-learn=={version('scikit-learn')}",
                f"pydantic=={version('pydantic')}",
                "pyyaml",
            ],
            check=True,
            capture_output=True,
            timeout=1500,
        )
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", b"") or b""
        print(f"  MLflow skipped: could not install it ({err}; {detail.decode(errors='replace')[-300:]})")
        return None
    return python


def mlflow_model(python: Path, model_dir: Path, work: Path) -> Path:
    target = work / "mlflow-model"
    if target.exists():
        shutil.rmtree(target)
    code = (
        "import joblib, sys, mlflow.sklearn\n"
        "pipeline = joblib.load(sys.argv[1])\n"
        "mlflow.sklearn.save_model(pipeline, sys.argv[2], serialization_format='cloudpickle')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [str(python), "-c", code, str(model_dir / "model.joblib"), str(target)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return target


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--quick", action="store_true", help="concurrency 8 only")
    parser.add_argument(
        "--logging-only",
        action="store_true",
        help="only tenantml with inference logging off and on (to the sink), both servers up, measured in turns",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--logging-only: off/on turns per row count")
    parser.add_argument(
        "--protocol",
        choices=("cbor", "json"),
        default="cbor",
        help="the inference log's PutRecords wire format",
    )
    args = parser.parse_args()
    concurrency = (8,) if args.quick else CONCURRENCY
    if not shutil.which("wrk"):
        print(
            "wrk is not on PATH: using the built-in asyncio+httpx load generator (it understates fast servers).\n"
            "Install wrk for real numbers: apt-get install -y wrk (Debian/Ubuntu), brew install wrk (macOS)."
        )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"{args.workers} worker processes per server; {args.duration:.0f} s per measurement"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tenantml-serving-bench-") as tmp:
        work = Path(tmp)
        logistic_dir, forest_dir, rows, names = train_models(work)
        payloads = bodies(rows)

        def sweep(label: str, url: str) -> None:
            for n in ROWS:
                for c in concurrency:
                    results.append(measure(label, url, payloads[n], n, c, args, work))

        print("\n== logistic regression, 30 features ==")
        if args.logging_only:
            logging_rounds(logistic_dir, payloads, concurrency, args, work, results)
            summarize(results)
            return 0
        port = free_port()
        with tenantml_server(logistic_dir, port, args.workers, log=work / "tenantml.log"):
            sweep("tenantml (log off)", f"http://127.0.0.1:{port}/invocations")

        sink = NullKinesis()
        port = free_port()
        with tenantml_server(
            logistic_dir,
            port,
            args.workers,
            stream="bench-inference-log",
            endpoint=sink.endpoint,
            protocol=args.protocol,
            log=work / "tenantml-log.log",
        ):
            sweep("tenantml (log on)", f"http://127.0.0.1:{port}/invocations")
            stats = worker_log_stats(port, args.workers)
        sink.stop()
        print(
            f"  inference log: {sink.records} records in {sink.calls} PutRecords calls; per worker "
            "records sent/rows sent/rows lost (buffer full, oversized, failed): "
            + "; ".join(f"{s['sent_records']}/{s['sent_rows']}/{s['lost_rows']}" for s in stats)
        )

        # the same against the emulator's moto on this machine, for reference: moto's CPU per record
        # competes with the server
        import logging

        import boto3

        from tenantml.emulator import server as emulator

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = emulator.start(0)
        endpoint = moto.endpoint
        boto3.client(
            "kinesis",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_stream(StreamName="bench-inference-log", ShardCount=4)
        port = free_port()
        with tenantml_server(
            logistic_dir,
            port,
            args.workers,
            stream="bench-inference-log",
            endpoint=endpoint,
            log=work / "tenantml-moto.log",
        ):
            results.append(
                measure(
                    "tenantml (log to moto)",
                    f"http://127.0.0.1:{port}/invocations",
                    payloads[1],
                    1,
                    8,
                    args,
                    work,
                )
            )
            stats = worker_log_stats(port, args.workers)
        moto.stop()
        print(
            "  inference log to moto, per worker records sent/rows sent/rows lost: "
            + "; ".join(f"{s['sent_records']}/{s['sent_rows']}/{s['lost_rows']}" for s in stats)
        )

        port = free_port()
        env = {**os.environ, "BENCH_MODEL_DIR": str(logistic_dir), "PYTHONPATH": str(ROOT)}
        with server(
            uvicorn_command("serving_bench:naive_app", port, args.workers, app_dir=ROOT / "benchmarks"),
            env,
            f"http://127.0.0.1:{port}/ping",
            workers=1,
        ):
            sweep("naive (pandas/pipeline)", f"http://127.0.0.1:{port}/invocations")

        mlflow_python = None if args.no_mlflow else ensure_mlflow()
        if mlflow_python:
            try:
                model = mlflow_model(mlflow_python, logistic_dir, work)
            except subprocess.SubprocessError as err:
                print(f"  MLflow skipped: could not save the model in MLflow format ({err})")
                model = None
            if model:
                port = free_port()
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "PATH": f"{mlflow_python.parent}:{os.environ['PATH']}",
                }
                command = [
                    str(mlflow_python.parent / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(model),
                    "--env-manager",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ]
                ml_payloads = {
                    n: json.dumps({"dataframe_split": {"columns": names, "data": rows[:n]}}).encode()
                    for n in ROWS
                }
                try:
                    with server(
                        command, env, f"http://127.0.0.1:{port}/ping", workers=1, log=work / "mlflow.log"
                    ):
                        for n in ROWS:
                            for c in concurrency:
                                results.append(
                                    measure(
                                        "mlflow models serve",
                                        f"http://127.0.0.1:{port}/invocations",
                                        ml_payloads[n],
                                        n,
                                        c,
                                        args,
                                        work,
                                    )
                                )
                except RuntimeError as err:
                    log_text = (work / "mlflow.log").read_text(errors="replace")[-500:]
                    print(f"  MLflow skipped: {err}\n{log_text}")

        print("\n== random forest, 100 trees: scikit-learn vs ONNX ==")
        from pipelines.serving.loader import DirectorySource, load
        from pipelines.serving.predictor import repeat_rows

        for fmt in ("sklearn", "onnx"):
            loaded = load(DirectorySource(path=forest_dir), serving_format=fmt)  # type: ignore[arg-type]
            one = repeat_rows(loaded.schema.batch_from_rows([rows[0]]), 1)
            samples = []
            for _ in range(300):
                started = time.perf_counter()
                loaded.predictor.predict(one)
                samples.append(time.perf_counter() - started)
            print(
                f"  in-process one-row predict, {fmt:<7}: median {statistics.median(samples) * 1e6:8.1f} us"
            )
        for fmt in ("sklearn", "onnx"):
            port = free_port()
            with tenantml_server(
                forest_dir, port, args.workers, serving_format=fmt, log=work / f"forest-{fmt}.log"
            ):
                for c in (1, 8):
                    results.append(
                        measure(
                            f"forest {fmt}",
                            f"http://127.0.0.1:{port}/invocations",
                            payloads[1],
                            1,
                            c,
                            args,
                            work,
                        )
                    )

    summarize(results)
    return 0


def logging_rounds(
    model_dir: Path,
    payloads: dict[int, bytes],
    concurrency: tuple[int, ...],
    args,
    work: Path,
    results: list[Result],
) -> None:
    """Logging off and on, both servers running, measured in alternating turns; the median of each.

    On a shared machine other work comes and goes: measured one after the other, off and on see
    different loads. Taking turns exposes both to the same load (the idle server costs nothing:
    its sender thread wakes every 0.25 s to find nothing to send).
    """
    sink = NullKinesis()
    off_port, on_port = free_port(), free_port()
    with (
        tenantml_server(model_dir, off_port, args.workers, log=work / "tenantml.log"),
        tenantml_server(
            model_dir,
            on_port,
            args.workers,
            stream="bench-inference-log",
            endpoint=sink.endpoint,
            protocol=args.protocol,
            log=work / "tenantml-log.log",
        ),
    ):
        for n in ROWS:
            for c in concurrency:
                turns: dict[str, list[Result]] = {"tenantml (log off)": [], "tenantml (log on)": []}
                for _ in range(args.rounds):
                    for label, port in (("tenantml (log off)", off_port), ("tenantml (log on)", on_port)):
                        turns[label].append(
                            measure(
                                label, f"http://127.0.0.1:{port}/invocations", payloads[n], n, c, args, work
                            )
                        )
                costs = [1 - on.rps / off.rps for off, on in zip(*turns.values(), strict=True)]
                print(f"  turns rows={n} c={c}: logging cost " + ", ".join(f"{100 * x:.1f} %" for x in costs))
                for label, runs in turns.items():
                    middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
                    results.append(Result(label, n, c, middle.rps, middle.p50_ms, middle.p99_ms,
                                          sum(r.errors for r in runs), middle.generator))  # fmt: skip
        stats = worker_log_stats(on_port, args.workers)
    sink.stop()
    print(
        f"  inference log: {sink.records} records in {sink.calls} PutRecords calls; per worker "
        "records sent/rows sent/rows lost (buffer full, oversized, failed): "
        + "; ".join(f"{s['sent_records']}/{s['sent_rows']}/{s['lost_rows']}" for s in stats)
    )


def summarize(results: list[Result]) -> None:
    def find(label: str, rows: int, c: int) -> Result | None:
        return next((r for r in results if r.label == label and r.rows == rows and r.concurrency == c), None)

    print("\n== summary ==")
    print(f"{'server':<24}{'rows':>5}{'conc':>6}{'req/s':>10}{'p99 ms':>10}")
    for r in results:
        print(f"{r.label:<24}{r.rows:>5}{r.concurrency:>6}{r.rps:>10.0f}{r.p99_ms:>10.2f}")
    print()
    for r in results:
        if r.label == "tenantml (log on)":
            off = find("tenantml (log off)", r.rows, r.concurrency)
            if off:
                print(
                    f"logging on/off throughput, rows={r.rows} c={r.concurrency}: {r.rps / off.rps:.2f} "
                    f"(cost {100 * (1 - r.rps / off.rps):.1f} %; target <= 10 %)"
                )
    for other in ("naive (pandas/pipeline)", "mlflow models serve"):
        for rows in ROWS:
            ours, theirs = find("tenantml (log off)", rows, 8), find(other, rows, 8)
            ours_on = find("tenantml (log on)", rows, 8)
            if ours and theirs:
                line = (
                    f"tenantml vs {other}, rows={rows} c=8: throughput x{ours.rps / theirs.rps:.1f}, "
                    f"p99 {theirs.p99_ms / ours.p99_ms:.1f}x lower"
                )
                if ours_on:
                    line += f" (logging on: x{ours_on.rps / theirs.rps:.1f}, p99 {theirs.p99_ms / ours_on.p99_ms:.1f}x lower)"
                if other.startswith("mlflow") and rows == 1:
                    line += "  [targets: >= x20, >= 10x lower]"
                print(line)
    for c in (1, 8):
        sk, onnx = find("forest sklearn", 1, c), find("forest onnx", 1, c)
        if sk and onnx:
            print(
                f"random forest one-row throughput ONNX / scikit-learn, c={c}: x{onnx.rps / sk.rps:.1f} "
                f"(p99 {sk.p99_ms:.2f} -> {onnx.p99_ms:.2f} ms)  [target >= x10]"
            )


if __name__ == "__main__":
    sys.exit(main())
