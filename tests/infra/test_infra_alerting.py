"""AlertTopic and alarms: an encrypted SNS topic, its e-mail subscriptions, and alarms wired to it."""

from __future__ import annotations

import pytest
from infra_support import bodies, only, role_policy, statement, synth

from core.contract import metrics_namespace
from core.errors import ConstructPropsError
from infra import actions, cdk
from infra.alerting import AlarmProps, AlertTopic, AlertTopicProps, grant_put_metrics


@pytest.fixture
def topic(stack, naming, key) -> AlertTopic:
    return AlertTopic(
        stack,
        "Alerts",
        AlertTopicProps(naming=naming, key=key, emails=("oncall@example.com", "team@example.com")),
    )


def _alarm(**overrides) -> AlarmProps:
    fields = {
        "component": "drift",
        "description": "drift above threshold",
        "metric_name": "DriftScore",
        "namespace": metrics_namespace("acme"),
        "threshold": 0.2,
    }
    fields.update(overrides)
    return AlarmProps(**fields)


def test_given_an_alert_topic_when_synthesized_then_it_is_encrypted_with_the_tenant_key(stack, topic):
    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_sns_topic",
        {"name": "tenantml-acme-dev-alerts", "kms_master_key_id": "${aws_kms_key.key.arn}"},
    )
    assert topic.topic_arn == "${aws_sns_topic.alerts.arn}"


def test_given_an_alert_topic_when_synthesized_then_an_encrypted_internal_alarms_topic_sits_next_to_it(
    stack, topic
):
    # when
    _, doc = synth(stack)

    # then
    topics = bodies(doc, "aws_sns_topic")
    assert topics == {
        "alerts": {"name": "tenantml-acme-dev-alerts", "kms_master_key_id": "${aws_kms_key.key.arn}"},
        "alerts_alarms": {"name": "tenantml-acme-dev-alarms", "kms_master_key_id": "${aws_kms_key.key.arn}"},
    }
    assert topic.alarms_topic_arn == "${aws_sns_topic.alerts_alarms.arn}"


def test_given_e_mail_addresses_when_synthesized_then_people_subscribe_to_alerts_and_never_to_raw_alarms(
    stack, topic
):
    # when
    _, doc = synth(stack)

    # then
    subscribed = {s["topic_arn"] for s in bodies(doc, "aws_sns_topic_subscription").values()}
    assert subscribed == {"${aws_sns_topic.alerts.arn}"}


def test_given_two_addresses_when_synthesized_then_each_gets_exactly_one_email_subscription(stack, topic):
    # when
    _, doc = synth(stack)

    # then
    subscriptions = bodies(doc, "aws_sns_topic_subscription")
    assert sorted((s["protocol"], s["endpoint"]) for s in subscriptions.values()) == [
        ("email", "oncall@example.com"),
        ("email", "team@example.com"),
    ]
    assert {s["topic_arn"] for s in subscriptions.values()} == {"${aws_sns_topic.alerts.arn}"}


def test_given_no_addresses_when_synthesized_then_there_is_a_topic_and_no_subscription(stack, naming, key):
    # given
    AlertTopic(stack, "Alerts", AlertTopicProps(naming=naming, key=key))

    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource(text, "aws_sns_topic")
    assert not cdk.Testing.to_have_resource(text, "aws_sns_topic_subscription")


def test_given_an_alarm_when_synthesized_then_alarm_and_ok_transitions_notify_the_internal_alarms_topic(
    stack, topic
):
    # given
    topic.add_alarm(
        _alarm(dimensions={"Tenant": "acme", "Model": "churn"}, evaluation_periods=3, datapoints_to_alarm=2)
    )

    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_cloudwatch_metric_alarm") == {
        "alarm_name": "tenantml-acme-dev-drift",
        "alarm_description": "drift above threshold",
        "namespace": "TenantML/acme",
        "metric_name": "DriftScore",
        "dimensions": {"Tenant": "acme", "Model": "churn"},
        "statistic": "Maximum",
        "period": 60,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
        "threshold": 0.2,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching",
        "alarm_actions": ["${aws_sns_topic.alerts_alarms.arn}"],
        "ok_actions": ["${aws_sns_topic.alerts_alarms.arn}"],
    }
    assert sorted(topic.alarms) == ["drift"]


