"""Running the server: several uvicorn worker processes (``tenantml serve``), or one in a thread (tests).

uvicorn[standard] brings httptools and uvloop; with them uvicorn sets TCP_NODELAY on every
connection (with the pure-Python h11 parser and several workers it does not, and each keep-alive
response waits about 40 ms for a delayed ACK). The access log is off: on one-row requests it
costs more than the prediction.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from pipelines.serving.config import DEFAULT_PORT, ServerConfig

APP_FACTORY = "pipelines.serving.app:app_from_env"


def uvicorn_options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "http": "httptools",
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": 65,  # above the 60 s idle timeout of AWS load balancers
    }
    options.update(overrides)
    return options


def run(
    config: ServerConfig,
    *,
    host: str = "0.0.0.0",
    port: int = DEFAULT_PORT,
    workers: int = 1,
    log_level: str = "info",
    reuse_port: bool | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; each worker loads the model and flushes its inference log on exit.

    With several workers on Linux, every worker listens on its own ``SO_REUSEPORT`` socket and the
    kernel spreads new connections over them. uvicorn's own ``--workers`` shares one socket, and
    each worker's event loop accepts every pending connection when it wakes: a client with a few
    keep-alive connections (a load balancer, a benchmark) often lands on one worker and one core.
    ``reuse_port=False`` (or a platform without it) falls back to uvicorn's supervisor.

    A config with ``follow`` is refused: :func:`pipelines.serving.follow_server.run_following`
    serves it (``python -m pipelines.serving`` picks it).
    """
    if config.follow is not None:
        from core.errors import ServingConfigError

        raise ServingConfigError(
            "follow: this config follows the champion alias; serve it with "
            "pipelines.serving.follow_server.run_following (python -m pipelines.serving)"
        )
    os.environ.update(config.to_env())
    if reuse_port is None:
        reuse_port = workers > 1 and hasattr(socket, "SO_REUSEPORT")
    if not reuse_port:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **uvicorn_options(),
        )
        return 0
    return supervise(host, port, workers, log_level)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _terminate_with_parent(parent_pid: int | None) -> None:
    """Linux: get SIGTERM (a graceful shutdown, log flushed) if the supervisor dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(host: str, port: int, log_level: str, parent_pid: int | None = None) -> None:
    """One worker process: its own listening socket on the shared port, one uvicorn server."""
    _terminate_with_parent(parent_pid)
    sock = _reuse_port_socket(host, port)
    config = uvicorn.Config(APP_FACTORY, factory=True, log_level=log_level, **uvicorn_options())
    uvicorn.Server(config).run(sockets=[sock])


def supervise(host: str, port: int, workers: int, log_level: str = "info") -> int:
    """Start ``workers`` processes, restart any that dies, and on SIGINT/SIGTERM stop them gracefully.

    The supervisor keeps a bound (not listening) socket on the port, so a port taken by another
    program fails here at once instead of in every worker.
    """
    import logging
    import signal

    log = logging.getLogger(__name__)
    try:
        reservation = _reuse_port_socket(host, port)
    except OSError as err:
        from core.errors import ServingConfigError

        raise ServingConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    stopping = threading.Event()
    # a fresh interpreter per worker (not multiprocessing, whose spawn re-imports the caller's
    # __main__); each inherits the environment, TENANTML_SERVING_CONFIG included
    code = (
        "from pipelines.serving.runner import _worker_main; "
        f"_worker_main({host!r}, {port}, {log_level!r}, {os.getpid()})"
    )

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code])

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    started_at = [time.monotonic()] * workers
    quick_deaths = 0
    exit_code = 0
    try:
        while not stopping.wait(0.2):
            for i, process in enumerate(processes):
                if process.poll() is None:
                    continue
                log.error(
                    "worker %d (pid %s) exited with %s; restarting it", i, process.pid, process.returncode
                )
                quick_deaths = quick_deaths + 1 if time.monotonic() - started_at[i] < 5 else 0
                if quick_deaths >= 3 * workers:
                    log.error("workers keep dying at startup; giving up")
                    exit_code = 1
                    stopping.set()
                    break
                processes[i], started_at[i] = start(), time.monotonic()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()  # SIGTERM: uvicorn drains, lifespan shutdown flushes the log
        deadline = time.monotonic() + uvicorn_options()["timeout_graceful_shutdown"] + 30
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reservation.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


class ThreadedServer:
    """One uvicorn server for an ASGI app in a background thread, on a free loopback port by default
    (the front of a follower in a container listens on ``0.0.0.0:8080`` instead)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as err:
            self._socket.close()
            from core.errors import ServingConfigError

            raise ServingConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
        self.host, self.port = self._socket.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **uvicorn_options()))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown, as on SIGTERM: in-flight requests finish, then lifespan shutdown runs."""
        self.server.should_exit = True
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._socket.close()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app).start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["APP_FACTORY", "ThreadedServer", "run", "serve_in_thread", "uvicorn_options"]
