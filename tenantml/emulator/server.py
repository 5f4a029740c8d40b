"""Run moto in server mode on 127.0.0.1 and hand out clients pointed at it.

The emulator listens on loopback only. ``start()`` without a port tries the documented
default (:data:`DEFAULT_PORT`, 4599) and falls back to a free port with a message when
another process holds it; an explicitly requested port that is taken raises
:class:`~core.errors.EmulatorPortInUseError`.

Other processes (pipelines, the Lambda runtime, the AWS CLI) reach the emulator through the
variables :func:`aws_env` returns. In this process, :class:`AwsSession` makes boto3 clients
lazily, one per service and region, all pointed at the endpoint.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.errors import EmulatorError, EmulatorPortInUseError
from tenantml.emulator.session import (
    DEFAULT_PORT,
    DEFAULT_REGION,
    EMULATOR_ACCOUNT_ID,
    FAKE_CREDENTIALS,
    HOST,
    MANAGED_POLICIES_ENV,
    AwsSession,
    admin_credentials,
    aws_env,
    is_in_process,
    make_session,
    mark_in_process,
)


@dataclass
class EmulatorServer:
    """A running moto server; ``stop()`` it (or use :func:`running`) when done."""

    port: int
    host: str = HOST
    #: set when the default port was taken and another one was used instead
    fallback_message: str | None = None
    _moto: Any = field(default=None, repr=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, repr=False)
    #: the :class:`~tenantml.emulator.alarm_evaluator.AlarmEvaluator` when started with ``evaluate_alarms=True``
    alarm_evaluator: Any = field(default=None, repr=False)
    #: whether requests are checked against IAM (see :mod:`tenantml.emulator.iam_enforcement`)
    enforce_iam: bool = False
    _iam_was_enforced: bool = field(default=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and restore the environment variables ``start`` changed."""
        if self.alarm_evaluator is not None:
            self.alarm_evaluator.stop()
            self.alarm_evaluator = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
            mark_in_process(self.endpoint, running=False)
            _point_hooks_away_from(self.endpoint)
            from tenantml.emulator.iam_enforcement import set_enforced

            set_enforced(self._iam_was_enforced)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()


#: the in-process emulators still running, oldest first: every one serves the same moto backends
_live_endpoints: list[str] = []


def _point_hooks_to(endpoint: str) -> None:
    """State machines and EventBridge targets call back into moto through ``endpoint`` (process-wide)."""
    from tenantml.emulator.eventbridge import enable as enable_eventbridge
    from tenantml.emulator.stepfunctions import enable as enable_step_functions

    enable_step_functions(endpoint)  # state machines run, their calls sign as their role
    enable_eventbridge(endpoint)  # rules reach SNS, Lambda and state machines; schedules fire


def _point_hooks_away_from(endpoint: str) -> None:
    """A stopped emulator's endpoint is dead: the hooks move to the latest one still running.

    The hooks keep one endpoint for the whole process, the last one started. Without this, a
    second emulator started and stopped in the same process (a test, ``tenantml serve`` beside
    ``up``) left every later state machine task and EventBridge delivery calling a closed port
    ("Could not connect to the endpoint URL").
    """
    if endpoint in _live_endpoints:
        _live_endpoints.remove(endpoint)
    if _live_endpoints:
        _point_hooks_to(_live_endpoints[-1])


def _bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: any free port); ``OSError`` if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _make_moto_server(sock: socket.socket) -> Any:
    """A ``ThreadedMotoServer`` serving on an already bound socket.

    moto's own ``start()`` binds inside its server thread, and werkzeug answers a taken
    port with ``sys.exit(1)``; binding first (:func:`_bind`) and handing werkzeug the file
    descriptor surfaces the ``OSError`` to the caller instead. This relies on moto
    internals, which is why moto is pinned exactly.
    """
    from moto.moto_server.threaded_moto_server import MotoRequestHandler, ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from tenantml.emulator.kinesis_cbor import KinesisCborMiddleware

    class _QuietRequestHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """One line per AWS call drowns the CLI's output; errors are still logged."""

    class _BoundMotoServer(ThreadedMotoServer):
        def start(self) -> None:
            app = KinesisCborMiddleware(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address,
                self._port,
                app,
                True,
                request_handler=_QuietRequestHandler,
                fd=sock.fileno(),
            )
            sock.close()  # werkzeug serves on its own duplicate of the descriptor
            self._thread = threading.Thread(
                target=self._server.serve_forever, daemon=True, name="tenantml-moto"
            )
            self._thread.start()
            self._server_ready_event.set()

        def stop(self) -> None:
            super().stop()
            if self._server is not None:
                self._server.server_close()  # free the port now, not at garbage collection

    return _BoundMotoServer(ip_address=HOST, port=sock.getsockname()[1], verbose=False)


