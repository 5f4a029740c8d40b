"""Serving that follows the registry: one stable URL that always ends up on the ``champion`` alias.

:class:`ChampionFollower` serves the version the alias names behind a
:class:`~pipelines.serving.router.RolloutRouter` on a loopback port that never changes, and watches
the alias (polling the registry through the interface, every ``poll_seconds``, backing off on
errors). When the alias moves (``tenantml models promote``, a promoting ``tenantml deploy``, an
approved retrain) it starts a model server for the new version, pinned by number, lines it up behind
the router as the challenger and runs the one rollout controller,
:class:`~pipelines.serving.rollout.Rollout`, with ``moves_alias=False``: the registry moved first, so
a clean bake only switches traffic. A version that does not load, or breaches the guardrails during
its bake, is rolled back: the previous version keeps serving, the reason is kept in :meth:`state`,
and that version is not tried again until the alias names another one.

``probe_rows`` (CSV lines) are sent through the router during a bake, so a promotion nobody sends
traffic to can still meet the policy's ``min_requests``; they are ordinary requests, logged like any.

``wait_for_champion`` (the serving image's follow mode, ``ServerConfig.follow``): the router starts
before there is a champion, answering ``/ping`` 503 while the watch polls the alias; the first
version it names is served at once (there is nothing to bake it against). A first version that does
not load keeps ``/ping`` at 503 with the reason until the alias names another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ModelNotServableError, ModelRegistryError
from pipelines.registry.interface import CHAMPION, ModelRegistry
from pipelines.serving.rollout import Rollout
from pipelines.serving.rollout_policy import RolloutPolicy, Strategy
from pipelines.serving.router import RolloutRouter, create_router_app
from pipelines.serving.runner import ThreadedServer

log = logging.getLogger(__name__)

#: the model server app (``create_app``) for one registry version; ``app.state.server`` is its ModelServer
AppFactory = Callable[[int], Any]


class ChampionFollower:
    """Serves a registry's champion at :attr:`url` and rolls to every new champion (see the module)."""

    def __init__(
        self,
        registry: ModelRegistry,
        app_for: AppFactory,
        *,
        tenant: str,
        model_name: str,
        policy: RolloutPolicy,
        strategy: Strategy = "canary",
        canary_weight: float = 0.1,
        poll_seconds: float = 2.0,
        max_backoff_seconds: float = 30.0,
        load_timeout_seconds: float = 60.0,
        probe_rows: Sequence[str] = (),
        probe_interval_seconds: float = 0.01,
        on_change: Callable[[dict[str, Any], str], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wait_for_champion: bool = False,
    ) -> None:
        self.registry = registry
        self._app_for = app_for
        self.tenant = tenant
        self.model_name = model_name
        self.policy = policy
        self.strategy: Strategy = strategy
        self.canary_weight = canary_weight
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.load_timeout_seconds = load_timeout_seconds
        self.probe_rows = list(probe_rows)
        self.probe_interval_seconds = probe_interval_seconds
        self._on_change = on_change or (lambda _state, _message: None)
        #: where the router listens (the model servers are always on loopback)
        self.host = host
        self.port = port
        self.wait_for_champion = wait_for_champion
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._servers: dict[int, ThreadedServer] = {}
        self._served: int | None = None
        self._rolling_out: int | None = None
        self._last_rollout: dict[str, Any] | None = None
        self._watch_error: str | None = None
        #: versions rolled back while the alias named them: not retried until it names another
        self._refused: int | None = None
        self._rollout: Rollout | None = None
        self._router: RolloutRouter | None = None
        self._front: ThreadedServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> ChampionFollower:
        """Serve the current champion behind the router and start watching the alias.

        Raises :class:`ModelNotServableError` when there is no champion or it does not load, unless
        ``wait_for_champion``: then the router answers 503 until the watch finds one that loads."""
        self._router = RolloutRouter.waiting_for(
            f"waiting for the {CHAMPION!r} alias of {self.tenant}/{self.model_name}",
            strategy=self.strategy,
            canary_weight=self.canary_weight,
        )
        if not self.wait_for_champion:
            try:
                version = self.registry.get_version_by_alias(CHAMPION).version
            except ModelRegistryError as err:
                raise ModelNotServableError(f"{self.tenant}: no champion to serve: {err}") from err
            self._serve_first(version)
        self._front = ThreadedServer(
            create_router_app(self._router, follow_state=self.state), host=self.host, port=self.port
        ).start()
        self._thread = threading.Thread(target=self._watch, name=f"follow-{self.tenant}", daemon=True)
        self._thread.start()
        return self

    def _serve_first(self, version: int) -> None:
        """Serve ``version`` alone: the first champion, with nothing before it to bake against."""
        assert self._router is not None
        server = self._start_version(version)
        self._served = version
        self._router.serve(server.url, version)

    def stop(self) -> None:
        self._stop.set()
        if self._rollout is not None:
            self._rollout.stop()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.bake_seconds + self.load_timeout_seconds + 30)
        if self._front is not None:
            self._front.stop()
        for server in list(self._servers.values()):
            server.stop()
        self._servers.clear()

    @property
    def url(self) -> str:
        if self._front is None:
            raise RuntimeError("the follower is not started")
        return self._front.url

    @property
    def served_version(self) -> int | None:
        return self._served

    def state(self) -> dict[str, Any]:
        """What up.json shows: the version served now, the one rolling out, the last rollout."""
        with self._lock:
            return {
                "model_version": str(self._served) if self._served is not None else None,
                "rolling_out": self._rolling_out,
                "last_rollout": dict(self._last_rollout) if self._last_rollout else None,
                "watch_error": self._watch_error,
            }

    # --- watching ---------------------------------------------------------------------------

    def _watch(self) -> None:
        # a follower still without a champion looks at once; one serving waits a poll first
        delay = 0.0 if self._served is None else self.poll_seconds
        while not self._stop.wait(delay):
            try:
                self.check_once()
            except (ModelRegistryError, ClientError, BotoCoreError) as err:
                # no champion yet, throttled or briefly unreachable: keep serving what serves, and back off
                delay = min(max(delay, self.poll_seconds) * 2, self.max_backoff_seconds)
                with self._lock:
                    self._watch_error = f"{type(err).__name__}: {err}"
                if self._served is None and self._router is not None:
                    self._router.waiting = f"waiting for the {CHAMPION!r} alias: {err}"
                log.warning(
                    "%s: cannot read the champion alias (next try in %.0f s): %s", self.tenant, delay, err
                )
                continue
            delay = self.poll_seconds
            if self._watch_error is not None:
                with self._lock:
                    self._watch_error = None

    def check_once(self) -> None:
        """Read the alias once; roll to it (blocking through the bake) when it names another version."""
        version = self.registry.get_version_by_alias(CHAMPION).version
        if version == self._served:
            self._refused = None
            return
        if version == self._refused or self._stop.is_set():
            return
        if self._served is None:
            self._first(version)
            return
        self._roll_to(version)

    def _first(self, version: int) -> None:
        assert self._router is not None
        with self._lock:
            self._rolling_out = version
        try:
            self._serve_first(version)
        except ModelNotServableError as err:
            reason = f"version {version} did not load: {err}"
            self._router.waiting = f"the {CHAMPION!r} alias names {reason}"
            self._finish(version, "rolled_back", reason)
            return
        self._finish(version, "promoted", "the first champion: nothing serves before it to bake against")

    def _roll_to(self, version: int) -> None:
        assert self._router is not None
        previous = self._served
        with self._lock:
            self._rolling_out = version
        self._changed(
            f"champion moved to version {version}; rolling it out ({self.strategy}, version {previous} serving)"
        )
        try:
            server = self._start_version(version)
        except ModelNotServableError as err:
            self._finish(version, "rolled_back", f"version {version} did not load: {err}")
            return
        self._router.stage(server.url, version)
        self._rollout = Rollout(
            self._router,
            self.policy,
            registry=self.registry,
            tenant=self.tenant,
            model_name=self.model_name,
            moves_alias=False,
        )
        probing = threading.Event()
        probe = threading.Thread(target=self._probe, args=(probing,), daemon=True)
        if self.probe_rows:
            probe.start()
        try:
            result = self._rollout.run()
        finally:
            probing.set()
            if probe.is_alive():
                probe.join(timeout=30)
            self._rollout = None
        if result.status == "promoted":
            old = self._servers.pop(previous, None) if previous is not None else None
            self._served = version
            if old is not None:
                old.stop()
        else:
            self._servers.pop(version).stop()
        self._finish(version, result.status, result.reason)

    def _finish(self, version: int, status: str, reason: str) -> None:
        with self._lock:
            self._rolling_out = None
            self._last_rollout = {
                "version": version,
                "status": status,
                "reason": reason,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            if status != "promoted":
                self._refused = version
        if status == "promoted":
            self._changed(f"version {version} promoted: {reason}; it serves now")
        elif self._served is None:
            self._changed(f"version {version} rolled back: {reason}; nothing serves yet")
        else:
            self._changed(f"version {version} rolled back: {reason}; version {self._served} keeps serving")

    def _changed(self, message: str) -> None:
        log.info("%s: %s", self.tenant, message)
        self._on_change(self.state(), message)

    # --- model servers -------------------------------------------------------------------------

    def _start_version(self, version: int) -> ThreadedServer:
        """A model server for ``version`` on a free loopback port, once its model is loaded."""
        app = self._app_for(version)
        server = ThreadedServer(app).start()
        model_server = app.state.server
        if not model_server.loaded.wait(self.load_timeout_seconds) or model_server.status != "ready":
            server.stop()
            reason = model_server.error or f"not loaded within {self.load_timeout_seconds:g} s"
            raise ModelNotServableError(reason)
        self._servers[version] = server
        return server

    def _probe(self, stop: threading.Event) -> None:
        """Send ``probe_rows`` through the router, round and round, until the bake ends."""
        assert self._front is not None
        url = f"{self._front.url}/invocations"
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                for row in self.probe_rows:
                    if stop.wait(self.probe_interval_seconds):
                        return
                    try:
                        client.post(url, content=row, headers={"Content-Type": "text/csv"})
                    except httpx.HTTPError as err:  # counted by the router as the challenger's, if it was
                        log.debug("probe request failed: %s", err)


__all__ = ["AppFactory", "ChampionFollower"]
