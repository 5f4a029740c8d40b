"""Run invocations of a function in warm execution environments: one Python process each, reused.

An environment is ``<python> -I -S bootstrap.py`` in the extracted code folder, with the
function's environment, the emulator's endpoint and the role's credentials, and the variables
the AWS Python runtime sets. It sees only what the function's package gives it, as on AWS: its
``sys.path`` is the extracted zip (``/var/task``), its layers extracted together (``/opt/python``),
the runtime's boto3 and its dependencies (:meth:`CodeCache.runtime_dir`), then the standard
library; nothing of the emulator's virtual environment (``-I -S``: no site-packages, no
``PYTHONPATH``). ``<python>`` is an interpreter of the declared runtime's version when one is
installed (:mod:`~tenantml.emulator.runtime.interpreters`), else the emulator's own, with a
warning in the function's log. As on AWS it imports the handler once (a cold start, the
only invocation whose REPORT line has an ``Init Duration``) and then runs one invocation
at a time for as long as it is warm, so module globals (cached clients) persist. It is
reused only for the same function version with the same code, handler, environment,
memory and timeout: an update retires the old environments. stdout and stderr become the
log lines of the invocation running at the time, in the environment's own log stream.

An environment is discarded (its process group killed) when an invocation times out, the
handler failed to import, or the process exited; the next invocation cold-starts. Idle
environments are reaped after ``idle_timeout`` seconds, and all of them by :meth:`ProcessRunner.close`;
an environment whose runtime is gone sees its control pipe close and exits by itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import select
import signal
import subprocess
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
from tenantml.emulator.runtime.interpreters import (
    Interpreter,
    fixed_interpreter,
    resolve_interpreter,
)
from tenantml.emulator.session import aws_env, is_in_process

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: the longest the import of a handler may take before the timeout clock starts (AWS: 10 s)
INIT_TIMEOUT = 10.0
#: how much of the log a synchronous invoke returns with ``LogType=Tail`` (AWS: the last 4 KB)
LOG_TAIL_BYTES = 4096
#: how long an environment stays warm without an invocation (AWS keeps them for minutes too)
DEFAULT_IDLE_TIMEOUT = 300.0
#: how long to wait for an invocation's last log lines once its result is in
_LOG_DRAIN_TIMEOUT = 2.0
#: must equal ``bootstrap.END_MARKER`` (the bootstrap is a script and cannot import us, nor we it)
END_MARKER = "\x00tenantml-invocation-end:"


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
    #: the invocation started a new execution environment (only then is ``init_duration_ms`` set)
    cold_start: bool = False

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


def environment_key(spec: FunctionSpec) -> tuple[Any, ...]:
    """What makes two invocations able to share an environment: same version, code and configuration."""
    return (
        spec.unqualified_arn,
        spec.version,
        hashlib.sha256(spec.code).hexdigest(),
        tuple(hashlib.sha256(layer).hexdigest() for layer in spec.layers),
        spec.handler,
        spec.runtime,
        spec.memory_size,
        spec.timeout,
        tuple(sorted(spec.environment.items())),
        spec.log_group,
        spec.log_format,
        spec.application_log_level,
    )


class _LineReader:
    """Lines from a pipe with a deadline (``select`` and a buffered file object do not mix)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def read_line(self, deadline: float) -> bytes | None:
        """One non-empty line without its newline; ``b""`` at end of file (a partial line is dropped); None at the deadline."""
        while True:
            while b"\n" not in self._buffer:
                readable, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
                if not readable:
                    return None
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return b""
                self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\n", 1)
            if line:
                return line


