"""What a rollout is judged by: the policy, the challenger's metrics, breaches, the result and the alert.

Pure parts of :mod:`pipelines.serving.rollout`: the guardrails (error rate, p99 by nearest rank,
minimum requests), the deterministic canary split and the rollback alert sent to the tenant's
``alerts`` topic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.errors import Problem, ProblemsError, ServingError
from pipelines.registry.interface import CHAMPION

_SUBJECT_LIMIT = 100


#: how the challenger gets traffic while it bakes (see :mod:`pipelines.serving.rollout`)
Strategy = Literal["canary", "blue-green", "all-at-once", "shadow"]
STRATEGIES: tuple[str, ...] = ("canary", "blue-green", "all-at-once", "shadow")
Phase = Literal["pending", "baking", "promoted", "rolled_back"]
Target = Literal["champion", "challenger"]


class RolloutPolicyError(ProblemsError):
    """A rollout policy or router setting is out of range; every bad field is listed."""

    exit_code = 2
    headline = "invalid rollout settings"


class RolloutError(ServingError):
    """A rollout could not finish as asked (the registry changed under it, or refused the alias move)."""


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
