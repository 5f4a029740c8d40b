"""Rolling out a challenger model: a local router in front of two model servers, and its controller.

:class:`RolloutRouter` is the traffic side. Its Starlette app (:func:`create_router_app`) proxies
``POST /invocations`` to the champion or the challenger server over one pooled keep-alive
``httpx.AsyncClient``, passing request and response headers through (hop-by-hop headers
excepted) and adding ``X-Rollout-Target``. ``GET /ping`` answers for the upstream taking most
of the traffic; ``GET /rollout`` returns the state as JSON.

Strategies, while the rollout bakes:

- ``canary``: ``canary_weight`` of the requests go to the challenger; the split is deterministic
  (request *n* goes to the challenger when ``floor((n + 1) * w) > floor(n * w)``), so over any
  *N* requests the challenger gets ``floor(N * w)`` of them, give or take one.
- ``blue-green``: every request goes to the challenger at once; the champion stays up, so a
  rollback is a switch back, not a redeploy.
- ``shadow``: the champion answers every request; a copy goes to the challenger in the
  background and its status, latency and whether its body matched the champion's are only
  recorded (mirrors beyond ``max_inflight_mirrors`` are dropped and counted, never queued).
- ``all-at-once``: every request goes to the challenger at once, as in ``blue-green``, and it
  bakes and rolls back like the other strategies: an unwatched promotion would put a model that
  breaks the guardrails in front of every user. (The two differ on real endpoints, where
  all-at-once replaces the champion's fleet instead of keeping it beside the challenger.)

:class:`Rollout` is the controller. It starts the bake, and every ``check_interval_seconds``
judges the challenger's requests so far (5xx answers and transport errors count as errors; p99
by nearest rank) against the :class:`RolloutPolicy` once at least ``min_requests`` have been
seen. A breach sends all traffic to the champion at once, publishes a :class:`RolloutAlert` to
the tenant's SNS topic and ends ``rolled_back``. A clean bake (with at least ``min_requests``
seen; fewer is a rollback too, since nothing was proven) moves the registry's ``champion`` alias
to the challenger, ``previous`` to the old champion, and switches all traffic to the challenger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import ModelRegistryError, Problem, ProblemsError, ServingError
from core.percentiles import percentile
from pipelines.registry.interface import CHAMPION, ModelRegistry
from pipelines.serving import codecs

log = logging.getLogger(__name__)

Strategy = Literal["canary", "blue-green", "all-at-once", "shadow"]
STRATEGIES: tuple[str, ...] = ("canary", "blue-green", "all-at-once", "shadow")
Phase = Literal["pending", "baking", "promoted", "rolled_back"]
Target = Literal["champion", "challenger"]

#: the alias the old champion gets on promotion
PREVIOUS = "previous"
TARGET_HEADER = "X-Rollout-Target"
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
_SUBJECT_LIMIT = 100


class RolloutPolicyError(ProblemsError):
    """A rollout policy or router setting is out of range; every bad field is listed."""

    exit_code = 2
    headline = "invalid rollout settings"


class RolloutError(ServingError):
    """A rollout could not finish as asked (the registry changed under it, or refused the alias move)."""


# --- policy and outcome ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RolloutPolicy:
    """When a baking challenger is rolled back (the same rules for every strategy)."""

    bake_seconds: float = 600.0
    #: errors / requests, 0..1; the challenger is rolled back above it
    max_error_rate: float = 0.01
    max_p99_ms: float = 500.0
    #: nothing is judged before this many challenger requests; a bake that sees fewer rolls back
    min_requests: int = 100
    check_interval_seconds: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.bake_seconds) and self.bake_seconds > 0):
            problems.append(
                Problem("bake_seconds", "must be a positive number of seconds", self.bake_seconds)
            )
        if not (0 <= self.max_error_rate <= 1):
            problems.append(Problem("max_error_rate", "must be a fraction from 0 to 1", self.max_error_rate))
        if not (math.isfinite(self.max_p99_ms) and self.max_p99_ms > 0):
            problems.append(
                Problem("max_p99_ms", "must be a positive number of milliseconds", self.max_p99_ms)
            )
        if self.min_requests < 1:
            problems.append(Problem("min_requests", "must be at least 1", self.min_requests))
        if not (math.isfinite(self.check_interval_seconds) and self.check_interval_seconds > 0):
            problems.append(
                Problem("check_interval_seconds", "must be a positive number", self.check_interval_seconds)
            )
        if problems:
            raise RolloutPolicyError(problems)


class ChallengerMetrics(BaseModel):
    """What the challenger did during the bake (mirrored requests included, for ``shadow``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int
    errors: int
    error_rate: float
    p99_ms: float | None
    #: ``shadow`` only: mirrored answers whose status and body equalled the champion's
    shadow_matches: int = 0
    shadow_dropped: int = 0


class Breach(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Literal["error_rate", "p99_ms", "requests"]
    value: float
    threshold: float

    def describe(self) -> str:
        if self.metric == "requests":
            return (
                f"only {self.value:g} challenger request(s) during the bake, fewer than min_requests "
                f"{self.threshold:g}: nothing was proven"
            )
        if self.metric == "error_rate":
            return f"error rate {self.value:.2%} above the {self.threshold:.2%} limit"
        return f"p99 latency {self.value:.1f} ms above the {self.threshold:g} ms limit"


class RolloutResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["promoted", "rolled_back"]
    reason: str
    metrics: ChallengerMetrics
    strategy: str
    champion_version: int
    challenger_version: int
    #: the breached threshold, for ``rolled_back``
    breach: Breach | None = None
    #: the SNS message id of the alert, when one was published
    alert_message_id: str | None = None
    seconds: float


def find_breach(metrics: ChallengerMetrics, policy: RolloutPolicy, *, final: bool) -> Breach | None:
    """The first threshold ``metrics`` break (error rate before latency), or ``None``.

    Before ``min_requests`` nothing is judged; at the end of the bake (``final``) too few requests
    is itself a breach.
    """
    if metrics.requests < policy.min_requests:
        if final:
            return Breach(metric="requests", value=metrics.requests, threshold=policy.min_requests)
        return None
    if metrics.error_rate > policy.max_error_rate:
        return Breach(metric="error_rate", value=metrics.error_rate, threshold=policy.max_error_rate)
    if metrics.p99_ms is not None and metrics.p99_ms > policy.max_p99_ms:
        return Breach(metric="p99_ms", value=metrics.p99_ms, threshold=policy.max_p99_ms)
    return None


def canary_pick(n: int, weight: float) -> bool:
    """Whether request ``n`` (0-based) goes to the challenger under a ``weight`` split."""
    return math.floor((n + 1) * weight) > math.floor(n * weight)


# --- the alert ---------------------------------------------------------------------------------


class RolloutAlert(BaseModel):
    """A rolled-back rollout, as published to the tenant's SNS topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    model_name: str
    strategy: str
    champion_version: int
    challenger_version: int
    breach: Breach
    metrics: ChallengerMetrics

    @property
    def subject(self) -> str:
        text = (
            f"tenantml {self.tenant}/{self.model_name}: version {self.challenger_version} rolled back "
            f"({self.breach.metric})"
        )
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:_SUBJECT_LIMIT]

    def body(self) -> str:
        m = self.metrics
        p99_text = "n/a" if m.p99_ms is None else f"{m.p99_ms:.1f} ms"
        return (
            f"The {self.strategy} rollout of model {self.model_name!r} (tenant {self.tenant}) was rolled "
            f"back: {self.breach.describe()}.\n\n"
            f"Metric:     {self.breach.metric} = {self.breach.value:g} (threshold {self.breach.threshold:g})\n"
            f"Challenger: version {self.challenger_version}: {m.requests} request(s), {m.errors} error(s), "
            f"error rate {m.error_rate:.2%}, p99 {p99_text}\n"
            f"Champion:   version {self.champion_version} serves all traffic again; the registry's "
            f"{CHAMPION!r} alias is unchanged.\n\n"
            "What to do: read the challenger's server log and /metrics, fix the model or its server, "
            "register a new version and deploy it again.\n"
        )

    def attributes(self) -> dict[str, dict[str, str]]:
        values = {
            "tenant": self.tenant,
            "model": self.model_name,
            "strategy": self.strategy,
            "champion_version": str(self.champion_version),
            "challenger_version": str(self.challenger_version),
            "metric": self.breach.metric,
            "value": f"{self.breach.value:g}",
            "threshold": f"{self.breach.threshold:g}",
        }
        return {f"tenantml.{k}": {"DataType": "String", "StringValue": v} for k, v in values.items()}


def publish_rollback_alert(sns: Any, topic_arn: str, alert: RolloutAlert) -> str:
    """Publish ``alert`` to ``topic_arn``; return the SNS message id."""
    response = sns.publish(
        TopicArn=topic_arn, Subject=alert.subject, Message=alert.body(), MessageAttributes=alert.attributes()
    )
    return str(response["MessageId"])


# --- the router --------------------------------------------------------------------------------


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

    async def ping(self, request: Request) -> Response:
        target = self.primary()
        try:
            upstream = await self._require_client().get(f"{self.urls[target]}/ping")
        except httpx.TransportError as err:
            body = {"status": "unavailable", "target": target, "error": f"{type(err).__name__}: {err}"}
            return Response(orjson.dumps(body), 503, media_type=codecs.JSON)
        status = 200 if upstream.status_code == 200 else 503
        body = {"status": "ready" if status == 200 else "unavailable", "target": target}
        return Response(orjson.dumps(body), status, {TARGET_HEADER: target}, codecs.JSON)

    async def rollout_state(self, request: Request) -> Response:
        return Response(orjson.dumps(self.state()), 200, media_type=codecs.JSON)

    async def invocations(self, request: Request) -> Response:
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


def create_router_app(router: RolloutRouter) -> Starlette:
    """The router's ASGI app; ``app.state.router`` is ``router``."""
    app = Starlette(
        routes=[
            Route("/ping", router.ping, methods=["GET"]),
            Route("/invocations", router.invocations, methods=["POST"]),
            Route("/rollout", router.rollout_state, methods=["GET"]),
        ],
        lifespan=router.lifespan,
    )
    app.state.router = router
    return app


# --- the controller ----------------------------------------------------------------------------


class Rollout:
    """Bakes the router's challenger, then promotes it in the registry or rolls it back."""

    def __init__(
        self,
        router: RolloutRouter,
        policy: RolloutPolicy,
        *,
        registry: ModelRegistry,
        tenant: str,
        model_name: str,
        sns: Any = None,
        topic_arn: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.policy = policy
        self.registry = registry
        self.tenant = tenant
        self.model_name = model_name
        self._sns = sns
        self._topic_arn = topic_arn
        self._clock = clock
        self._stop = threading.Event()

    def run(self) -> RolloutResult:
        """Block through the bake; the router must be serving. Returns (and stores on the router)
        the outcome. Raises :class:`RolloutError` when the registry's champion moved meanwhile or
        the alias move fails (traffic is back on the champion then)."""
        started = self._clock()
        self.router.begin()
        deadline = started + self.policy.bake_seconds
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            if self._stop.wait(min(self.policy.check_interval_seconds, remaining)):
                break
            breach = find_breach(self.router.metrics(), self.policy, final=False)
            if breach is not None:
                return self._roll_back(breach, started)
        breach = find_breach(self.router.metrics(), self.policy, final=True)
        if breach is not None:
            return self._roll_back(breach, started)
        return self._promote(started)

    def stop(self) -> None:
        """End the bake early (an operator's Ctrl-C): the verdict is taken on what was seen."""
        self._stop.set()

    def _roll_back(self, breach: Breach, started: float) -> RolloutResult:
        self.router.rollback()  # traffic first: the alert can wait, the users cannot
        metrics = self.router.metrics()
        log.warning(
            "rolling back version %s of %s/%s: %s",
            self.router.versions["challenger"],
            self.tenant,
            self.model_name,
            breach.describe(),
        )
        message_id = None
        if self._sns is not None and self._topic_arn:
            alert = RolloutAlert(
                tenant=self.tenant,
                model_name=self.model_name,
                strategy=self.router.strategy,
                champion_version=self.router.versions["champion"],
                challenger_version=self.router.versions["challenger"],
                breach=breach,
                metrics=metrics,
            )
            message_id = publish_rollback_alert(self._sns, self._topic_arn, alert)
        return self._finish("rolled_back", breach.describe(), metrics, started, breach, message_id)

    def _promote(self, started: float) -> RolloutResult:
        champion, challenger = self.router.versions["champion"], self.router.versions["challenger"]
        metrics = self.router.metrics()
        try:
            current = self.registry.get_version_by_alias(CHAMPION).version
            if current != champion:
                raise RolloutError(
                    f"the registry's {CHAMPION!r} of {self.tenant}/{self.model_name} moved to version "
                    f"{current} during the rollout (it was {champion}); version {challenger} was not "
                    "promoted: deploy again against the current champion"
                )
            self.registry.set_alias(PREVIOUS, champion)
            self.registry.set_alias(CHAMPION, challenger)
        except (RolloutError, ModelRegistryError, ClientError) as err:
            self.router.rollback()
            self._finish("rolled_back", f"promotion failed: {err}", metrics, started, None, None)
            if isinstance(err, RolloutError):
                raise
            raise RolloutError(
                f"version {challenger} of {self.tenant}/{self.model_name} passed its bake but the registry "
                f"refused the alias move ({err}); traffic is back on version {champion}"
            ) from err
        self.router.promote()
        return self._finish("promoted", "the bake passed every threshold", metrics, started, None, None)

    def _finish(
        self,
        status: Literal["promoted", "rolled_back"],
        reason: str,
        metrics: ChallengerMetrics,
        started: float,
        breach: Breach | None,
        message_id: str | None,
    ) -> RolloutResult:
        result = RolloutResult(
            status=status,
            reason=reason,
            metrics=metrics,
            strategy=self.router.strategy,
            champion_version=self.router.versions["champion"],
            challenger_version=self.router.versions["challenger"],
            breach=breach,
            alert_message_id=message_id,
            seconds=round(self._clock() - started, 3),
        )
        self.router.result = result
        log.info("rollout of %s/%s: %s (%s)", self.tenant, self.model_name, status, reason)
        return result


__all__ = [
    "PREVIOUS",
    "STRATEGIES",
    "TARGET_HEADER",
    "Breach",
    "ChallengerMetrics",
    "Rollout",
    "RolloutAlert",
    "RolloutError",
    "RolloutPolicy",
    "RolloutPolicyError",
    "RolloutResult",
    "RolloutRouter",
    "Strategy",
    "canary_pick",
    "create_router_app",
    "find_breach",
    "publish_rollback_alert",
]
