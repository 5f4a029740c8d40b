"""Rollouts end to end: the router proxies real model servers, the controller bakes the challenger
and either promotes it in the (moto) registry or rolls it back and alerts through (moto) SNS."""

from __future__ import annotations

import threading

import httpx
import pytest
from wait_support import wait_until

from pipelines.registry.interface import CHAMPION
from pipelines.serving.rollout import PREVIOUS, Rollout
from pipelines.serving.rollout_policy import RolloutError, RolloutPolicy

CSV = {"content-type": "text/csv"}


def _post(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return client.post(f"{url}/invocations", content=body, headers=CSV)


def _rollout(router, registry, topic=None, **policy) -> Rollout:
    defaults = {
        "bake_seconds": 1.5,
        "max_error_rate": 0.05,
        "max_p99_ms": 100,
        "min_requests": 10,
        "check_interval_seconds": 0.05,
    }
    return Rollout(
        router,
        RolloutPolicy(**{**defaults, **policy}),
        registry=registry,
        tenant="acme",
        model_name="default",
        sns=topic.sns if topic else None,
        topic_arn=topic.arn if topic else None,
    )


def test_canary_sends_its_share_to_the_challenger(model_server, router, csv_body):
    # given a champion (v1) and a challenger (v2) behind a 10 % canary that is baking
    champion, challenger = model_server("1"), model_server("2")
    canary, server = router(champion.url, challenger.url, "canary", canary_weight=0.1)
    canary.begin()
    # when 300 requests pass through it
    with httpx.Client() as client:
        responses = [_post(client, server.url, csv_body) for _ in range(300)]
        state = client.get(f"{server.url}/rollout").json()
    # then 30 went to the challenger, its answers carry its version, and every answer is a prediction
    targets = [r.headers["x-rollout-target"] for r in responses]
    assert abs(targets.count("challenger") - 30) <= 1
    assert all(r.status_code == 200 for r in responses)
    assert {
        r.headers["x-model-version"] for r in responses if r.headers["x-rollout-target"] == "challenger"
    } == {"2"}
    assert {
        r.headers["x-model-version"] for r in responses if r.headers["x-rollout-target"] == "champion"
    } == {"1"}
    assert state["phase"] == "baking" and state["served"] == {"champion": 270, "challenger": 30}
    assert state["challenger_metrics"]["requests"] == 30 and state["challenger_metrics"]["errors"] == 0


def test_blue_green_switches_all_traffic_at_once_and_back(model_server, router, csv_body):
    champion, challenger = model_server("1"), model_server("2")
    blue_green, server = router(champion.url, challenger.url, "blue-green")
    with httpx.Client() as client:
        # given a router that has not started baking / then the champion answers
        assert {_post(client, server.url, csv_body).headers["x-model-version"] for _ in range(5)} == {"1"}
        assert client.get(f"{server.url}/ping").json() == {"status": "ready", "target": "champion"}
        # when the bake begins / then every request goes to the challenger
        blue_green.begin()
        assert {_post(client, server.url, csv_body).headers["x-model-version"] for _ in range(20)} == {"2"}
        assert client.get(f"{server.url}/ping").json() == {"status": "ready", "target": "challenger"}
        # when it rolls back / then every request goes to the champion again
        blue_green.rollback()
        assert {_post(client, server.url, csv_body).headers["x-model-version"] for _ in range(20)} == {"1"}


def test_shadow_answers_from_the_champion_and_mirrors_to_the_challenger(
    model_server, router, registry, csv_body
):
    champion, challenger = model_server("1"), model_server("2")
    shadow, server = router(champion.url, challenger.url, "shadow")
    # a bake far longer than the test, ended by stop() once the mirrored copies are all counted
    rollout = _rollout(shadow, registry, bake_seconds=600, max_p99_ms=1000, min_requests=5)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("result", rollout.run()))
    runner.start()
    with httpx.Client() as client:
        wait_until(lambda: shadow.phase == "baking")
        responses = [_post(client, server.url, csv_body) for _ in range(40)]
    wait_until(lambda: shadow.metrics().requests == 40, message=lambda: f"mirrored {shadow.metrics()}")
    rollout.stop()
    runner.join(30)
    result = outcome["result"]
    # then every answer came from the champion
    assert {
        (r.status_code, r.headers["x-model-version"], r.headers["x-rollout-target"]) for r in responses
    } == {(200, "1", "champion")}
    # and the challenger's own server received the mirrored copies, with the same predictions
    challenger_counts = challenger.server.config.app.state.server.responses
    assert challenger_counts[200] == 40
    assert result.metrics.requests == 40 and result.metrics.shadow_matches == 40
    assert result.status == "promoted"