def test_given_a_percentile_alarm_when_synthesized_then_it_uses_the_extended_statistic_only(stack, topic):
    # given
    topic.add_alarm(
        _alarm(component="latency-p99", metric_name="LatencyMs", statistic=None, extended_statistic="p99")
    )

    # when
    _, doc = synth(stack)

    # then
    body = bodies(doc, "aws_cloudwatch_metric_alarm")["alerts_alarm_latency_p99"]
    assert body["extended_statistic"] == "p99"
    assert "statistic" not in body
    assert "dimensions" not in body


def test_given_an_alarm_with_an_empty_dimension_value_when_added_then_the_dimension_is_named(topic):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        topic.add_alarm(_alarm(dimensions={"Tenant": "acme", "Model": ""}))

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("drift.dimensions", "dimension values must not be empty", ["Model"])
    ]


def test_given_an_alarm_dimension_that_is_a_reference_when_added_then_it_is_accepted(stack, topic):
    # when
    topic.add_alarm(_alarm(dimensions={"QueueName": "${aws_sqs_queue.dlq.name}"}))
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_cloudwatch_metric_alarm")["dimensions"] == {
        "QueueName": "${aws_sqs_queue.dlq.name}"
    }


def test_given_a_role_when_the_topic_grants_publish_then_it_may_publish_to_that_topic_and_encrypt(
    stack, topic, role
):
    # when
    topic.grant_publish(role)
    _, doc = synth(stack)
    granted = role_policy(doc, "worker")

    # then
    assert statement(granted, "PublishAlerts") == {
        "Sid": "PublishAlerts",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": ["${aws_sns_topic.alerts.arn}"],
    }
    assert "kms:GenerateDataKey" in statement(granted, "TenantKeyEncryptDecrypt")["Action"]


def test_given_a_role_when_granted_put_metrics_then_it_is_limited_to_the_tenants_namespace(stack, role):
    # when
    grant_put_metrics(role, metrics_namespace("acme"))
    _, doc = synth(stack)

    # then
    assert statement(role_policy(doc, "worker"), "PutTenantMetrics") == {
        "Sid": "PutTenantMetrics",
        "Effect": "Allow",
        "Action": list(actions.CLOUDWATCH_PUT_METRICS),
        "Resource": ["*"],
        "Condition": {"StringEquals": {"cloudwatch:namespace": "TenantML/acme"}},
    }


# --- props rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        (("not-an-address",), [("emails", "not an e-mail address", "not-an-address")]),
        (("a@b",), [("emails", "not an e-mail address", "a@b")]),
        (
            ("x@example.com", "x@example.com"),
            [("emails", "duplicate addresses", ["x@example.com", "x@example.com"])],
        ),
    ],
    ids=["no-at-sign", "no-domain-dot", "duplicate"],
)
def test_given_bad_alert_addresses_when_props_are_built_then_each_is_named(naming, key, emails, expected):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        AlertTopicProps(naming=naming, key=key, emails=emails)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == expected
    assert "emails: " in str(caught.value)


