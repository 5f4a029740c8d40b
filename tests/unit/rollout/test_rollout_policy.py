"""Pure parts of the rollout: policy validation, the canary split, p99 and the breach rules."""

from __future__ import annotations

import pytest

from core.percentiles import percentile
from pipelines.serving.rollout_policy import (
    Breach,
    ChallengerMetrics,
    RolloutAlert,
    RolloutPolicy,
    RolloutPolicyError,
    canary_pick,
    find_breach,
)
from pipelines.serving.router import RolloutRouter


def _metrics(requests: int, errors: int = 0, p99_ms: float | None = 10.0) -> ChallengerMetrics:
    return ChallengerMetrics(
        requests=requests, errors=errors, error_rate=errors / requests if requests else 0.0, p99_ms=p99_ms
    )


def test_a_policy_lists_every_bad_field():
    with pytest.raises(RolloutPolicyError) as caught:
        RolloutPolicy(bake_seconds=0, max_error_rate=1.5, max_p99_ms=-1, min_requests=0)
    message = str(caught.value)
    assert "4 problem(s)" in message
    for name in ("bake_seconds", "max_error_rate", "max_p99_ms", "min_requests"):
        assert name in message
    assert caught.value.exit_code == 2


def test_a_router_refuses_an_unknown_strategy_and_a_bad_weight():
    with pytest.raises(RolloutPolicyError) as caught:
        RolloutRouter(
            "http://a",
            "ftp://b",
            strategy="linear",
            champion_version=1,
            challenger_version=2,
            canary_weight=1.0,
        )  # type: ignore[arg-type]
    message = str(caught.value)
    assert "strategy: must be one of canary, blue-green, all-at-once, shadow (got 'linear')" in message
    assert "canary_weight" in message and "challenger_url" in message


@pytest.mark.parametrize("weight", [0.1, 0.25, 0.05, 1 / 3])
def test_the_canary_split_is_exact_over_any_prefix(weight):
    picks = [canary_pick(n, weight) for n in range(1000)]
    for n in (10, 97, 500, 1000):
        assert abs(sum(picks[:n]) - n * weight) <= 1


def test_p99_is_the_nearest_rank():
    assert percentile([], 99) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([1.0] * 98 + [500.0, 900.0], 99) == 500.0


def test_nothing_is_judged_before_min_requests_until_the_end():
    policy = RolloutPolicy(bake_seconds=1, max_error_rate=0.1, max_p99_ms=100, min_requests=10)
    assert find_breach(_metrics(5, errors=5), policy, final=False) is None
    assert find_breach(_metrics(5), policy, final=True) == Breach(metric="requests", value=5, threshold=10)


def test_error_rate_is_judged_before_latency():
    policy = RolloutPolicy(bake_seconds=1, max_error_rate=0.1, max_p99_ms=100, min_requests=10)
    assert find_breach(_metrics(10, errors=1, p99_ms=99), policy, final=True) is None
    breach = find_breach(_metrics(10, errors=2, p99_ms=500), policy, final=False)
    assert breach == Breach(metric="error_rate", value=0.2, threshold=0.1)
    assert find_breach(_metrics(10, p99_ms=101), policy, final=False) == Breach(
        metric="p99_ms", value=101, threshold=100
    )


def test_the_alert_names_tenant_model_versions_and_the_breached_threshold():
    alert = RolloutAlert(
        tenant="acme",
        model_name="churn",
        strategy="canary",
        champion_version=1,
        challenger_version=2,
        breach=Breach(metric="error_rate", value=0.5, threshold=0.05),
        metrics=_metrics(20, errors=10),
    )
    assert alert.subject == "tenantml acme/churn: version 2 rolled back (error_rate)"
    body = alert.body()
    assert "error rate 50.00% above the 5.00% limit" in body
    assert "Metric:     error_rate = 0.5 (threshold 0.05)" in body
    assert "version 1 serves all traffic again" in body
    attributes = alert.attributes()
    assert attributes["tenantml.metric"]["StringValue"] == "error_rate"
    assert attributes["tenantml.challenger_version"]["StringValue"] == "2"