def test_a_failing_challenger_is_rolled_back_and_alerted_during_the_canary(
    model_server, servers, router, registry, topic, traffic, faulty, csv_body
):
    # given a challenger whose every /invocations is a 500, behind a 20 % canary
    champion = model_server("1")
    bad = faulty(fail_every=1)
    challenger = servers(bad.app())
    canary, server = router(champion.url, challenger.url, "canary", canary_weight=0.2)
    rollout = _rollout(canary, registry, topic, bake_seconds=600)
    # when traffic flows through the bake
    with traffic(server.url, csv_body):
        result = rollout.run()
        seen = len(bad.received)
        with httpx.Client() as client:
            after = [_post(client, server.url, csv_body) for _ in range(30)]
    # then it rolled back by itself well before the bake ended, on the error rate
    assert result.status == "rolled_back"
    assert result.breach is not None and result.breach.metric == "error_rate"
    assert result.breach.value == 1.0 and result.breach.threshold == 0.05
    assert result.seconds < 600
    assert result.metrics.requests >= 10 and result.metrics.errors == result.metrics.requests
    # and from then on the champion answers everything; the challenger gets nothing more
    assert {(r.status_code, r.headers["x-model-version"]) for r in after} == {(200, "1")}
    assert len(bad.received) <= seen + 2  # at most requests already in flight at the switch
    # and the registry's champion is unchanged
    assert registry.get_version_by_alias(CHAMPION).version == 1
    # and one alert names tenant, model, versions, the metric and its threshold
    messages = topic.messages()
    assert len(messages) == 1
    message = messages[0]
    assert message["Subject"] == "tenantml acme/default: version 2 rolled back (error_rate)"
    assert "error rate 100.00% above the 5.00% limit" in message["Message"]
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes["tenantml.tenant"] == "acme" and attributes["tenantml.model"] == "default"
    assert attributes["tenantml.champion_version"] == "1" and attributes["tenantml.challenger_version"] == "2"
    assert attributes["tenantml.threshold"] == "0.05"
    assert message["MessageId"] == result.alert_message_id


def test_a_slow_challenger_breaches_p99_and_is_rolled_back(
    model_server, servers, router, registry, topic, traffic, faulty, csv_body
):
    champion = model_server("1")
    challenger = servers(faulty(delay=0.15).app())
    blue_green, server = router(champion.url, challenger.url, "blue-green")
    rollout = _rollout(blue_green, registry, topic, bake_seconds=2.0, min_requests=5)
    with traffic(server.url, csv_body, clients=4):
        result = rollout.run()
    assert result.status == "rolled_back"
    assert result.breach is not None and result.breach.metric == "p99_ms"
    assert result.breach.value >= 150 and result.breach.threshold == 100
    assert registry.get_version_by_alias(CHAMPION).version == 1
    assert [m["Subject"] for m in topic.messages()] == [
        "tenantml acme/default: version 2 rolled back (p99_ms)"
    ]
    assert blue_green.primary() == "champion"