def test_given_valid_alert_addresses_when_props_are_built_then_they_are_kept(naming, key):
    # when
    props = AlertTopicProps(
        naming=naming, key=key, emails=("oncall@example.com", "ml.team+alerts@corp.example.org")
    )

    # then
    assert props.emails == ("oncall@example.com", "ml.team+alerts@corp.example.org")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"statistic": None},
            ("drift.statistic", "set exactly one of statistic and extended_statistic", None),
        ),
        (
            {"extended_statistic": "p99"},
            ("drift.statistic", "set exactly one of statistic and extended_statistic", None),
        ),
        ({"period_seconds": 45}, ("drift.period_seconds", "must be 10, 30 or a multiple of 60", 45)),
        ({"period_seconds": 90}, ("drift.period_seconds", "must be 10, 30 or a multiple of 60", 90)),
        (
            {"datapoints_to_alarm": 2},
            ("drift.datapoints_to_alarm", "must be between 1 and evaluation_periods", 2),
        ),
        (
            {"datapoints_to_alarm": 0},
            ("drift.datapoints_to_alarm", "must be between 1 and evaluation_periods", 0),
        ),
    ],
    ids=[
        "no-statistic",
        "both-statistics",
        "period-45",
        "period-90",
        "datapoints-above-periods",
        "datapoints-0",
    ],
)
def test_given_a_broken_alarm_setting_when_props_are_built_then_the_field_and_value_are_named(
    fields, expected
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        _alarm(**fields)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [expected]
    assert f"{expected[0]}: {expected[1]}" in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"period_seconds": 10},
        {"period_seconds": 30},
        {"period_seconds": 300},
        {"statistic": None, "extended_statistic": "p99"},
        {"evaluation_periods": 5, "datapoints_to_alarm": 5},
    ],
    ids=["period-10", "period-30", "period-300", "extended-statistic", "datapoints-equal-periods"],
)
def test_given_valid_alarm_settings_when_props_are_built_then_they_are_kept(fields):
    # when
    props = _alarm(**fields)

    # then
    assert {name: getattr(props, name) for name in fields} == fields


@pytest.mark.parametrize("period", [0, -60])
def test_given_a_non_positive_alarm_period_when_props_are_built_then_it_is_rejected(period):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        _alarm(period_seconds=period)

    # then
    assert [(p.location, p.value) for p in caught.value.problems] == [("drift.period_seconds", period)]


# --- the tenant stack -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["churn", "fraud"])
def test_given_an_example_tenant_when_synthesized_then_only_the_alarm_lambda_hears_the_alarms_topic(
    example_stacks, name
):
    # given
    doc = example_stacks[name].doc

    # then
    alarms_topic = "${aws_sns_topic.alerts_alarms.arn}"
    alerts_topic = "${aws_sns_topic.alerts.arn}"
    # which alarms notify which topic: tests/infra/test_infra_failure_alerts.py
    on_alarms = [
        s for s in bodies(doc, "aws_sns_topic_subscription").values() if s["topic_arn"] == alarms_topic
    ]
    assert [(s["protocol"], s["endpoint"]) for s in on_alarms] == [
        ("lambda", "${aws_lambda_function.functions_alarm.arn}")
    ]
    on_alerts = [
        s for s in bodies(doc, "aws_sns_topic_subscription").values() if s["topic_arn"] == alerts_topic
    ]
    assert {s["protocol"] for s in on_alerts} == {"email"}
    permission = bodies(doc, "aws_lambda_permission")["functions_alarm_allow_sns"]
    assert permission["source_arn"] == alarms_topic
    assert doc["output"]["alarms_topic_arn"]["value"] == alarms_topic
    assert doc["output"]["alerts_topic_arn"]["value"] == alerts_topic


@pytest.mark.parametrize("name", ["churn", "fraud"])
def test_given_an_example_tenant_when_synthesized_then_the_alarm_lambda_may_publish_alerts_and_knows_both_topics(
    example_stacks, name
):
    # given
    doc = example_stacks[name].doc
    function = bodies(doc, "aws_lambda_function")["functions_alarm"]
    variables = (
        function["environment"][0]["variables"]
        if isinstance(function["environment"], list)
        else function["environment"]["variables"]
    )

    # then
    assert variables["TENANTML_ALERTS_TOPIC_ARN"] == "${aws_sns_topic.alerts.arn}"
    assert variables["TENANTML_ALARMS_TOPIC_ARN"] == "${aws_sns_topic.alerts_alarms.arn}"
    role = function["role"].removeprefix("${").removesuffix(".arn}").split(".", 1)[1]
    assert statement(role_policy(doc, role), "PublishAlerts")["Resource"] == ["${aws_sns_topic.alerts.arn}"]
