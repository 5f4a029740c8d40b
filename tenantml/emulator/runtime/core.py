"""The emulator's local Lambda runtime: runs functions' real code for invokes and triggers.

A :class:`LambdaRuntime` owns

- a :class:`~tenantml.emulator.runtime.process.ProcessRunner` (warm execution environments,
  reused between invocations of the same function version, all killed by ``stop``),
- a worker pool for asynchronous invocations (S3 and SNS events, ``InvocationType=Event``)
  with AWS's retries, dead-letter queue and on-failure / on-success destinations,
- a supervisor thread that finds Kinesis and SQS event source mappings in moto and runs one
  poller thread per mapping (:mod:`tenantml.emulator.runtime.pollers`),
- per-function counters (invocations, errors, throttles, timeouts, ...), also published as
  the ``AWS/Lambda`` CloudWatch metrics.

:func:`install` creates and starts a runtime and hooks it into the in-process moto server;
:func:`uninstall` unhooks and stops it. Hooks are never installed at import time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import LambdaCodeError, LambdaRuntimeError, LambdaRuntimeInstallError
from tenantml.emulator.runtime import moto_hooks
from tenantml.emulator.runtime.codecache import CodeCache
from tenantml.emulator.runtime.functions import FunctionSpec, MappingSpec
from tenantml.emulator.runtime.moto_hooks import TooManyRequestsError
from tenantml.emulator.runtime.pollers import make_poller
from tenantml.emulator.runtime.process import (
    DEFAULT_IDLE_TIMEOUT,
    InvocationResult,
    LogLine,
    ProcessRunner,
    log_stream_name,
)
from tenantml.emulator.runtime.sinks import Sinks, invocation_record
from tenantml.emulator.session import DEFAULT_REGION, EMULATOR_ACCOUNT_ID, is_in_process, make_session

log = logging.getLogger("tenantml.emulator.runtime")

#: AWS waits about 1 and then 2 minutes between async retries; the emulator scales that down
DEFAULT_ASYNC_RETRY_DELAYS = (1.0, 2.0)
_AWS_ERRORS = (BotoCoreError, ClientError)
#: how long ``stop`` waits for killed invocations to wind up after its deadline
_KILL_GRACE = 2.0


@dataclass(frozen=True)
class FunctionMetrics:
    """Counters of one function since the runtime started (or ``reset_metrics``)."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    timeouts: int = 0
    #: failed asynchronous events sent to the function's dead-letter queue
    dead_letters: int = 0
    #: records sent to on-failure / on-success destinations (async invokes and stream mappings)
    destination_deliveries: int = 0
    #: failed events that could be sent nowhere (no DLQ or destination, or delivery failed)
    dropped_events: int = 0
    total_duration_ms: float = 0.0