def _is_address_in_use(err: OSError) -> bool:
    return err.errno in (errno.EADDRINUSE, errno.EACCES) or "address already in use" in str(err).lower()


def ambient_credentials(enforced: bool) -> dict[str, str] | None:
    """What a process talking to the emulator signs with: the administrator under enforcement, else the fake keys (None)."""
    return admin_credentials() if enforced else None


def start(
    port: int | None = None,
    *,
    export_env: bool = False,
    region: str = DEFAULT_REGION,
    on_message: Callable[[str], None] | None = None,
    aws_managed_policies: bool = False,
    evaluate_alarms: bool = False,
    enforce_iam: bool | None = None,
) -> EmulatorServer:
    """Start moto on 127.0.0.1 and return the running server (``.endpoint`` is its URL).

    ``port=None`` tries :data:`DEFAULT_PORT` and falls back to a free port (the message is
    passed to ``on_message`` and kept in ``fallback_message``); ``port=0`` asks for any free
    port; any other port that is taken raises :class:`EmulatorPortInUseError`.

    Fake credentials are always set in ``os.environ`` so no real credential can reach the
    emulator; ``export_env=True`` also exports :func:`aws_env` so that every boto3 client of
    this process talks to the emulator. ``aws_managed_policies=True`` makes moto load all AWS
    managed IAM policies (``MOTO_IAM_LOAD_MANAGED_POLICIES``) whenever it (re)creates its IAM
    backend, about half a second each time; it is not needed in-process, where the emulator
    adds the few policies a stack attaches on demand. ``stop()`` restores the previous values.
    ``evaluate_alarms=True`` also starts the CloudWatch alarm evaluation
    (:mod:`tenantml.emulator.alarm_evaluator`), which ``stop()`` stops; one per process.
    ``enforce_iam=True`` checks every request against IAM as AWS does (None: as
    ``TENANTML_EMULATOR_IAM`` says, off when unset); the administrator user that
    :class:`AwsSession` signs with is created either way (:mod:`tenantml.emulator.iam_enforcement`).
    """
    requested = DEFAULT_PORT if port is None else port
    fallback_message = None
    try:
        sock = _bind(requested)
    except OSError as err:
        if not _is_address_in_use(err):
            raise EmulatorError(f"could not start the AWS emulator on {HOST}:{requested}: {err}") from err
        if port is not None:
            raise EmulatorPortInUseError(
                f"port {port} on {HOST} is already in use by another process; "
                f"choose another port, or leave the port out to use {DEFAULT_PORT} or any free one"
            ) from err
        sock = _bind(0)
        fallback_message = (
            f"the default emulator port {DEFAULT_PORT} is in use; "
            f"using free port {sock.getsockname()[1]} instead"
        )
        if on_message is not None:
            on_message(fallback_message)
    from tenantml.emulator import iam_enforcement
    from tenantml.emulator.iam_action_names import use_iam_action_names
    from tenantml.emulator.moto_internals import (
        add_model_package_deletion,
        add_permission_boundaries,
        defer_default_amis,
        defer_kms_key_pairs,
        fix_kinesis_put_concurrency,
        fix_policy_condition_semantics,
        speed_up_request_dispatch,
    )
    from tenantml.emulator.service_principals import let_administrators_stand_in_for_services

    fix_policy_condition_semantics()
    fix_kinesis_put_concurrency()
    add_model_package_deletion()
    add_permission_boundaries()
    let_administrators_stand_in_for_services()
    use_iam_action_names()
    speed_up_request_dispatch()
    defer_default_amis()
    defer_kms_key_pairs()
    enforce = iam_enforcement.requested(default=False) if enforce_iam is None else enforce_iam
    moto = _make_moto_server(sock)
    moto.start()

    server = EmulatorServer(
        port=moto.get_host_and_port()[1], fallback_message=fallback_message, _moto=moto, enforce_iam=enforce
    )
    mark_in_process(server.endpoint, running=True)
    _live_endpoints.append(server.endpoint)
    _point_hooks_to(server.endpoint)
    iam_enforcement.ensure_admin()
    server._iam_was_enforced = iam_enforcement.set_enforced(enforce)
    # under enforcement moto rejects keys it does not know, so the process's ambient identity is the
    # operator: the emulator account's administrator (emulator-only keys too, never real ones)
    ambient = aws_env(server.endpoint, region, credentials=ambient_credentials(enforce))
    exported = {k: v for k, v in ambient.items() if k in FAKE_CREDENTIALS}
    if aws_managed_policies:
        exported[MANAGED_POLICIES_ENV] = "true"
    if export_env:
        exported.update(ambient)
    for key, value in exported.items():
        server._saved_env[key] = os.environ.get(key)
        os.environ[key] = value
    if evaluate_alarms:
        from tenantml.emulator.alarm_evaluator import AlarmEvaluator

        try:
            server.alarm_evaluator = AlarmEvaluator(server.endpoint).start()
        except Exception:
            server.stop()
            raise
    return server