def test_a_healthy_challenger_is_promoted_after_the_bake(
    model_server, router, registry, topic, traffic, csv_body
):
    champion, challenger = model_server("1"), model_server("2")
    canary, server = router(champion.url, challenger.url, "canary", canary_weight=0.25)
    rollout = _rollout(canary, registry, topic, bake_seconds=1.0, max_p99_ms=250)
    with traffic(server.url, csv_body):
        result = rollout.run()
        with httpx.Client() as client:
            after = {_post(client, server.url, csv_body).headers["x-model-version"] for _ in range(10)}
            state = client.get(f"{server.url}/rollout").json()
    # then it baked the whole time and was promoted in the registry, the old champion kept as previous
    assert result.status == "promoted", result.reason
    assert result.seconds >= 1.0 and result.metrics.errors == 0 and result.metrics.requests >= 10
    assert registry.get_version_by_alias(CHAMPION).version == 2
    assert registry.get_version_by_alias(PREVIOUS).version == 1
    # and all traffic goes to it; nothing was alerted
    assert after == {"2"}
    assert state["phase"] == "promoted" and state["result"]["status"] == "promoted"
    assert topic.messages() == []


def test_a_bake_without_enough_traffic_rolls_back(model_server, router, registry, topic):
    champion, challenger = model_server("1"), model_server("2")
    canary, _ = router(champion.url, challenger.url, "canary")
    result = _rollout(canary, registry, topic, bake_seconds=0.3).run()
    assert result.status == "rolled_back" and result.breach.metric == "requests"
    assert "only 0 challenger request(s)" in result.reason
    assert registry.get_version_by_alias(CHAMPION).version == 1
    assert len(topic.messages()) == 1


def test_all_at_once_bakes_and_rolls_back_a_slow_challenger(
    model_server, servers, router, registry, topic, traffic, faulty, csv_body
):
    # given a challenger slower than the p99 limit, rolled out all at once
    champion = model_server("1")
    challenger = servers(faulty(delay=0.15).app())
    at_once, server = router(champion.url, challenger.url, "all-at-once")
    rollout = _rollout(at_once, registry, topic, bake_seconds=30, min_requests=5)
    # when traffic flows / then it is judged like any other strategy and rolled back, not promoted
    with traffic(server.url, csv_body, clients=4):
        result = rollout.run()
    assert result.status == "rolled_back" and result.breach is not None
    assert result.breach.metric == "p99_ms" and result.breach.threshold == 100
    assert registry.get_version_by_alias(CHAMPION).version == 1
    assert at_once.primary() == "champion"
    assert [m["Subject"] for m in topic.messages()] == [
        "tenantml acme/default: version 2 rolled back (p99_ms)"
    ]


def test_all_at_once_promotes_after_a_clean_bake(model_server, router, registry, traffic, csv_body):
    champion, challenger = model_server("1"), model_server("2")
    at_once, server = router(champion.url, challenger.url, "all-at-once")
    with traffic(server.url, csv_body):
        result = _rollout(at_once, registry, bake_seconds=1.0, max_p99_ms=1000).run()
    assert result.status == "promoted", result.reason
    assert result.reason == "the bake passed every threshold"
    assert result.metrics.requests >= 10 and result.metrics.p99_ms is not None
    assert registry.get_version_by_alias(CHAMPION).version == 2
    assert (
        httpx.post(f"{server.url}/invocations", content=csv_body, headers=CSV).headers["x-model-version"]
        == "2"
    )


def test_promotion_refuses_when_the_champion_moved_meanwhile(
    model_server, router, registry, traffic, csv_body
):
    champion, challenger = model_server("1"), model_server("2")
    at_once, server = router(champion.url, challenger.url, "all-at-once")
    registry.set_alias(CHAMPION, 2)  # someone else promoted in between
    with traffic(server.url, csv_body), pytest.raises(RolloutError) as caught:
        _rollout(at_once, registry, bake_seconds=0.5, max_p99_ms=1000, min_requests=1).run()
    assert "moved to version 2 during the rollout (it was 1)" in str(caught.value)
    assert at_once.phase == "rolled_back" and at_once.result.status == "rolled_back"