class _Concurrency:
    """Reserved concurrency: at most ``limit`` running invocations per function (None: no limit)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running: dict[str, int] = {}

    def try_acquire(self, key: str, limit: int | None) -> bool:
        with self._cond:
            if limit is not None and self._running.get(key, 0) >= limit:
                return False
            self._running[key] = self._running.get(key, 0) + 1
            return True

    def acquire(self, key: str, limit: int | None, give_up: threading.Event) -> bool:
        """Wait for a slot; False when the limit is 0 (the function is switched off) or ``give_up`` is set."""
        if limit == 0:
            return False
        with self._cond:
            while limit is not None and self._running.get(key, 0) >= limit:
                if give_up.is_set():
                    return False
                self._cond.wait(0.1)
            self._running[key] = self._running.get(key, 0) + 1
            return True

    def release(self, key: str) -> None:
        with self._cond:
            self._running[key] = max(0, self._running.get(key, 0) - 1)
            self._cond.notify_all()


class LambdaRuntime:
    """Runs the code of the functions held by the emulator at ``endpoint`` (moto in this process).

    ``async_retry_delays`` are the waits before the 1st, 2nd, ... retry of a failed
    asynchronous invocation; ``stream_retry_delay`` the wait before a stream batch is
    retried; ``poll_interval`` how often mappings are looked for and streams polled (a put
    to a mapped Kinesis stream wakes the pollers at once); ``idle_timeout`` how long an
    execution environment stays warm without an invocation.
    """

    def __init__(
        self,
        endpoint: str,
        region: str = DEFAULT_REGION,
        *,
        code_cache_dir: Path | None = None,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        async_workers: int = 4,
        async_retry_delays: Sequence[float] = DEFAULT_ASYNC_RETRY_DELAYS,
        poll_interval: float = 0.25,
        stream_retry_delay: float = 0.5,
        publish_metrics: bool = True,
        history_size: int = 500,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.session = make_session(self.endpoint, region)
        self.sinks = Sinks(self.session, publish_metrics=publish_metrics)
        self.runner = ProcessRunner(
            CodeCache(code_cache_dir),
            self.endpoint,
            python=python,
            extra_env=extra_env,
            idle_timeout=idle_timeout,
        )
        self.async_workers = async_workers
        self.async_retry_delays = tuple(async_retry_delays) or (0.0,)
        self.poll_interval = poll_interval
        self.stream_retry_delay = stream_retry_delay

        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._inflight = 0
        self._stopping = threading.Event()
        #: set when ``stop`` gave up waiting: queued asynchronous events are dropped, not run
        self._abandoned = threading.Event()
        self._wake = threading.Event()
        self._running = False
        self._executor: ThreadPoolExecutor | None = None
        self._supervisor: threading.Thread | None = None
        #: (start, end) of the supervisor's last completed pass
        self._supervisor_pass = (0.0, 0.0)
        self._pollers: dict[str, Any] = {}
        self._positions: dict[str, dict[str, int] | None] = {}
        self._concurrency = _Concurrency()
        self._metrics: dict[str, FunctionMetrics] = {}
        self._history: deque[InvocationResult] = deque(maxlen=history_size)

    # --- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def stopping(self) -> threading.Event:
        """Set while ``stop`` drains; pollers and retry waits watch it."""
        return self._stopping

    def start(self) -> LambdaRuntime:
        """Start the async worker pool and the mapping supervisor (idempotent)."""
        with self._lock:
            if self._running:
                return self
            self._stopping.clear()
            self._abandoned.clear()
            self._executor = ThreadPoolExecutor(
                max_workers=self.async_workers, thread_name_prefix="tenantml-lambda-async"
            )
            self._supervisor = threading.Thread(
                target=self._supervise, daemon=True, name="tenantml-lambda-mappings"
            )
            self._running = True
            self._supervisor.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and drain in-flight invocations; past ``timeout`` seconds, kill what still runs."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stopping.set()
            self.nudge()
        deadline = time.monotonic() + timeout
        if self._supervisor is not None:
            self._supervisor.join(max(0.0, deadline - time.monotonic()))
        pollers = list(self._pollers.values())
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        self._pollers.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        with self._idle:
            while self._inflight and time.monotonic() < deadline:
                self._idle.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            left = self._inflight
        polling = [poller for poller in pollers if poller.is_alive()]
        if left or polling:
            self._abandoned.set()
            killed = self.runner.kill_all()
            log.warning(
                "Lambda runtime stopped with %d queued event(s) and %d mapping batch(es) in flight; "
                "killed %d process(es)",
                left,
                len(polling),
                killed,
            )
            with self._idle:  # let the killed invocations record their end (log, counters)
                self._idle.wait_for(lambda: not self._inflight, timeout=_KILL_GRACE)
            for poller in polling:
                poller.join(_KILL_GRACE)
        self.runner.close()  # the warm environments: no process outlives the runtime
        self._executor = None
        self._supervisor = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- invoking ------------------------------------------------------------------------

    def function_arn(self, name_or_arn: str, region: str | None = None) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return f"arn:aws:lambda:{region or self.region}:{EMULATOR_ACCOUNT_ID}:function:{name_or_arn}"

    def invoke(self, function: str, payload: Any = None, *, region: str | None = None) -> InvocationResult:
        """Run ``function`` (name or ARN) synchronously on ``payload`` (JSON-serialisable)."""
        spec = moto_hooks.find_function(self.function_arn(function, region))
        if spec is None:
            raise LambdaRuntimeError(
                f"Lambda function {function!r} does not exist in the emulator at {self.endpoint}"
            )
        return self.invoke_sync(spec, json.dumps({} if payload is None else payload).encode())

    def invoke_sync(self, spec: FunctionSpec, event: bytes) -> InvocationResult:
        """A RequestResponse invoke; :class:`TooManyRequestsError` over the reserved concurrency."""
        key = spec.unqualified_arn
        if not self._concurrency.try_acquire(key, spec.reserved_concurrency):
            self._count(spec.name, throttles=1)
            self._publish(spec, throttles=1)
            raise TooManyRequestsError(spec.name)
        try:
            return self._execute(spec, event, str(uuid.uuid4()))
        finally:
            self._concurrency.release(key)

    def invoke_async(self, spec: FunctionSpec, event: bytes, *, source: str = "") -> str:
        """Queue an asynchronous invocation (retries, DLQ, destinations); returns its request id."""
        request_id = str(uuid.uuid4())
        with self._lock:
            executor = self._executor if self._running else None
            if executor is not None:
                self._track(+1)
                executor.submit(self._run_async, spec, event, request_id, time.monotonic())
        if executor is None:
            log.warning(
                "Lambda runtime is not running: dropped the %s event for %s", source or "async", spec.name
            )
            self._count(spec.name, dropped_events=1)
        return request_id

    def execute_for_mapping(self, spec: FunctionSpec, event: bytes) -> InvocationResult | None:
        """A poller's synchronous invoke: waits for a concurrency slot; None if switched off or stopping."""
        key = spec.unqualified_arn
        if not self._concurrency.acquire(key, spec.reserved_concurrency, self._stopping):
            self._count(spec.name, throttles=1)
            return None
        try:
            return self._execute(spec, event, str(uuid.uuid4()))
        finally:
            self._concurrency.release(key)

    def deliver_failure(self, function_name: str, target_arn: str | None, body: str, what: str) -> None:
        """Send a failure record to an on-failure destination (or count the event as dropped)."""
        if not target_arn:
            log.warning("%s of %s failed and has no on-failure destination: discarded", what, function_name)
            self._count(function_name, dropped_events=1)
            return
        try:
            self.sinks.deliver(target_arn, body, invoke_function=self._invoke_target)
        except _AWS_ERRORS as err:
            log.warning(
                "could not send the failure of %s (%s) to %s: %s", function_name, what, target_arn, err
            )
            self._count(function_name, dropped_events=1)
            return
        self._count(function_name, destination_deliveries=1)

    def _invoke_target(self, arn: str, body: bytes) -> None:
        target = moto_hooks.find_function(arn)
        if target is None:
            raise LambdaRuntimeError(f"destination function {arn} does not exist")
        self.invoke_async(target, body, source="destination")

    def _execute(self, spec: FunctionSpec, event: bytes, request_id: str) -> InvocationResult:
        try:
            result = self.runner.run(spec, event, request_id)
        except LambdaCodeError as err:
            result = _code_error(spec, request_id, err)
        self._history.append(result)
        self._count(
            spec.name,
            invocations=1,
            errors=int(result.failed),
            timeouts=int(result.timed_out),
            total_duration_ms=result.duration_ms,
        )
        try:
            self.sinks.write_invocation_log(spec.region, result, spec.account_id)
        except _AWS_ERRORS as err:
            log.warning(
                "could not write the log of %s (%s) to CloudWatch Logs: %s", spec.name, request_id, err
            )
        self._publish(spec, invocations=1, errors=int(result.failed), duration_ms=result.duration_ms)
        return result

    def _publish(self, spec: FunctionSpec, **values: Any) -> None:
        try:
            self.sinks.put_metrics(spec.region, spec.name, account=spec.account_id, **values)
        except _AWS_ERRORS as err:
            log.warning("could not publish the AWS/Lambda metrics of %s: %s", spec.name, err)

    def _run_async(self, spec: FunctionSpec, event: bytes, request_id: str, queued: float) -> None:
        try:
            self._attempt_async(spec, event, request_id, queued)
        except Exception:  # a worker thread's boundary: nobody reads the future, so say it here
            log.exception(
                "asynchronous invocation %s of %s failed inside the runtime; the event is lost",
                request_id,
                spec.name,
            )
            self._count(spec.name, dropped_events=1)
        finally:
            self._track(-1)

    def _attempt_async(self, spec: FunctionSpec, event: bytes, request_id: str, queued: float) -> None:
        key = spec.unqualified_arn
        max_attempts = 1 + max(0, spec.async_max_retries)
        attempts = 0
        result: InvocationResult | None = None
        condition = "RetriesExhausted"
        throttled = False
        while attempts < max_attempts:
            if self._abandoned.is_set():
                log.warning(
                    "the Lambda runtime stopped before event %s of %s was handled: dropped",
                    request_id,
                    spec.name,
                )
                self._count(spec.name, dropped_events=1)
                return
            if spec.async_max_event_age is not None and time.monotonic() - queued > spec.async_max_event_age:
                condition = "EventAgeExceeded"
                break
            if not self._concurrency.acquire(key, spec.reserved_concurrency, self._abandoned):
                if spec.reserved_concurrency != 0:
                    continue  # abandoned by ``stop`` while waiting for a slot: dropped above
                self._count(spec.name, throttles=1)
                throttled = True
                condition = "EventAgeExceeded"
                break
            try:
                result = self._execute(spec, event, request_id)
            finally:
                self._concurrency.release(key)
            attempts += 1
            if not result.failed:
                if spec.on_success_arn:
                    self._send_record(spec, spec.on_success_arn, result, event, "Success", attempts)
                return
            if attempts < max_attempts:
                delay = self.async_retry_delays[min(attempts - 1, len(self.async_retry_delays) - 1)]
                self._stopping.wait(delay)  # on stop, retry at once: the drain deadline bounds it
        self._async_failed(spec, event, request_id, result, condition, attempts, throttled)

    def _async_failed(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        result: InvocationResult | None,
        condition: str,
        attempts: int,
        throttled: bool,
    ) -> None:
        message = "Rate Exceeded." if throttled and result is None else None
        if not spec.dead_letter_arn and not spec.on_failure_arn:
            log.warning(
                "asynchronous invocation %s of %s failed %d time(s) and has no DLQ or destination: discarded",
                request_id,
                spec.name,
                attempts,
            )
            self._count(spec.name, dropped_events=1)
            return
        if spec.dead_letter_arn:
            try:
                self.sinks.send_to_dead_letter(
                    spec.dead_letter_arn,
                    event,
                    result,
                    error_code=429 if message else 200,
                    error_message=message,
                )
                self._count(spec.name, dead_letters=1)
            except _AWS_ERRORS as err:
                log.warning(
                    "could not send the failed event %s of %s to its DLQ %s: %s",
                    request_id,
                    spec.name,
                    spec.dead_letter_arn,
                    err,
                )
                self._count(spec.name, dropped_events=1)
        if spec.on_failure_arn:
            self._send_record(spec, spec.on_failure_arn, result, event, condition, attempts, message)

    def _send_record(
        self,
        spec: FunctionSpec,
        target: str,
        result: InvocationResult | None,
        event: bytes,
        condition: str,
        attempts: int,
        error_message: str | None = None,
    ) -> None:
        body = invocation_record(
            result, spec.arn, event, condition=condition, attempts=attempts, error_message=error_message
        )
        try:
            self.sinks.deliver(target, body, invoke_function=self._invoke_target)
        except (*_AWS_ERRORS, LambdaRuntimeError) as err:
            log.warning("could not send the invocation record of %s to %s: %s", spec.name, target, err)
            self._count(spec.name, dropped_events=1)
            return
        self._count(spec.name, destination_deliveries=1)

    # --- event source mappings -----------------------------------------------------------

    def nudge(self) -> None:
        """Wake the supervisor and every poller now (a record was put, a mapping was made)."""
        self._wake.set()
        for poller in list(self._pollers.values()):
            poller.wake.set()

    def mapping_created(self, mapping: MappingSpec, positions: dict[str, int] | None) -> None:
        """Called by the hooks in CreateEventSourceMapping: remember where LATEST was at that moment."""
        if mapping.source_service == "kinesis":
            self._positions[mapping.uuid] = positions
        self.nudge()

    def take_positions(self, uuid_: str) -> dict[str, int] | None:
        return self._positions.pop(uuid_, None)

    def _supervise(self) -> None:

        while not self._stopping.is_set():
            started = time.monotonic()
            self._wake.clear()
            try:
                mappings = {m.uuid: m for m in moto_hooks.list_mappings()}
            except RuntimeError:  # moto's dicts changed while read (a reset): look again
                mappings = None
            except Exception:  # the thread's boundary: keep supervising, but say what broke
                log.exception("the Lambda runtime could not read the event source mappings")
                mappings = None
            if mappings is not None:
                for key in [k for k in self._pollers if k not in mappings]:
                    self._pollers.pop(key).stop()
                for key, mapping in mappings.items():
                    poller = self._pollers.get(key)
                    if poller is None:
                        poller = make_poller(self, mapping)
                        self._pollers[key] = poller
                        poller.start()
                    elif poller.mapping != mapping:
                        poller.mapping = mapping
                        poller.wake.set()  # an idle poller may wait a while: let it see the change now
                with self._idle:
                    self._supervisor_pass = (started, time.monotonic())
                    self._idle.notify_all()
            self._wake.wait(self.poll_interval)

    def poller_pass_done(self) -> None:
        with self._idle:
            self._idle.notify_all()

    # --- observing -----------------------------------------------------------------------

    def _track(self, delta: int) -> None:
        with self._idle:
            self._inflight += delta
            self._idle.notify_all()

    def _idle_since(self, since: float, mappings_read: float | None) -> bool:
        """Nothing in flight, and every poller polled empty after the mappings were read again."""
        if self._inflight:
            return False
        if not self._running:
            return True
        if mappings_read is None:
            return False
        return all(p.idle_since(mappings_read) for p in list(self._pollers.values()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no invocation is queued or running and every mapping has been polled empty.

        Only polls that start after the mappings were read again, after this call, count, so
        records put (or mappings made or changed) just before it are delivered, with their
        retries, before it returns True. False after ``timeout`` seconds.
        """
        since = time.monotonic()
        deadline = since + timeout
        mappings_read: float | None = None  # the end of the first supervisor pass begun after ``since``
        self.nudge()
        with self._idle:
            while True:
                if mappings_read is None and self._supervisor_pass[0] >= since:
                    mappings_read = self._supervisor_pass[1]
                if self._idle_since(since, mappings_read):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.05))

    def _count(self, function_name: str, **increments: float) -> None:
        with self._lock:
            current = self._metrics.get(function_name, FunctionMetrics())
            self._metrics[function_name] = replace(
                current, **{k: getattr(current, k) + v for k, v in increments.items()}
            )

    def metrics(self, function_name: str | None = None) -> Any:
        """All counters by function name, or one function's :class:`FunctionMetrics`."""
        with self._lock:
            if function_name is not None:
                return self._metrics.get(function_name, FunctionMetrics())
            return dict(self._metrics)

    def reset_metrics(self) -> None:
        with self._lock:
            self._metrics.clear()
            self._history.clear()

    def history(self, function_name: str | None = None) -> list[InvocationResult]:
        """The most recent invocations (oldest first), optionally of one function."""
        with self._lock:
            items = list(self._history)
        return [r for r in items if function_name is None or r.function_name == function_name]

    def __repr__(self) -> str:
        return f"LambdaRuntime(endpoint={self.endpoint!r}, running={self._running}, mappings={len(self._pollers)})"


def _code_error(spec: FunctionSpec, request_id: str, err: LambdaCodeError) -> InvocationResult:
    now = int(time.time() * 1000)
    error = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(err)}
    return InvocationResult(
        request_id=request_id,
        function_name=spec.name,
        function_arn=spec.arn,
        version=spec.version,
        payload=json.dumps(error).encode(),
        error=error,
        timed_out=False,
        duration_ms=0.0,
        init_duration_ms=0.0,
        max_memory_mb=0,
        log_group=spec.log_group,
        log_stream=log_stream_name(spec.version),
        log_lines=(
            LogLine(now, f"START RequestId: {request_id} Version: {spec.version}"),
            LogLine(now, f"[ERROR] Runtime.InvalidEntrypoint: {err}"),
            LogLine(now, f"END RequestId: {request_id}"),
        ),
    )


# --- installing into the in-process moto server ------------------------------------------


def install(
    endpoint_url: str, region: str = DEFAULT_REGION, *, runtime: LambdaRuntime | None = None, **options: Any
) -> LambdaRuntime:
    """Hook a started :class:`LambdaRuntime` into the moto server running in this process.

    Builds the runtime from ``options`` unless one is given. Raises
    :class:`~core.errors.LambdaRuntimeInstallError` when ``endpoint_url`` is not an
    emulator this process started, or another runtime is installed, and
    :class:`~core.errors.MotoInternalsChangedError` when moto's shape changed.
    """
    if not is_in_process(endpoint_url):
        raise LambdaRuntimeInstallError(
            f"the Lambda runtime needs the emulator to run in this process; {endpoint_url} is not one this "
            "process started (start it with tenantml.emulator.server.start)"
        )
    if runtime is None:
        runtime = LambdaRuntime(endpoint_url, region, **options)
    elif options:
        raise TypeError("pass either a runtime or the options to build one, not both")
    moto_hooks.apply(runtime)
    runtime.start()
    return runtime


def uninstall(timeout: float = 10.0) -> None:
    """Restore moto's own behaviour and stop the installed runtime (draining for ``timeout`` s)."""
    runtime = moto_hooks.installed_runtime()
    moto_hooks.remove()
    if runtime is not None:
        runtime.stop(timeout)


def installed_runtime() -> LambdaRuntime | None:
    return moto_hooks.installed_runtime()


__all__ = [
    "DEFAULT_ASYNC_RETRY_DELAYS",
    "FunctionMetrics",
    "LambdaRuntime",
    "install",
    "installed_runtime",
    "uninstall",
]