@contextmanager
def running(port: int | None = None, **kwargs: Any) -> Iterator[EmulatorServer]:
    """``with running() as server:`` starts the emulator and always stops it."""
    server = start(port, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def reset(endpoint: str, *, timeout: float = 10.0) -> None:
    """Forget every resource the emulator holds (``POST /moto-api/reset``)."""
    request = urllib.request.Request(f"{endpoint.rstrip('/')}/moto-api/reset", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        raise EmulatorError(f"could not reset the AWS emulator at {endpoint}: {err}") from err
    if is_in_process(endpoint):  # the reset forgot the administrator the sessions sign as
        from tenantml.emulator.iam_enforcement import ensure_admin

        ensure_admin()


#: one cheap read per service the resource handlers use: the first call to a service makes
#: moto import it and build its backend for the region, up to 3 s for EC2
WARM_UP_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "sts": ("get_caller_identity", {}),
    "secretsmanager": ("list_secrets", {}),
    "ec2": ("describe_vpcs", {}),
    "iam": ("list_roles", {}),
    "s3": ("list_buckets", {}),
    "kms": ("list_keys", {}),
    "kinesis": ("list_streams", {}),
    "sns": ("list_topics", {}),
    "sqs": ("list_queues", {}),
    "lambda": ("list_functions", {}),
    "logs": ("describe_log_groups", {}),
    "cloudwatch": ("describe_alarms", {}),
    "eks": ("list_clusters", {}),
    "autoscaling": ("describe_auto_scaling_groups", {}),
    "elbv2": ("describe_load_balancers", {}),
    "sagemaker": ("list_model_package_groups", {}),
    "dynamodb": ("list_tables", {}),
}


def warm_up(endpoint: str, regions: tuple[str, ...] = (DEFAULT_REGION,)) -> threading.Thread:
    """Make moto load every service the emulator uses, in a background thread.

    A fresh moto spends seconds on the first call to each service and region. Started right
    after :func:`start` and before slow work that does not need the emulator (synthesizing
    the stacks runs in a Node process), those seconds overlap; ``join()`` the thread to wait.
    Failures are ignored: the warm-up only saves time.
    """
    session = make_session(endpoint, regions[0] if regions else DEFAULT_REGION)

    def run() -> None:
        for region in regions or (DEFAULT_REGION,):
            for service, (operation, kwargs) in WARM_UP_CALLS.items():
                try:
                    getattr(session.client(service, region), operation)(**kwargs)
                except Exception:  # noqa: BLE001, S112 - a warm-up never fails anything
                    continue

    thread = threading.Thread(target=run, daemon=True, name="tenantml-emulator-warm-up")
    thread.start()
    return thread


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_REGION",
    "EMULATOR_ACCOUNT_ID",
    "FAKE_CREDENTIALS",
    "HOST",
    "MANAGED_POLICIES_ENV",
    "AwsSession",
    "EmulatorServer",
    "ambient_credentials",
    "aws_env",
    "is_in_process",
    "make_session",
    "reset",
    "running",
    "start",
    "warm_up",
]
