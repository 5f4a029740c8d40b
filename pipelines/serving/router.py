"""The rollout router: a reverse proxy in front of the champion's and the challenger's model servers.

Its Starlette app (:func:`create_router_app`) proxies ``POST /invocations`` to the champion or the
challenger over one pooled keep-alive ``httpx.AsyncClient``, passing request and response headers
through (hop-by-hop headers excepted) and adding ``X-Rollout-Target``. ``GET /ping`` answers for the
upstream taking most of the traffic; ``GET /rollout`` returns the state as JSON. The strategies it
routes by are described in :mod:`pipelines.serving.rollout`, whose controller drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import Problem
from core.percentiles import percentile
from pipelines.serving import codecs
from pipelines.serving.rollout_policy import (
    STRATEGIES,
    ChallengerMetrics,
    Phase,
    RolloutPolicyError,
    RolloutResult,
    Strategy,
    Target,
    canary_pick,
)

TARGET_HEADER = "X-Rollout-Target"
_NO_UPSTREAM = "http://no-upstream.invalid"

log = logging.getLogger(__name__)


#: never forwarded: they describe one connection, not the message (RFC 9110 section 7.6.1)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass
class _Window:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    shadow_matches: int = 0
    shadow_dropped: int = 0


class RolloutRouter:
    """Routing state and the proxy endpoints; thread-safe, so a controller in another thread can
    read the metrics and flip the phase while uvicorn serves."""

    def __init__(
        self,
        champion_url: str,
        challenger_url: str,
        *,
        strategy: Strategy,
        champion_version: int,
        challenger_version: int,
        canary_weight: float = 0.1,
        timeout_seconds: float = 30.0,
        max_connections: int = 100,
        max_inflight_mirrors: int = 64,
    ) -> None:
        problems = []
        if strategy not in STRATEGIES:
            problems.append(Problem("strategy", f"must be one of {', '.join(STRATEGIES)}", strategy))
        if not (0 < canary_weight < 1):
            problems.append(
                Problem("canary_weight", "must be a fraction strictly between 0 and 1", canary_weight)
            )
        if not timeout_seconds > 0:
            problems.append(Problem("timeout_seconds", "must be positive", timeout_seconds))
        for name, url in (("champion_url", champion_url), ("challenger_url", challenger_url)):
            if not url.startswith(("http://", "https://")):
                problems.append(Problem(name, "must be an http:// or https:// URL", url))
        if problems:
            raise RolloutPolicyError(problems)
        self.urls: dict[Target, str] = {
            "champion": champion_url.rstrip("/"),
            "challenger": challenger_url.rstrip("/"),
        }
        self.strategy: Strategy = strategy
        self.versions: dict[Target, int] = {"champion": champion_version, "challenger": challenger_version}
        self.canary_weight = canary_weight
        self.timeout_seconds = timeout_seconds
        self.max_connections = max_connections
        self.max_inflight_mirrors = max_inflight_mirrors
        self.result: RolloutResult | None = None
        self._lock = threading.Lock()
        self._phase: Phase = "pending"
        self._counter = 0
        self._served: dict[Target, int] = {"champion": 0, "challenger": 0}
        self._window = _Window()
        self._client: httpx.AsyncClient | None = None
        self._mirrors: set[asyncio.Task[None]] = set()
        #: why there is nothing to route to yet (a follower before its first champion): /ping and
        #: /invocations answer 503 with it until :meth:`serve`
        self.waiting: str | None = None

    @classmethod
    def waiting_for(cls, reason: str, *, strategy: Strategy, canary_weight: float = 0.1) -> RolloutRouter:
        """A router with no upstream yet; :meth:`serve` gives it its first."""
        # never contacted while ``waiting`` is set; .invalid never resolves (RFC 2606)
        router = cls(
            _NO_UPSTREAM,
            _NO_UPSTREAM,
            strategy=strategy,
            champion_version=0,
            challenger_version=0,
            canary_weight=canary_weight,
        )
        router.waiting = reason
        return router

    # --- state, for the controller ------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._phase

    def begin(self) -> None:
        """Start baking: the strategy's split applies and the challenger's window starts empty."""
        with self._lock:
            self._phase = "baking"
            self._counter = 0
            self._window = _Window()

    def stage(self, challenger_url: str, challenger_version: int) -> None:
        """Line up the next challenger behind the version serving now, for another rollout through
        this router (``pipelines.serving.follow``): after a promotion the old challenger becomes the
        champion. The phase is ``pending`` again (all traffic to the champion) until :meth:`begin`."""
        if not challenger_url.startswith(("http://", "https://")):
            raise RolloutPolicyError(
                [Problem("challenger_url", "must be an http:// or https:// URL", challenger_url)]
            )
        with self._lock:
            if self._phase == "promoted":
                self.urls["champion"] = self.urls["challenger"]
                self.versions["champion"] = self.versions["challenger"]
            self.urls["challenger"] = challenger_url.rstrip("/")
            self.versions["challenger"] = challenger_version
            self._phase = "pending"
            self._counter = 0
            self._window = _Window()
            self.result = None

    def serve(self, url: str, version: int) -> None:
        """Route everything to ``version`` at ``url`` alone: the first version a follower serves,
        with nothing before it to bake against."""
        if not url.startswith(("http://", "https://")):
            raise RolloutPolicyError([Problem("champion_url", "must be an http:// or https:// URL", url)])
        with self._lock:
            self.urls = {"champion": url.rstrip("/"), "challenger": url.rstrip("/")}
            self.versions = {"champion": version, "challenger": version}
            self._phase = "pending"
            self._counter = 0
            self._window = _Window()
            self.result = None
            self.waiting = None

    def rollback(self) -> None:
        """All traffic to the champion, no more mirrors, from the next request on."""
        with self._lock:
            self._phase = "rolled_back"

    def promote(self) -> None:
        """All traffic to the challenger from the next request on."""
        with self._lock:
            self._phase = "promoted"

    def metrics(self) -> ChallengerMetrics:
        with self._lock:
            window = self._window
            latencies = list(window.latencies_ms)
            errors, matches, dropped = window.errors, window.shadow_matches, window.shadow_dropped
        return ChallengerMetrics(
            requests=len(latencies),
            errors=errors,
            error_rate=errors / len(latencies) if latencies else 0.0,
            p99_ms=percentile(latencies, 99),
            shadow_matches=matches,
            shadow_dropped=dropped,
        )

    def state(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "phase": self._phase,
            "canary_weight": self.canary_weight if self.strategy == "canary" else None,
            "champion": {"url": self.urls["champion"], "version": self.versions["champion"]},
            "challenger": {"url": self.urls["challenger"], "version": self.versions["challenger"]},
            "served": dict(self._served),
            "challenger_metrics": self.metrics().model_dump(),
            "result": self.result.model_dump(mode="json") if self.result else None,
        }

    def primary(self) -> Target:
        """The upstream taking most of the traffic now."""
        if self._phase == "promoted" or (
            self._phase == "baking" and self.strategy in ("blue-green", "all-at-once")
        ):
            return "challenger"
        return "champion"

    def choose(self) -> tuple[Target, bool]:
        """The upstream for the next request, and whether to mirror it to the challenger."""
        with self._lock:
            if self._phase != "baking":
                return self.primary(), False
            if self.strategy == "shadow":
                return "champion", True
            if self.strategy == "canary":
                n = self._counter
                self._counter += 1
                return ("challenger" if canary_pick(n, self.canary_weight) else "champion"), False
            return "challenger", False

    def _record(self, latency_ms: float, error: bool, *, match: bool = False) -> None:
        with self._lock:
            if self._phase != "baking":  # after the verdict, the window is frozen
                return
            self._window.latencies_ms.append(latency_ms)
            self._window.errors += int(error)
            self._window.shadow_matches += int(match)

    # --- lifecycle and endpoints ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )
        async with httpx.AsyncClient(timeout=self.timeout_seconds, limits=limits) as client:
            self._client = client
            try:
                yield
            finally:
                if self._mirrors:
                    await asyncio.wait(set(self._mirrors), timeout=self.timeout_seconds)
                self._client = None

    def _waiting_response(self, waiting: str) -> Response:
        body = {"status": "waiting", "error": waiting}
        return Response(orjson.dumps(body), 503, media_type=codecs.JSON)

    async def ping(self, request: Request) -> Response:
        if (waiting := self.waiting) is not None:
            return self._waiting_response(waiting)
        target = self.primary()
        try:
            upstream = await self._require_client().get(f"{self.urls[target]}/ping")
        except httpx.TransportError as err:
            body = {"status": "unavailable", "target": target, "error": f"{type(err).__name__}: {err}"}
            return Response(orjson.dumps(body), 503, media_type=codecs.JSON)
        status = 200 if upstream.status_code == 200 else 503
        body = {"status": "ready" if status == 200 else "unavailable", "target": target}
        return Response(orjson.dumps(body), status, {TARGET_HEADER: target}, codecs.JSON)

    async def passthrough(self, request: Request) -> Response:
        """``GET`` of the serving upstream's description (``/openapi.json``, ``/metrics``), so clients
        that read the signature before sending (``tenantml traffic``) can use the router's URL."""
        if (waiting := self.waiting) is not None:
            return self._waiting_response(waiting)
        target = self.primary()
        try:
            upstream = await self._require_client().get(f"{self.urls[target]}{request.url.path}")
        except httpx.TransportError as err:
            message = f"the {target} model server did not answer: {type(err).__name__}: {err}"
            return Response(
                codecs.error_body("upstream_unavailable", message), 502, {TARGET_HEADER: target}, codecs.JSON
            )
        headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
        }
        headers[TARGET_HEADER] = target
        return Response(upstream.content, upstream.status_code, headers)

    async def rollout_state(self, request: Request) -> Response:
        return Response(orjson.dumps(self.state()), 200, media_type=codecs.JSON)

    async def invocations(self, request: Request) -> Response:
        if (waiting := self.waiting) is not None:
            return Response(codecs.error_body("model_not_ready", waiting), 503, media_type=codecs.JSON)
        target, mirror = self.choose()
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        with self._lock:
            self._served[target] += 1
        started = time.perf_counter()
        try:
            upstream = await self._require_client().post(
                f"{self.urls[target]}/invocations", content=body, headers=headers
            )
        except httpx.TransportError as err:
            if target == "challenger":
                self._record((time.perf_counter() - started) * 1000, True)
            message = f"the {target} model server did not answer: {type(err).__name__}: {err}"
            return Response(
                codecs.error_body("upstream_unavailable", message), 502, {TARGET_HEADER: target}, codecs.JSON
            )
        if target == "challenger":
            self._record((time.perf_counter() - started) * 1000, upstream.status_code >= 500)
        if mirror:
            self._mirror(body, headers, upstream)
        out_headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
        }
        out_headers[TARGET_HEADER] = target
        return Response(upstream.content, upstream.status_code, out_headers)

    def _mirror(self, body: bytes, headers: dict[str, str], champion: httpx.Response) -> None:
        if len(self._mirrors) >= self.max_inflight_mirrors:
            with self._lock:
                self._window.shadow_dropped += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._shadow(body, headers, champion.status_code, champion.content)
        )
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _shadow(self, body: bytes, headers: dict[str, str], status: int, content: bytes) -> None:
        started = time.perf_counter()
        try:
            upstream = await self._require_client().post(
                f"{self.urls['challenger']}/invocations", content=body, headers=headers
            )
        except httpx.TransportError as err:
            log.warning("shadow request to the challenger failed: %s", err)
            self._record((time.perf_counter() - started) * 1000, True)
            return
        self._record(
            (time.perf_counter() - started) * 1000,
            upstream.status_code >= 500,
            match=upstream.status_code == status and upstream.content == content,
        )

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the router's HTTP client is not open: serve the app with its lifespan")
        return self._client


def create_router_app(
    router: RolloutRouter, *, follow_state: Callable[[], dict[str, Any]] | None = None
) -> Starlette:
    """The router's ASGI app; ``app.state.router`` is ``router``. ``follow_state``: ``GET /follow``
    answers with it (a follower's served version and last rollout, for operators and probes)."""

    async def follow(request: Request) -> Response:
        assert follow_state is not None
        return Response(orjson.dumps(follow_state()), 200, media_type=codecs.JSON)

    app = Starlette(
        routes=[
            *([Route("/follow", follow, methods=["GET"])] if follow_state is not None else []),
            Route("/ping", router.ping, methods=["GET"]),
            Route("/invocations", router.invocations, methods=["POST"]),
            Route("/rollout", router.rollout_state, methods=["GET"]),
            Route("/openapi.json", router.passthrough, methods=["GET"]),
            Route("/metrics", router.passthrough, methods=["GET"]),
        ],
        lifespan=router.lifespan,
    )
    app.state.router = router
    return app