class _Environment:
    """One execution environment: a bootstrap process, its pipes, and the log of the invocation it runs."""

    def __init__(self, key: tuple[Any, ...], group: tuple[str, str], log_stream: str) -> None:
        self.key = key
        self.group = group
        self.log_stream = log_stream
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_used = time.monotonic()
        self._control: Any = None
        self._results: _LineReader | None = None
        self._result_fd = -1
        self._log_lock = threading.Lock()
        #: the running invocation's log; lines printed between invocations go to the next one
        self._lines: list[LogLine] = []
        self._request_id = ""
        self._drained = threading.Event()
        self._reader: threading.Thread | None = None
        self._kill_lock = threading.Lock()

    def note(self, message: str) -> None:
        """A line of the runtime's own in the log of the invocation running now."""
        with self._log_lock:
            self._lines.append(LogLine(_now_ms(), message))

    def spawn(self, python: str, code_dir: Path, env: dict[str, str], search_path: list[str]) -> None:
        control_r, control_w = os.pipe()
        result_r, result_w = os.pipe()
        env = {
            **env,
            "_TENANTML_CONTROL_FD": str(control_r),
            "_TENANTML_RESULT_FD": str(result_w),
            "_TENANTML_SYS_PATH": json.dumps(search_path),
        }
        try:
            self.proc = subprocess.Popen(
                # -I: no PYTHONPATH, no user site, no script folder; -S: no site-packages at all
                [python, "-I", "-S", str(BOOTSTRAP)],
                cwd=code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(control_r, result_w),
                start_new_session=True,
            )
        except BaseException:
            for fd in (control_w, result_r):
                os.close(fd)
            raise
        finally:
            os.close(control_r)
            os.close(result_w)
        self._control = os.fdopen(control_w, "wb")
        self._result_fd = result_r
        self._results = _LineReader(result_r)
        self._reader = threading.Thread(target=self._read_log, daemon=True, name="tenantml-lambda-log")
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> str:
        """``ready`` once the bootstrap has imported the handler, ``exited`` if it died first, or ``timeout``."""
        assert self._results is not None
        line = self._results.read_line(time.monotonic() + timeout)
        if line is None:
            return "timeout"
        return "ready" if line and json.loads(line).get("ready") else "exited"

    def invoke(
        self, header: dict[str, Any], event: bytes, timeout: float
    ) -> tuple[dict[str, Any] | None, bool]:
        """Send one invocation and wait for its outcome: (outcome or None if the process died, timed out)."""
        assert self._results is not None and self._control is not None
        with self._log_lock:
            self._request_id = header["request_id"]
            self._drained.clear()
        deadline = time.monotonic() + timeout
        try:
            self._control.write(json.dumps({**header, "event_length": len(event)}).encode() + b"\n" + event)
            self._control.flush()
        except (BrokenPipeError, OSError):
            return None, False  # the process died; its exit status tells why
        line = self._results.read_line(deadline)
        if line is None:
            return None, True
        if not line:
            return None, False
        self._drained.wait(_LOG_DRAIN_TIMEOUT)
        return json.loads(line), False

    def take_lines(self) -> list[LogLine]:
        with self._log_lock:
            lines, self._lines = self._lines, []
            self._request_id = ""
        return lines

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            now = _now_ms()
            with self._log_lock:
                text, marker, request_id = text.partition(END_MARKER)
                if text or not marker:
                    self._lines.append(LogLine(now, text))
                if marker and request_id == self._request_id:
                    self._drained.set()

    def signal_kill(self) -> None:
        """Kill the process group only: the thread running an invocation here sees it die and cleans up."""
        if self.proc is not None:
            _kill_group(self.proc)

    def kill(self) -> None:
        """Kill the process group (the bootstrap and whatever the handler started) and close the pipes.

        Only the owner may call it: the invocation's thread, or the runner for an idle environment.
        """
        with self._kill_lock:
            if self.proc is None or self._result_fd < 0:
                return
            _kill_group(self.proc)
            self.proc.wait()
            if self._reader is not None:
                self._reader.join(timeout=2)
            try:
                self._control.close()
            except OSError:
                pass  # the unread end is gone: buffered bytes cannot be flushed, and need not be
            os.close(self._result_fd)
            self._control = None
            self._result_fd = -1


