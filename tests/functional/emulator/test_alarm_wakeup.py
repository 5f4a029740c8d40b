"""The alarm evaluator wakes up for new metric data instead of waiting for its next tick."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_alarm_evaluator import describe, put_drift, put_drift_alarm, receive, topic_with_queue

from core.errors import EmulatorError
from tenantml.emulator.alarm_evaluator import AlarmEvaluator
from tenantml.emulator.session import AwsSession


@pytest.fixture
def slow_ticking(aws: AwsSession) -> Iterator[AlarmEvaluator]:
    """An evaluator whose tick (30 s) is far longer than the test: only the wake-up can notify in time."""
    running = AlarmEvaluator(aws.endpoint, interval=30.0, wake_interval=0.05).start()
    try:
        yield running
    finally:
        running.stop()


def test_given_a_long_tick_when_a_breaching_datum_arrives_then_the_alarm_fires_within_a_fraction_of_a_second(
        aws: AwsSession, slow_ticking: AlarmEvaluator) -> None:
    topic_arn, queue_url = topic_with_queue(aws, "wakeup")
    put_drift_alarm(aws, topic_arn)
    time.sleep(0.3)  # the new alarm's first pass (INSUFFICIENT_DATA) is done

    sent = time.monotonic()
    put_drift(aws, 0.9)
    messages = receive(aws, queue_url, timeout=3)
    latency = time.monotonic() - sent

    assert [m["Subject"].split('"')[0] for m in messages] == ["ALARM: "]
    assert latency < 1.5
    assert describe(aws)["StateValue"] == "ALARM"


def test_given_a_non_positive_wake_interval_when_building_then_the_error_names_it(aws: AwsSession) -> None:
    with pytest.raises(EmulatorError, match="wake-up interval"):
        AlarmEvaluator(aws.endpoint, wake_interval=0)
