"""A failed monitoring job reaches people: the EventBridge rule, its target on ``alerts``, and the policies it needs."""

from __future__ import annotations

import json

import pytest
from infra_support import only, policy, statement

ALERTS = "${aws_sns_topic.alerts.arn}"
RULE = "aws_cloudwatch_event_rule.monitor_job_failed"


@pytest.fixture(params=["churn", "fraud"])
def tenant(request, example_specs, example_stacks):
    spec = next(s for s in example_specs if s.name == request.param)
    return spec, example_stacks[request.param].doc


def test_given_an_example_tenant_then_a_rule_matches_its_failed_monitoring_jobs_by_name_prefix(tenant):
    spec, doc = tenant
    prefix = f"tenantml-{spec.name}-{spec.environment.value}"

    rule = only(doc, "aws_cloudwatch_event_rule")

    assert rule["name"] == f"{prefix}-monitor-job-failed"
    assert rule["state"] == "ENABLED"
    assert json.loads(rule["event_pattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {
            "ProcessingJobStatus": ["Failed"],
            "ProcessingJobName": [{"prefix": f"{prefix}-monitor-"}],
        },
    }


def test_given_an_example_tenant_then_the_target_sends_a_readable_message_to_alerts(tenant):
    spec, doc = tenant

    target = only(doc, "aws_cloudwatch_event_target")

    assert target["rule"] == f"${{{RULE}.name}}"
    assert target["arn"] == ALERTS
    assert "role_arn" not in target  # SNS targets are authorized by the topic policy alone
    transformer = target["input_transformer"]
    assert transformer["input_paths"] == {
        "job": "$.detail.ProcessingJobName",
        "reason": "$.detail.FailureReason",
        "arn": "$.detail.ProcessingJobArn",
        "time": "$.time",
    }
    message = json.loads(transformer["input_template"])  # a JSON string: SNS gets plain text
    assert message.startswith(
        f"tenantml {spec.name} ({spec.environment.value}): monitoring job <job> failed at <time>: <reason>"
    )


def test_given_an_example_tenant_then_the_alerts_policy_lets_eventbridge_publish_for_that_rule_only(tenant):
    _, doc = tenant

    topic_policy = only(doc, "aws_sns_topic_policy")
    document = policy(topic_policy)

    assert topic_policy["arn"] == ALERTS
    events = statement(document, "FailedMonitoringJobs")
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == ["sns:Publish"] and events["Resource"] == ALERTS
    assert events["Condition"] == {"ArnEquals": {"aws:SourceArn": f"${{{RULE}.arn}}"}}
    # the account keeps what SNS's default policy gives it (its roles and its alarms still publish)
    owner = statement(document, "AccountOwner")
    assert owner["Principal"] == {"AWS": "*"} and "sns:Publish" in owner["Action"]
    assert set(owner["Condition"]["StringEquals"]) == {"AWS:SourceOwner"}


def test_given_an_example_tenant_then_the_tenant_key_lets_eventbridge_use_it_for_the_encrypted_topic(tenant):
    _, doc = tenant

    key_policy = policy(only(doc, "aws_kms_key"))
    events = statement(key_policy, "EventBridgeToEncryptedTopic")

    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert set(events["Condition"]["StringEquals"]) == {"aws:SourceAccount"}


def test_given_a_tenant_with_feature_views_then_its_failed_features_jobs_alert_too(
    example_specs, example_stacks
):
    # given: shop declares feature views; churn does not
    spec = next(s for s in example_specs if s.name == "shop")
    doc, plain = example_stacks["shop"].doc, example_stacks["churn"].doc
    prefix = f"tenantml-{spec.name}-{spec.environment.value}"
    features_rule = "aws_cloudwatch_event_rule.monitor_job_failed_features_rule"

    # when
    rules = doc["resource"]["aws_cloudwatch_event_rule"]
    targets = doc["resource"]["aws_cloudwatch_event_target"]
    events = statement(policy(only(doc, "aws_sns_topic_policy")), "FailedMonitoringJobs")

    # then: a second rule matches the tenant's failed features jobs, and its target explains them
    rule = rules["monitor_job_failed_features_rule"]
    assert json.loads(rule["event_pattern"])["detail"] == {
        "ProcessingJobStatus": ["Failed"],
        "ProcessingJobName": [{"prefix": f"{prefix}-features-"}],
    }
    target = targets["monitor_job_failed_features_target"]
    assert target["rule"] == f"${{{features_rule}.name}}" and target["arn"] == ALERTS
    assert json.loads(target["input_transformer"]["input_template"]).startswith(
        f"tenantml {spec.name} ({spec.environment.value}): features job <job> failed at <time>: <reason>"
    )
    # and EventBridge may publish for exactly these two rules
    assert events["Condition"] == {
        "ArnEquals": {"aws:SourceArn": [f"${{{RULE}.arn}}", f"${{{features_rule}.arn}}"]}
    }
    # and a tenant without views has no such rule
    assert "monitor_job_failed_features_rule" not in plain["resource"]["aws_cloudwatch_event_rule"]
