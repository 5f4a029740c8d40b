"""The live-quality alarm and the monitor's read of labels/, on the synthesized JSON."""

from __future__ import annotations

import pytest
from infra_support import bodies, role_policy, synthesize_specs

from core.contract import LIVE_QUALITY_METRIC, metrics_namespace
from core.spec import ProblemType


@pytest.mark.parametrize("name", ["churn", "fraud"])
def test_given_an_example_tenant_then_a_live_quality_alarm_fires_below_the_minimum_metric(
    example_stacks, example_specs, name
):
    spec = next(s for s in example_specs if s.name == name)
    alarm = bodies(example_stacks[name].doc, "aws_cloudwatch_metric_alarm")["alerts_alarm_live_quality"]

    assert alarm["metric_name"] == LIVE_QUALITY_METRIC
    assert alarm["namespace"] == metrics_namespace(name)
    assert alarm["dimensions"] == {"Tenant": name, "Model": spec.model.name, "Metric": "roc_auc"}
    assert alarm["threshold"] == spec.model.minimum_metric
    assert alarm["comparison_operator"] == "LessThanThreshold"
    assert alarm["statistic"] == "Minimum"
    assert alarm["treat_missing_data"] == "notBreaching"
    # like the drift alarm: the alarm Lambda alerts people and asks for a retrain
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts_alarms.arn}"]
    assert alarm["ok_actions"] == ["${aws_sns_topic.alerts_alarms.arn}"]


def test_given_a_lower_is_better_metric_then_the_alarm_fires_above_the_threshold(example_specs, tmp_path):
    churn = next(s for s in example_specs if s.name == "churn")
    model = churn.model.model_copy(
        update={
            "problem": ProblemType.REGRESSION,
            "primary_metric": "rmse",
            "minimum_metric": 3.5,
            "estimator": "ridge",
        }
    )
    spec = churn.model_copy(update={"model": model})

    doc = synthesize_specs([spec], tmp_path)["churn"].doc

    alarm = bodies(doc, "aws_cloudwatch_metric_alarm")["alerts_alarm_live_quality"]
    assert (alarm["comparison_operator"], alarm["statistic"], alarm["threshold"]) == (
        "GreaterThanThreshold",
        "Maximum",
        3.5,
    )
    assert alarm["dimensions"]["Metric"] == "rmse"


@pytest.mark.parametrize("name", ["churn", "fraud"])
def test_given_an_example_tenant_then_the_monitoring_job_role_reads_the_labels_and_the_lambda_does_not(
    example_stacks, name
):
    doc = example_stacks[name].doc
    monitor = bodies(doc, "aws_lambda_function")["functions_monitor"]
    (env,) = monitor["environment"]
    # the monitoring job (a SageMaker processing job) joins the labels; it runs as this role
    assert env["variables"]["TENANTML_MONITORING_ROLE_ARN"] == "${aws_iam_role.roles_training.arn}"
    job = role_policy(doc, "roles_training")
    data = "${aws_s3_bucket.storage_data.arn}"
    reads = [st for st in job["Statement"] if "s3:GetObject" in st["Action"]]
    assert any(f"{data}/*" in st["Resource"] for st in reads)
    # the Lambda only starts the job: nothing of the data bucket
    lambda_grants = role_policy(doc, "functions_monitor_role")
    assert not [st for st in lambda_grants["Statement"] if any(data in r for r in st["Resource"])]
