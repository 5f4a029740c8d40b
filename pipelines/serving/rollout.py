"""Rolling out a challenger model: a local router in front of two model servers, and its controller.

:class:`~pipelines.serving.router.RolloutRouter` is the traffic side: a reverse proxy in front of
the two servers (:mod:`pipelines.serving.router`). The policy, metrics and alert are in
:mod:`pipelines.serving.rollout_policy`.

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

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from botocore.exceptions import ClientError

from core.errors import ModelRegistryError
from pipelines.registry.interface import CHAMPION, ModelRegistry
from pipelines.serving.rollout_policy import (
    Breach,
    ChallengerMetrics,
    RolloutAlert,
    RolloutError,
    RolloutPolicy,
    RolloutResult,
    find_breach,
    publish_rollback_alert,
)
from pipelines.serving.router import RolloutRouter

log = logging.getLogger(__name__)


#: the alias the old champion gets on promotion
PREVIOUS = "previous"


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
        moves_alias: bool = True,
    ) -> None:
        self.router = router
        #: False when the registry moved first and serving follows it (``pipelines.serving.follow``):
        #: a clean bake then only switches traffic, since the alias already names the challenger
        self.moves_alias = moves_alias
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
        if not self.moves_alias:
            self.router.promote()
            return self._finish("promoted", "the bake passed every threshold", metrics, started, None, None)
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
