"""A warm interpreter that forks SageMaker job containers with the image's libraries already imported.

Every job process the emulator starts would otherwise spend 2–2.5 s of CPU importing pandas,
pyarrow, scikit-learn, SciPy, Optuna and matplotlib before its first line of work; a pipeline run
starts four such jobs per tenant, on a laptop's few cores. On AWS that import is part of the
container's start too, but it is not what the emulator exists to check, so the emulator pays it
once: a *zygote* process imports the third-party libraries the image installs (:data:`PRELOAD`)
and then forks one child per job.

What a child keeps from a fresh ``python -m <module>`` (:class:`ZygoteClient.spawn`):

- it runs ``<module>`` as ``__main__`` (``runpy``) with the job's exact environment (nothing of
  the zygote's), argv, cwd and ``sys.path[0]``, stdin/stdout/stderr, in its own session (process
  group), so stopping a job still kills what it started;
- **none of our code is preloaded** (only third-party packages): the job imports ``pipelines``,
  ``core`` and the rest from the checkout when it starts, so a code change reaches the next job;
- exit status as Python's: ``sys.exit`` codes, a traceback and 1 for an uncaught exception, and the
  normal interpreter shutdown (atexit, non-daemon threads) in between;
- per-process state a fork would share is renewed: NumPy's global random state, ``random``
  (CPython re-seeds it on fork), ``tempfile``'s cached directory.

A job whose environment gives a variable the preloaded libraries read when imported (thread
counts, matplotlib's backend and config folder, Python's own start-up variables, the locale:
:meth:`ZygoteClient.needs_cold_start`) another value than the zygote had is started cold
instead, because the zygote imported them under its own values.

The server half runs as a script (``python job_zygote.py <socket>``, not ``-m``) so the zygote never
imports a module of this project. It is single-threaded (it forks), ends when its socket's
owner closes it or when its parent process is gone, and answers one request per connection:
the client sends the JSON request with its three standard streams as file descriptors
(``SCM_RIGHTS``), the zygote answers the child's pid, then its exit status once it has exited.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

#: the third-party packages a tenantml image's pipeline steps import (the image installs them all)
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.base",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "optuna",
    "matplotlib",
    "matplotlib.backends.backend_agg",
    "pandera.pandas",
    "duckdb",
    "pydantic",
    "boto3",
    "botocore.session",
    "yaml",
)
#: variables read while the preloaded libraries import (prefixes, then exact names); a job whose
#: environment gives any of them another value than the zygote had starts cold
IMPORT_TIME_PREFIXES = (
    "OMP_",
    "OPENBLAS_",
    "MKL_",
    "BLIS_",
    "NUMEXPR_",
    "VECLIB_",
    "MPL",
    "PYTHON",
    "SCIPY_",
    "SKLEARN_",
)
IMPORT_TIME_NAMES = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
#: how long a job waits for the zygote's preloading before starting cold
READY_TIMEOUT = 60.0
_LENGTH = struct.Struct("!I")
_READY = "tenantml-job-zygote ready "
log = logging.getLogger("tenantml.emulator.job_zygote")


def _import_time(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES) or k in IMPORT_TIME_NAMES}


# --- client (the emulator) ------------------------------------------------------------------


class ZygoteError(RuntimeError):
    """The zygote could not start a child; the caller starts the job cold instead."""


def _send(sock: socket.socket, payload: dict[str, Any], fds: Sequence[int] = ()) -> None:
    body = json.dumps(payload).encode()
    socket.send_fds(sock, [_LENGTH.pack(len(body)) + body], list(fds))


def _receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    header, fds, _flags, _addr = socket.recv_fds(sock, _LENGTH.size, max_fds)
    if not header:
        return None, fds
    while len(header) < _LENGTH.size:
        more = sock.recv(_LENGTH.size - len(header))
        if not more:
            return None, fds
        header += more
    (length,) = _LENGTH.unpack(header)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None, fds
        body += chunk
    return json.loads(body), fds


class ZygoteChild:
    """A job process forked by the zygote, with the parts of ``subprocess.Popen`` the job runner uses."""

    def __init__(self, sock: socket.socket, pid: int, stdout: BinaryIO) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._exited = threading.Event()
        threading.Thread(target=self._await_exit, args=(sock,), daemon=True, name=f"job-{pid}-exit").start()

    def _await_exit(self, sock: socket.socket) -> None:
        with sock:
            try:
                message, _ = _receive(sock)
            except OSError:
                message = None
        # a zygote gone before it reported took the child's status with it: report it killed
        self.returncode = int(message["returncode"]) if message else -signal.SIGKILL
        self._exited.set()

    def poll(self) -> int | None:
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"job process {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode


class ZygoteClient:
    """Starts the zygote (it preloads in the background) and forks job processes from it."""

    def __init__(self, python: str, environment: Mapping[str, str], preload: Sequence[str] = PRELOAD) -> None:
        # a folder of its own, short: a Unix socket's path may not exceed 107 bytes
        self._folder = Path(tempfile.mkdtemp(prefix="tenantml-zygote-"))
        self.socket_path = self._folder / "zygote.sock"
        self._python = python
        #: what every job's environment has before its own variables: the zygote imports under it
        self._environment = dict(environment)
        self._preload = tuple(preload)
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._failed: str | None = None

    def start(self) -> ZygoteClient:
        self._process = subprocess.Popen(
            [self._python, __file__, str(self.socket_path), str(os.getpid()), *self._preload],
            env=self._environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(
            target=self._await_ready, args=(self._process,), daemon=True, name="job-zygote-ready"
        ).start()
        return self

    def _await_ready(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        said: list[str] = []  # what the imports printed (warnings) or the zygote's traceback
        try:
            for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line.startswith(_READY):
                    missing = json.loads(line.removeprefix(_READY))["missing"]
                    if missing:  # the image lacks them: a job that needs one fails on import, as cold
                        log.warning("the job zygote could not preload %s", ", ".join(missing))
                    break
                said.append(line)
            else:
                self._failed = f"the job zygote exited with {process.wait()}: {' '.join(said[-3:])}"
        except ValueError:  # closed meanwhile
            self._failed = "the job zygote was closed"
        self._ready.set()

    def ready(self, timeout: float = READY_TIMEOUT) -> bool:
        return self._ready.wait(timeout) and self._failed is None

    def needs_cold_start(self, env: Mapping[str, str]) -> bool:
        """True when ``env`` gives a variable the preloaded libraries read at import another value."""
        return _import_time(env) != _import_time(self._environment)

    def spawn(self, module: str, args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> ZygoteChild:
        """Fork ``python -m module args`` from the zygote; stdout and stderr share one pipe."""
        if not self.ready():
            raise ZygoteError(self._failed or "the job zygote is not ready")
        read_end, write_end = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with open(os.devnull, "rb") as devnull:
                sock.connect(str(self.socket_path))
                _send(
                    sock,
                    {"module": module, "args": list(args), "env": dict(env), "cwd": str(cwd)},
                    [devnull.fileno(), write_end, write_end],
                )
            message, _ = _receive(sock)
            if not message or "pid" not in message:
                raise ZygoteError(f"the job zygote could not start the job: {message}")
        except (OSError, ZygoteError) as err:
            sock.close()
            os.close(read_end)
            raise ZygoteError(f"the job zygote did not start the job: {err}") from err
        finally:
            os.close(write_end)
        return ZygoteChild(sock, int(message["pid"]), os.fdopen(read_end, "rb"))

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            shutil.rmtree(self._folder, ignore_errors=True)
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(self._folder, ignore_errors=True)


# --- server (the zygote itself; runs as a script, imports nothing of this project) ------------


def _serve(socket_path: str, parent_pid: int, ready: bytes) -> dict[str, Any]:
    """Fork a child per request; returns only in a child, with its request."""
    import selectors

    selector = selectors.DefaultSelector()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    selector.register(listener, selectors.EVENT_READ, "accept")
    children: dict[int, tuple[socket.socket, int]] = {}  # pidfd -> (connection, pid)
    os.write(1, ready)
    # nothing reads the zygote's own output after this line; children get their own streams
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "accept":
                connection, _ = listener.accept()
                try:
                    request, fds = _receive(connection, max_fds=3)
                except OSError:
                    connection.close()
                    continue
                if request is None or len(fds) != 3:
                    for fd in fds:
                        os.close(fd)
                    connection.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    for other, _pid in children.values():
                        other.close()
                    for pidfd in children:
                        os.close(pidfd)
                    connection.close()
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                        os.close(fd)
                    return request
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (connection, pid)
                selector.register(pidfd, selectors.EVENT_READ, "child")
                _send(connection, {"pid": pid})
            else:
                pidfd = key.fd
                connection, pid = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                try:
                    _send(connection, {"returncode": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass  # the job runner gave up on it (stopped emulator)
                connection.close()
        if os.getppid() != parent_pid:  # the emulator is gone without closing it: tidy up and go
            shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)
            os._exit(0)


def _exit_code(exit: SystemExit) -> int:
    """The status ``python`` exits with for this ``SystemExit`` (printing a non-integer code)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def _become_job(request: dict[str, Any]) -> None:
    """In the forked child: run ``python -m <module> <args>`` as a fresh interpreter would; never returns."""
    import atexit
    import random
    import runpy
    import tempfile

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # a fresh interpreter seeds these from the OS; forked children would all share the zygote's
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    tempfile.tempdir = None
    # stdio are the inherited streams already (dup2); PYTHONUNBUFFERED held for the zygote's too
    sys.path[0] = request["cwd"]
    sys.argv = [request["module"], *request["args"]]
    code = 1
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit:
        code = _exit_code(exit)
    except BaseException:  # noqa: BLE001  # as python: the traceback, status 1
        sys.excepthook(*sys.exc_info())
    # Python's shutdown up to the C level, then out, as multiprocessing's forked children end: the
    # native libraries' exit handlers (OpenBLAS's thread pool) would wait forever on the zygote's
    # threads, which a child does not have
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # joins non-daemon threads, as at exit
        atexit._run_exitfuncs()
    except SystemExit as exit:
        code = _exit_code(exit)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _main(argv: list[str]) -> None:
    socket_path, parent_pid, preload = argv[0], int(argv[1]), argv[2:]
    import importlib

    missing = []
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    os.environ.clear()  # a child starts with the job's environment alone
    sys.stderr.flush()
    request = _serve(socket_path, parent_pid, f"{_READY}{json.dumps({'missing': missing})}\n".encode())
    _become_job(request)


if __name__ == "__main__":
    _main(sys.argv[1:])
