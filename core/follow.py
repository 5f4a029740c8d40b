"""The guardrails a champion bakes under when serving follows the registry's ``champion`` alias.

One derivation for every follower: ``tenantml up`` on the emulator (``tenantml.lifecycle``) and the
EKS pods and EC2 instances on AWS (``infra.serving``, whose stacks may not import ``pipelines``).
The thresholds are the tenant's own alarm thresholds, so a followed promotion is judged as the
serving alarms would judge it; only the bake length differs between the emulator and AWS.
"""

from __future__ import annotations

from typing import TypedDict

from core.spec import TenantSpec

#: challenger requests a bake must see before it can pass: fewer proves nothing
FOLLOW_MIN_REQUESTS = 50
#: a spec with ``bake_minutes: 0`` (SageMaker's "no bake") still bakes this long on a follower:
#: the rollout controller judges a challenger on the requests it saw, and none were seen at once
MIN_AWS_BAKE_SECONDS = 60.0


class FollowGuardrails(TypedDict):
    """The fields of ``pipelines.serving.rollout_policy.RolloutPolicy`` a follower sets."""

    bake_seconds: float
    max_error_rate: float
    max_p99_ms: float
    min_requests: int


def follow_guardrails(spec: TenantSpec, *, bake_seconds: float) -> FollowGuardrails:
    """The tenant's error-rate and p99 alarm thresholds, over a bake of ``bake_seconds``."""
    return {
        "bake_seconds": bake_seconds,
        "max_error_rate": spec.monitoring.error_rate,
        "max_p99_ms": spec.monitoring.latency_p99_ms,
        "min_requests": FOLLOW_MIN_REQUESTS,
    }


def aws_follow_bake_seconds(spec: TenantSpec) -> float:
    """A follower on AWS bakes as long as the spec's SageMaker canary (``serving.bake_minutes``)."""
    return max(spec.serving.bake_minutes * 60.0, MIN_AWS_BAKE_SECONDS)


__all__ = [
    "FOLLOW_MIN_REQUESTS",
    "MIN_AWS_BAKE_SECONDS",
    "FollowGuardrails",
    "aws_follow_bake_seconds",
    "follow_guardrails",
]
