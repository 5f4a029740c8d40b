"""The slim functions of both example stacks: one shared layer, and roles holding exactly what each handler calls."""

from __future__ import annotations

import re

import pytest
from infra_support import as_list, bodies, role_policy

#: actions without resource-level permissions: the only ones a function role may hold on "*"
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}
#: what every function role has whatever its handler does: its logs, dead letters, traces, the tenant key
PLATFORM_SIDS = {"WriteLogs", "SendDeadLetters", "WriteTraces", "TenantKeyEncryptDecrypt", "TenantKeyDecrypt"}


def _tenant_docs(example_stacks):
    return [s.doc for s in example_stacks.values() if bodies(s.doc, "aws_lambda_function")]


def _has_features(doc) -> bool:
    return bool(bodies(doc, "aws_dynamodb_table"))


def _role_of(doc, function: str) -> dict:
    body = bodies(doc, "aws_lambda_function")[function]
    (role,) = re.findall(r"\$\{aws_iam_role\.([^.]+)\.arn\}", body["role"])
    return role_policy(doc, role)


def _grants(doc, function: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in _role_of(doc, function)["Statement"] if s["Sid"] not in PLATFORM_SIDS}


def _pipeline_arn(doc) -> str:
    """The state machine the functions that start runs are told about (one per stack)."""
    (arn,) = {
        v["variables"]["TENANTML_PIPELINE_STATE_MACHINE_ARN"]
        for name in ("functions_data_arrival", "functions_alarm")
        for v in bodies(doc, "aws_lambda_function")[name]["environment"]
    }
    return arn


def _prefix(doc) -> str:
    (machine,) = bodies(doc, "aws_sfn_state_machine").values()
    return machine["name"].removesuffix("-pipeline")


def test_given_the_example_stacks_then_each_has_one_layer_version_attached_to_every_function(example_stacks):
    docs = _tenant_docs(example_stacks)
    assert len(docs) == 3
    for doc in docs:
        (address,) = bodies(doc, "aws_lambda_layer_version")
        functions = bodies(doc, "aws_lambda_function")
        # data arrival, monitor, alarm; and the feature store's schedule for a tenant with views
        assert len(functions) == 3 + _has_features(doc)
        for body in functions.values():
            assert body["layers"] == [f"${{aws_lambda_layer_version.{address}.arn}}"]


def test_given_the_example_stacks_then_data_arrival_may_only_start_the_tenants_pipeline(example_stacks):
    for doc in _tenant_docs(example_stacks):
        grants = _grants(doc, "functions_data_arrival")

        # with feature views it also starts the features job on landed feature data, as the training role
        assert set(grants) == {"StartPipeline"} | (
            {"StartFeaturesJob", "PassRole"} if _has_features(doc) else set()
        )
        assert as_list(grants["StartPipeline"]["Action"]) == ["states:StartExecution"]
        assert as_list(grants["StartPipeline"]["Resource"]) == [_pipeline_arn(doc)]
        (address,) = bodies(doc, "aws_sfn_state_machine")
        assert _pipeline_arn(doc) == f"${{aws_sfn_state_machine.{address}.arn}}"


def test_given_the_example_stacks_then_alarm_may_start_the_pipeline_and_do_what_the_cooldown_needs(
    example_stacks,
):
    for doc in _tenant_docs(example_stacks):
        grants = _grants(doc, "functions_alarm")

        assert as_list(grants.pop("StartPipeline")["Resource"]) == [_pipeline_arn(doc)]
        # the newest dataset (list + head), the cooldown object (read + conditional write), the alert
        assert set(grants) == {
            "ReadDataBucket",
            "ReadArtifactsBucket",
            "WriteArtifactsBucket",
            "PublishAlerts",
        }
        assert {"s3:ListBucket", "s3:GetObject"} <= set(as_list(grants["ReadDataBucket"]["Action"]))
        assert "s3:PutObject" in as_list(grants["WriteArtifactsBucket"]["Action"])
        assert as_list(grants["PublishAlerts"]["Action"]) == ["sns:Publish"]
        assert all("*" not in as_list(s["Resource"]) for s in grants.values())


def test_given_the_example_stacks_then_monitor_may_only_start_its_monitoring_jobs_as_the_job_role(
    example_stacks,
):
    for doc in _tenant_docs(example_stacks):
        grants = _grants(doc, "functions_monitor")
        prefix = _prefix(doc)

        # the Kinesis event source mapping polls the stream as the function's role
        assert set(grants) == {"StartMonitoringJob", "PassRole", "ReadInferenceStream"}
        job = grants["StartMonitoringJob"]
        assert set(as_list(job["Action"])) == {"sagemaker:CreateProcessingJob", "sagemaker:AddTags"}
        (resource,) = as_list(job["Resource"])
        assert resource.endswith(f":processing-job/{prefix}-monitor-*")
        passing = grants["PassRole"]
        assert as_list(passing["Action"]) == ["iam:PassRole"]
        assert as_list(passing["Resource"]) == ["${aws_iam_role.roles_training.arn}"]
        assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


@pytest.mark.parametrize("function", ["functions_data_arrival", "functions_alarm", "functions_monitor"])
def test_given_the_example_stacks_then_no_function_role_holds_a_resource_level_action_on_star(
    example_stacks, function
):
    for doc in _tenant_docs(example_stacks):
        on_star = {
            action
            for s in _role_of(doc, function)["Statement"]
            if "*" in as_list(s["Resource"])
            for action in as_list(s["Action"])
        }
        assert on_star <= NO_RESOURCE_LEVEL, on_star - NO_RESOURCE_LEVEL