class ProcessRunner:
    """Runs invocations in warm environments; starts, reuses, times, retires and kills them."""

    def __init__(
        self,
        code_cache: CodeCache,
        endpoint: str,
        *,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive, got {idle_timeout!r}")
        self.code_cache = code_cache
        self.endpoint = endpoint
        #: set: every function runs on it; None: the declared runtime's version when installed
        self.python = python
        self.extra_env = dict(extra_env or {})
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._busy: set[_Environment] = set()
        self._idle: dict[tuple[Any, ...], list[_Environment]] = {}
        #: the newest key seen per (function, version): environments with an older one are retired
        self._current: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._reaper: threading.Thread | None = None
        self._reaper_stop = threading.Event()

    def interpreter(self, spec: FunctionSpec) -> Interpreter:
        """The interpreter of ``spec``'s runtime (see :mod:`~tenantml.emulator.runtime.interpreters`)."""
        return fixed_interpreter(self.python) if self.python else resolve_interpreter(spec.runtime)

    def search_path(self, spec: FunctionSpec, code_dir: Path, interpreter: Interpreter) -> list[str]:
        """The function's ``sys.path`` before the standard library, in the order AWS gives it:
        the code, the layers' ``python/lib/python3.X/site-packages`` and ``python/``, the runtime's."""
        path = [str(code_dir)]
        opt = self.code_cache.extract_layers(spec.name, spec.layers)
        if opt is not None:
            python = opt / "python"
            path += [str(python / "lib" / f"python{interpreter.site_version}" / "site-packages"), str(python)]
        path.append(str(self.code_cache.runtime_dir()))
        return path

    def environment(
        self, spec: FunctionSpec, code_dir: Path, log_stream: str, search_path: list[str] | None = None
    ) -> dict[str, str]:
        """The process environment: a clean base, the function's variables, then Lambda's own."""
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", tempfile.gettempdir()),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **self.extra_env,
            **spec.environment,
        }
        env.update(
            {
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
                # for processes the handler starts (the bootstrap sets its own sys.path)
                # the emulator and nothing else: the function role's credentials, no shared config or profile
                **aws_env(self.endpoint, spec.region, self._role_credentials(spec)),
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "PYTHONPATH": os.pathsep.join(search_path or [str(code_dir)]),
                "PYTHONUNBUFFERED": "1",
                "PYTHONNOUSERSITE": "1",
            }
        )
        if spec.application_log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level
        return env

    def _role_credentials(self, spec: FunctionSpec) -> dict[str, str] | None:
        """The execution role's credentials from the emulator's STS, as Lambda hands them to a function.

        With them the handler's calls are checked against its role when IAM is enforced, and land
        in the role's account. None (the fake credentials) when moto is not in this process.
        """
        if not spec.role or not is_in_process(self.endpoint):
            return None
        from tenantml.emulator.iam_enforcement import role_credentials

        return role_credentials(spec.role, spec.name, spec.region)

    def run(self, spec: FunctionSpec, event: bytes, request_id: str) -> InvocationResult:
        """Run ``spec``'s handler on ``event`` (JSON bytes) and wait for it, at most its timeout."""
        code_dir = self.code_cache.extract(spec.name, spec.code)
        environment = self._checkout(spec)
        interpreter = self.interpreter(spec)
        init_ms = 0.0
        cold = environment is None
        outcome: dict[str, Any] | None = None
        timed_out = False
        keep = False
        try:
            if environment is None:
                environment = _Environment(
                    environment_key(spec), (spec.unqualified_arn, spec.version), log_stream_name(spec.version)
                )
                with self._lock:
                    self._busy.add(environment)
                spawned = time.monotonic()
                search_path = self.search_path(spec, code_dir, interpreter)
                environment.spawn(
                    interpreter.path,
                    code_dir,
                    self.environment(spec, code_dir, environment.log_stream, search_path),
                    search_path,
                )
                if interpreter.warning:
                    environment.note(interpreter.warning)
                state = environment.wait_ready(INIT_TIMEOUT + spec.timeout)
                init_ms = (time.monotonic() - spawned) * 1000
                timed_out = state == "timeout"
                ready = state == "ready"
            else:
                ready = True
            start_ms = _now_ms()
            started = time.monotonic()
            if ready:
                header = {
                    "request_id": request_id,
                    "deadline_ms": start_ms + int(spec.timeout * 1000),
                    "invoked_function_arn": spec.arn,
                    "log_stream_name": environment.log_stream,
                }
                outcome, timed_out = environment.invoke(header, event, spec.timeout)
            duration_ms = (time.monotonic() - started) * 1000
            # AWS resets an environment that timed out, crashed or failed to initialise
            keep = outcome is not None and not timed_out and not outcome.get("init_error")
        finally:
            if environment is not None and not keep:
                environment.kill()
            lines = environment.take_lines() if environment is not None else []
            if environment is not None:
                self._checkin(environment, keep)
        returncode = environment.proc.returncode if environment.proc is not None else None
        return self._result(
            spec,
            request_id,
            environment.log_stream,
            returncode,
            outcome,
            timed_out,
            start_ms,
            duration_ms,
            init_ms if cold else None,
            lines,
        )

    def _checkout(self, spec: FunctionSpec) -> _Environment | None:
        """A warm environment for ``spec``, or None (cold start); retires those of an older configuration."""
        key = environment_key(spec)
        group = (spec.unqualified_arn, spec.version)
        retired: list[_Environment] = []
        found: _Environment | None = None
        with self._lock:
            if self._current.get(group) != key:
                self._current[group] = key
                for other in [k for k in self._idle if k[:2] == group and k != key]:
                    retired.extend(self._idle.pop(other))
            pool = self._idle.get(key, [])
            while pool and found is None:
                candidate = pool.pop()  # the most recently used, like AWS tends to
                if candidate.alive:
                    found = candidate
                    self._busy.add(found)
                else:
                    retired.append(candidate)
        for environment in retired:
            environment.kill()
        return found

    def _checkin(self, environment: _Environment, keep: bool) -> None:
        retire = False
        with self._lock:
            self._busy.discard(environment)
            if keep and environment.alive and self._current.get(environment.group) == environment.key:
                environment.last_used = time.monotonic()
                self._idle.setdefault(environment.key, []).append(environment)
                if self._reaper is None or not self._reaper.is_alive():
                    self._reaper_stop.clear()
                    self._reaper = threading.Thread(
                        target=self._reap_loop, daemon=True, name="tenantml-lambda-reaper"
                    )
                    self._reaper.start()
            else:
                retire = keep
        if retire:
            environment.kill()

    def _reap_loop(self) -> None:
        while not self._reaper_stop.wait(min(self.idle_timeout / 2, 10.0)):
            self.reap_idle()

    def reap_idle(self, max_idle: float | None = None) -> int:
        """Kill environments idle for more than ``max_idle`` seconds (default ``idle_timeout``); how many."""
        limit = self.idle_timeout if max_idle is None else max_idle
        now = time.monotonic()
        reaped: list[_Environment] = []
        with self._lock:
            for key in list(self._idle):
                keep = [e for e in self._idle[key] if now - e.last_used <= limit and e.alive]
                reaped.extend(e for e in self._idle[key] if e not in keep)
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
        for environment in reaped:
            environment.kill()
        return len(reaped)

    @property
    def environments(self) -> int:
        """How many execution environments are alive now (running an invocation or warm and idle)."""
        with self._lock:
            return len(self._busy) + sum(len(pool) for pool in self._idle.values())

    def environment_pids(self) -> list[int]:
        """The process ids of the live environments (each the leader of its own process group)."""
        with self._lock:
            everything = [*self._busy, *(e for pool in self._idle.values() for e in pool)]
        return [e.proc.pid for e in everything if e.proc is not None]

    def close(self) -> int:
        """Kill every environment, idle or busy, and stop the reaper (``LambdaRuntime.stop``); how many."""
        self._reaper_stop.set()
        with self._lock:
            busy = list(self._busy)
            idle = [e for pool in self._idle.values() for e in pool]
            self._idle.clear()
            self._current.clear()
        for environment in busy:
            environment.signal_kill()
        for environment in idle:
            environment.kill()
        if self._reaper is not None and self._reaper is not threading.current_thread():
            self._reaper.join(timeout=2)
        return len(busy) + len(idle)

    @property
    def running(self) -> int:
        """How many invocations are running now (environments busy, or starting for one)."""
        with self._lock:
            return len(self._busy)

    def kill_all(self) -> int:
        """Kill the environments running an invocation (``LambdaRuntime.stop`` past its deadline)."""
        with self._lock:
            busy = list(self._busy)
        for environment in busy:
            environment.signal_kill()
        return len(busy)

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
        init_ms: float | None,
        lines: list[LogLine],
    ) -> InvocationResult:
        error: dict[str, Any] | None = None
        payload = b""
        if timed_out:
            message = f"Task timed out after {spec.timeout:.2f} seconds"
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: {message}",
            }
            lines.append(LogLine(_now_ms(), f"{_iso(_now_ms())} {request_id} {message}"))
        elif outcome is None:
            status = (
                f"signal: {-returncode}"
                if returncode is not None and returncode < 0
                else f"exit status {returncode}"
            )
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
            }
        elif outcome.get("ok"):
            payload = outcome["payload"].encode()
        else:
            error = outcome["error"]
        if error is not None:
            payload = json.dumps(error).encode()
        max_memory = int((outcome or {}).get("max_memory_mb") or 0)
        status = "timeout" if timed_out else ("error" if error else "success")
        end_ms = _now_ms()
        log = [
            *self._start_lines(spec, request_id, start_ms),
            *sorted(lines, key=lambda line: line.timestamp_ms),
            *self._end_lines(spec, request_id, end_ms, duration_ms, init_ms, max_memory, status),
        ]
        return InvocationResult(
            request_id=request_id,
            function_name=spec.name,
            function_arn=spec.arn,
            version=spec.version,
            payload=payload,
            error=error,
            timed_out=timed_out,
            duration_ms=duration_ms,
            init_duration_ms=init_ms or 0.0,
            max_memory_mb=max_memory,
            log_group=spec.log_group,
            log_stream=stream,
            log_lines=tuple(log),
            cold_start=init_ms is not None,
        )

    @staticmethod
    def _start_lines(spec: FunctionSpec, request_id: str, start_ms: int) -> list[LogLine]:
        if spec.log_format.upper() == "JSON":
            record = {"requestId": request_id, "version": spec.version}
            return [
                LogLine(
                    start_ms, json.dumps({"time": _iso(start_ms), "type": "platform.start", "record": record})
                )
            ]
        return [LogLine(start_ms, f"START RequestId: {request_id} Version: {spec.version}")]

    @staticmethod
    def _end_lines(
        spec: FunctionSpec,
        request_id: str,
        end_ms: int,
        duration_ms: float,
        init_ms: float | None,
        max_memory: int,
        status: str,
    ) -> list[LogLine]:
        """END and REPORT; ``init_ms`` is None on a warm start, whose REPORT has no Init Duration (as on AWS)."""
        billed = math.ceil(duration_ms)
        if spec.log_format.upper() == "JSON":
            metrics: dict[str, float] = {
                "durationMs": round(duration_ms, 2),
                "billedDurationMs": billed,
                "memorySizeMB": spec.memory_size,
                "maxMemoryUsedMB": max_memory,
            }
            if init_ms is not None:
                metrics["initDurationMs"] = round(init_ms, 2)
            record = {"requestId": request_id, "metrics": metrics, "status": status}
            return [
                LogLine(
                    end_ms, json.dumps({"time": _iso(end_ms), "type": "platform.report", "record": record})
                )
            ]
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {spec.memory_size} MB\tMax Memory Used: {max_memory} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status == "timeout":
            report += "\tStatus: timeout"
        return [LogLine(end_ms, f"END RequestId: {request_id}"), LogLine(end_ms, report)]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = [
    "BOOTSTRAP",
    "DEFAULT_IDLE_TIMEOUT",
    "INIT_TIMEOUT",
    "InvocationResult",
    "LogLine",
    "ProcessRunner",
    "environment_key",
    "log_stream_name",
]
