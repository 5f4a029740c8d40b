"""Run one invocation of a function in a fresh Python process (a cold start every time).

The process is ``sys.executable -P bootstrap.py`` in the extracted code folder, with the
function's environment, the emulator's endpoint and fake credentials, and the variables
the AWS Python runtime sets. stdout and stderr become the invocation's log lines; the
process (and anything it started) is killed when the function's timeout passes.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenantml.emulator.runtime.codecache import CodeCache
from tenantml.emulator.runtime.functions import FunctionSpec
from tenantml.emulator.server import aws_env

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: the longest the import of a handler may take before the timeout clock starts (AWS: 10 s)
INIT_TIMEOUT = 10.0
#: how much of the log a synchronous invoke returns with ``LogType=Tail`` (AWS: the last 4 KB)
LOG_TAIL_BYTES = 4096


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class InvocationResult:
    """What one invocation produced: the payload (result or error body), the log, the timings."""

    request_id: str
    function_name: str
    function_arn: str
    version: str
    #: the JSON the caller receives: the handler's result, or the error body when ``error`` is set
    payload: bytes
    #: ``{"errorMessage", "errorType", "stackTrace", ...}`` when the invocation failed
    error: dict[str, Any] | None
    timed_out: bool
    duration_ms: float
    init_duration_ms: float
    max_memory_mb: int
    log_group: str
    log_stream: str
    log_lines: tuple[LogLine, ...] = field(repr=False, default=())

    @property
    def failed(self) -> bool:
        return self.error is not None

    def json(self) -> Any:
        """The payload decoded (the handler's return value, or the error body)."""
        return json.loads(self.payload) if self.payload else None

    @property
    def log_text(self) -> str:
        return "\n".join(line.message for line in self.log_lines)

    @property
    def log_tail(self) -> str:
        data = self.log_text.encode()
        return data[-LOG_TAIL_BYTES:].decode(errors="replace")


def _now_ms() -> int:
    return int(time.time() * 1000)


def log_stream_name(version: str) -> str:
    """``YYYY/MM/DD/[$LATEST]<32 hex>``, as AWS names a log stream per execution environment."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class ProcessRunner:
    """Starts, feeds, times and kills invocation processes; knows the live ones for ``kill_all``."""

    def __init__(
        self,
        code_cache: CodeCache,
        endpoint: str,
        *,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.code_cache = code_cache
        self.endpoint = endpoint
        self.python = python or sys.executable
        self.extra_env = dict(extra_env or {})
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[bytes]] = set()

    def environment(self, spec: FunctionSpec, code_dir: Path, log_stream: str) -> dict[str, str]:
        """The process environment: a clean base, the function's variables, then Lambda's own."""
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", tempfile.gettempdir()),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **self.extra_env,
            **spec.environment,
        }
        env.update({
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python'}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            # the emulator and nothing else: fake credentials, no shared config or profile
            **aws_env(self.endpoint, spec.region),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONPATH": str(code_dir),
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
        })
        if spec.application_log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level
        return env

    def run(self, spec: FunctionSpec, event: bytes, request_id: str) -> InvocationResult:
        """Run ``spec``'s handler on ``event`` (JSON bytes) and wait for it, at most its timeout."""
        stream = log_stream_name(spec.version)
        code_dir = self.code_cache.extract(spec.name, spec.code)
        lines: list[LogLine] = []
        with tempfile.TemporaryDirectory(prefix="tenantml-invoke-") as tmp:
            result_path = Path(tmp) / "result.json"
            ready_r, ready_w = os.pipe()
            env = self.environment(spec, code_dir, stream)
            env["_TENANTML_RESULT_PATH"] = str(result_path)
            env["_TENANTML_READY_FD"] = str(ready_w)
            spawned = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [self.python, "-P", str(BOOTSTRAP)],
                    cwd=code_dir,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    pass_fds=(ready_w,),
                    start_new_session=True,
                )
            finally:
                os.close(ready_w)
            with self._lock:
                self._live.add(proc)
            reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True, name="tenantml-lambda-log")
            reader.start()
            try:
                state = _wait_ready(ready_r, INIT_TIMEOUT + spec.timeout)
                init_ms = (time.monotonic() - spawned) * 1000
                start_ms = _now_ms()
                started = time.monotonic()
                timed_out = state == "timeout"
                if state == "ready":
                    header = {
                        "request_id": request_id,
                        "deadline_ms": start_ms + int(spec.timeout * 1000),
                        "invoked_function_arn": spec.arn,
                        "log_stream_name": stream,
                    }
                    _feed(proc, json.dumps(header).encode() + b"\n" + event)
                    try:
                        proc.wait(timeout=max(0.0, spec.timeout - (time.monotonic() - started)))
                    except subprocess.TimeoutExpired:
                        timed_out = True
                duration_ms = (time.monotonic() - started) * 1000
            finally:
                os.close(ready_r)
                _kill_group(proc)  # the timeout, or what the handler left running
                proc.wait()
                reader.join(timeout=2)
                with self._lock:
                    self._live.discard(proc)
            outcome = _read_outcome(result_path)
        return self._result(spec, request_id, stream, proc.returncode, outcome, timed_out,
                            start_ms, duration_ms, init_ms, lines)

    @property
    def running(self) -> int:
        """How many invocation processes are alive now."""
        with self._lock:
            return len(self._live)

    def kill_all(self) -> int:
        """Kill every running invocation process (``LambdaRuntime.stop`` past its deadline)."""
        with self._lock:
            live = list(self._live)
        for proc in live:
            _kill_group(proc)
        return len(live)

    def _result(
        self,
        spec: FunctionSpec,
        request_id: str,
        stream: str,
        returncode: int | None,
        outcome: dict[str, Any] | None,
        timed_out: bool,
        start_ms: int,
        duration_ms: float,
        init_ms: float,
        lines: list[LogLine],
    ) -> InvocationResult:
        error: dict[str, Any] | None = None
        payload = b""
        if timed_out:
            message = f"Task timed out after {spec.timeout:.2f} seconds"
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {request_id} Error: {message}"}
            lines.append(LogLine(_now_ms(), f"{_iso(_now_ms())} {request_id} {message}"))
        elif outcome is None:
            status = f"signal: {-returncode}" if returncode is not None and returncode < 0 else f"exit status {returncode}"
            error = {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}"}
        elif outcome.get("ok"):
            payload = outcome["payload"].encode()
        else:
            error = outcome["error"]
        if error is not None:
            payload = json.dumps(error).encode()
        max_memory = int((outcome or {}).get("max_memory_mb") or 0)
        status = "timeout" if timed_out else ("error" if error else "success")
        end_ms = _now_ms()
        log = [*self._start_lines(spec, request_id, start_ms), *sorted(lines, key=lambda line: line.timestamp_ms),
               *self._end_lines(spec, request_id, end_ms, duration_ms, init_ms, max_memory, status)]
        return InvocationResult(
            request_id=request_id,
            function_name=spec.name,
            function_arn=spec.arn,
            version=spec.version,
            payload=payload,
            error=error,
            timed_out=timed_out,
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            max_memory_mb=max_memory,
            log_group=spec.log_group,
            log_stream=stream,
            log_lines=tuple(log),
        )

    @staticmethod
    def _start_lines(spec: FunctionSpec, request_id: str, start_ms: int) -> list[LogLine]:
        if spec.log_format.upper() == "JSON":
            record = {"requestId": request_id, "version": spec.version}
            return [LogLine(start_ms, json.dumps({"time": _iso(start_ms), "type": "platform.start", "record": record}))]
        return [LogLine(start_ms, f"START RequestId: {request_id} Version: {spec.version}")]

    @staticmethod
    def _end_lines(
        spec: FunctionSpec, request_id: str, end_ms: int, duration_ms: float, init_ms: float, max_memory: int, status: str
    ) -> list[LogLine]:
        billed = math.ceil(duration_ms)
        if spec.log_format.upper() == "JSON":
            record = {
                "requestId": request_id,
                "metrics": {"durationMs": round(duration_ms, 2), "billedDurationMs": billed,
                            "memorySizeMB": spec.memory_size, "maxMemoryUsedMB": max_memory,
                            "initDurationMs": round(init_ms, 2)},
                "status": status,
            }
            return [LogLine(end_ms, json.dumps({"time": _iso(end_ms), "type": "platform.report", "record": record}))]
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {spec.memory_size} MB\tMax Memory Used: {max_memory} MB\tInit Duration: {init_ms:.2f} ms"
        )
        if status == "timeout":
            report += "\tStatus: timeout"
        return [LogLine(end_ms, f"END RequestId: {request_id}"), LogLine(end_ms, report)]


def _read_lines(proc: subprocess.Popen[bytes], lines: list[LogLine]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        lines.append(LogLine(_now_ms(), raw.decode("utf-8", errors="replace").rstrip("\r\n")))


def _wait_ready(fd: int, timeout: float) -> str:
    """``ready`` once the bootstrap has imported the handler, ``exited`` if it died first, or ``timeout``."""
    readable, _, _ = select.select([fd], [], [], timeout)
    if not readable:
        return "timeout"
    return "ready" if os.read(fd, 1) == b"R" else "exited"


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # the process died; its exit status tells why


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_outcome(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


__all__ = ["BOOTSTRAP", "INIT_TIMEOUT", "InvocationResult", "LogLine", "ProcessRunner", "log_stream_name"]
