"""Failures reach people: platform-failure alarms notify ``alerts``, and a failed event is dead-lettered once."""

from __future__ import annotations

import pytest
from infra_support import bodies, only, synth

from infra.alerting import AlarmProps, AlertTopic, AlertTopicProps

ALERTS = "${aws_sns_topic.alerts.arn}"
ALARMS = "${aws_sns_topic.alerts_alarms.arn}"
HANDLERS = ("data_arrival", "monitor", "alarm")


@pytest.fixture(params=["churn", "fraud"])
def doc(request, example_stacks) -> dict:
    return example_stacks[request.param].doc


def _actions_by_name(doc: dict) -> dict[str, tuple[list[str], list[str]]]:
    return {
        a["alarm_name"].split("-", 3)[-1]: (a["alarm_actions"], a["ok_actions"])
        for a in bodies(doc, "aws_cloudwatch_metric_alarm").values()
    }


def test_given_an_example_tenant_when_synthesized_then_handler_error_and_dead_letter_alarms_notify_people(
    doc,
):
    # when
    actions = _actions_by_name(doc)

    # then: the data-arrival and alarm handlers run the pipelines, so their errors are pipeline failures
    for handler in HANDLERS:
        component = handler.replace("_", "-")
        for alarm in (f"{component}-errors", f"{component}-dead-letters"):
            assert actions[alarm] == ([ALERTS], [ALERTS]), alarm


def test_given_an_example_tenant_when_synthesized_then_only_model_health_alarms_go_to_the_alarm_lambda(doc):
    # when
    actions = _actions_by_name(doc)

    # then
    to_handler = sorted(name for name, (alarm, _) in actions.items() if alarm == [ALARMS])
    assert [n for n in to_handler if not n.startswith("endpoint-")] == [
        "drift",
        "error-rate",
        "latency-p99",
        "live-quality",
    ]


def test_given_an_example_tenant_when_synthesized_then_the_alarm_lambda_alone_hears_the_internal_topic(doc):
    # when
    subscriptions = [
        s for s in bodies(doc, "aws_sns_topic_subscription").values() if s["topic_arn"] == ALARMS
    ]

    # then
    assert [(s["protocol"], s["endpoint"]) for s in subscriptions] == [
        ("lambda", "${aws_lambda_function.functions_alarm.arn}")
    ]


def test_given_an_example_tenant_when_synthesized_then_each_function_has_exactly_one_dead_letter_path(doc):
    # given
    functions = bodies(doc, "aws_lambda_function")
    configs = bodies(doc, "aws_lambda_function_event_invoke_config")

    # then
    for name, fn in functions.items():
        assert "dead_letter_config" not in fn, name
        (config,) = [
            c
            for c in configs.values()
            if c["function_name"] == f"${{aws_lambda_function.{name}.function_name}}"
        ]
        destination = config["destination_config"][0]["on_failure"][0]["destination"]
        assert destination == f"${{aws_sqs_queue.{name}_dead_letters.arn}}", name


def test_given_an_alarm_for_people_when_synthesized_then_its_transitions_notify_the_alerts_topic(
    stack, naming, key
):
    # given
    topic = AlertTopic(stack, "Alerts", AlertTopicProps(naming=naming, key=key))
    topic.add_alarm(
        AlarmProps(
            component="monitor-errors",
            description="the monitor failed",
            namespace="AWS/Lambda",
            metric_name="Errors",
            threshold=0,
            statistic="Sum",
            notify="people",
        )
    )

    # when
    _, synthesized = synth(stack)

    # then
    alarm = only(synthesized, "aws_cloudwatch_metric_alarm")
    assert (alarm["alarm_actions"], alarm["ok_actions"]) == ([ALERTS], [ALERTS])
