"""The alarm evaluator wakes up for new metric data instead of waiting for its next tick."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_alarm_evaluator import describe, put_drift, put_drift_alarm, receive, topic_with_queue
from wait_support import wait_until

from core.errors import EmulatorError
from tenantml.emulator.alarm_evaluator import AlarmEvaluator
from tenantml.emulator.session import AwsSession


@pytest.fixture
def slow_ticking(aws: AwsSession) -> Iterator[AlarmEvaluator]:
    """An evaluator whose tick (an hour) is far longer than the test: after the first pass, only
    the wake-up can notify."""
    running = AlarmEvaluator(aws.endpoint, interval=3600.0, wake_interval=0.05).start()
    try:
        yield running
    finally:
        running.stop()


def test_given_a_long_tick_when_a_breaching_datum_arrives_then_the_alarm_fires_without_waiting_for_the_tick(
    aws: AwsSession, slow_ticking: AlarmEvaluator
) -> None:
    topic_arn, queue_url = topic_with_queue(aws, "wakeup")
    put_drift_alarm(aws, topic_arn)
    # a pass has seen the new alarm (CloudWatch starts it in INSUFFICIENT_DATA; moto in OK)
    wait_until(lambda: describe(aws)["StateValue"] == "INSUFFICIENT_DATA")

    put_drift(aws, 0.9)
    messages = receive(aws, queue_url, timeout=30)

    assert [m["Subject"].split('"')[0] for m in messages] == ["ALARM: "]
    assert describe(aws)["StateValue"] == "ALARM"


def test_given_a_non_positive_wake_interval_when_building_then_the_error_names_it(aws: AwsSession) -> None:
    with pytest.raises(EmulatorError, match="wake-up interval"):
        AlarmEvaluator(aws.endpoint, wake_interval=0)
