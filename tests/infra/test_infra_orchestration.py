"""The pipeline state machine in the synthesized example stacks: the machine, its role's exact
grants, the job role's grants, the boundary, and the Lambdas that start runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import SynthesizedStack, as_list, bodies, only, policy, role_policy, statement

from core.spec import load_specs
from infra import actions
from infra.orchestration import training_hyperparameters
from pipelines.training.train import TrainingConfig

TENANTS = ("churn", "fraud")
ENVIRONMENTS = {"churn": "dev", "fraud": "prod"}


def _machine(stack: SynthesizedStack) -> dict[str, Any]:
    return only(stack.doc, "aws_sfn_state_machine")


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_state_machine_is_standard_logged_encrypted_and_traced(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    doc = example_stacks[tenant].doc
    machine = _machine(example_stacks[tenant])
    assert machine["name"] == f"tenantml-{tenant}-{ENVIRONMENTS[tenant]}-pipeline"
    assert machine["type"] == "STANDARD"
    assert machine["tracing_configuration"] == [{"enabled": True}]
    [logging] = machine["logging_configuration"]
    assert logging["log_destination"] == "${aws_cloudwatch_log_group.pipeline_logs.arn}:*"
    group = bodies(doc, "aws_cloudwatch_log_group")["pipeline_logs"]
    assert group["kms_key_id"] == "${aws_kms_key.key.arn}"
    assert machine["role_arn"] == "${aws_iam_role.pipeline_role.arn}"
    assert machine["depends_on"] == ["aws_iam_role_policy.pipeline_role_policy"]
    definition = json.loads(machine["definition"])
    image = "${aws_ecr_repository.images.repository_url}:1.0.0"
    assert definition["States"]["Train"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"] == image
    assert definition["States"]["Train"]["Parameters"]["RoleArn"] == "${aws_iam_role.roles_training.arn}"
    assert doc["output"]["pipeline_state_machine_arn"]["value"] == "${aws_sfn_state_machine.pipeline.arn}"


def test_the_training_hyperparameters_are_what_the_training_code_reads() -> None:
    from infra_support import EXAMPLE_TENANTS

    for spec in load_specs(EXAMPLE_TENANTS):
        assert TrainingConfig.from_hyperparameters(training_hyperparameters(spec.model)) == (
            TrainingConfig.from_spec(spec.model)
        )


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_machine_role_is_trusted_by_step_functions_for_its_account_only(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    role = bodies(example_stacks[tenant].doc, "aws_iam_role")["pipeline_role"]
    [trust] = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": ["states.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.account_caller.account_id}"}
    }
    assert role["permissions_boundary"] == "${aws_iam_policy.boundary.arn}"


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_machine_role_has_exactly_the_grants_the_definition_needs(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    doc = example_stacks[tenant].doc
    grants = role_policy(doc, "pipeline_role")
    prefix = f"tenantml-{tenant}-{ENVIRONMENTS[tenant]}"
    pass_role = statement(grants, "PassJobRole")
    assert as_list(pass_role["Resource"]) == ["${aws_iam_role.roles_training.arn}"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    training = statement(grants, "RunTrainingJobs")
    assert sorted(training["Action"]) == sorted(actions.SAGEMAKER_TRAINING)
    [training_arn] = as_list(training["Resource"])
    assert training_arn.endswith(f":training-job/{prefix}-*")
    [processing_arn] = as_list(statement(grants, "RunProcessingJobs")["Resource"])
    assert processing_arn.endswith(f":processing-job/{prefix}-*")
    rules = as_list(statement(grants, "SyncJobRules")["Resource"])
    assert sorted(r.rsplit("/", 1)[1] for r in rules) == sorted(actions.SFN_SYNC_RULES)
    assert as_list(statement(grants, "PublishAlerts")["Resource"]) == ["${aws_sns_topic.alerts.arn}"]
    # nothing that has resource-level permissions is granted on "*"
    for st in grants["Statement"]:
        if "*" in as_list(st["Resource"]):
            assert set(as_list(st["Action"])) <= {
                *actions.SFN_LOG_DELIVERY,
                *actions.XRAY_WRITE,
                *actions.XRAY_SAMPLING,
            }, st["Sid"]


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_job_role_pulls_logs_reads_writes_and_cleans_up(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    grants = role_policy(example_stacks[tenant].doc, "roles_training")
    prefix = f"tenantml-{tenant}-{ENVIRONMENTS[tenant]}"
    assert as_list(statement(grants, "PullImages")["Resource"]) == ["${aws_ecr_repository.images.arn}"]
    assert as_list(statement(grants, "ImageLogin")["Action"]) == list(actions.ECR_AUTH)
    logs = as_list(statement(grants, "JobLogs")["Resource"])
    assert {arn.split("log-group:")[1] for arn in logs} == {
        "/aws/sagemaker/TrainingJobs",
        f"/aws/sagemaker/TrainingJobs:log-stream:{prefix}-*",
        "/aws/sagemaker/ProcessingJobs",
        f"/aws/sagemaker/ProcessingJobs:log-stream:{prefix}-*",
    }
    metrics = statement(grants, "PutTenantMetrics")
    assert metrics["Condition"]["StringEquals"]["cloudwatch:namespace"]
    delete = statement(grants, "DeleteRunObjectVersions")
    assert as_list(delete["Resource"]) == ["${aws_s3_bucket.storage_models.arn}/*"]
    assert as_list(statement(grants, "TenantKeyEncryptDecrypt")["Resource"]) == ["${aws_kms_key.key.arn}"]
    for st in grants["Statement"]:
        if "*" in as_list(st["Resource"]):
            assert set(as_list(st["Action"])) <= {*actions.ECR_AUTH, *actions.CLOUDWATCH_PUT_METRICS}, st[
                "Sid"
            ]


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_boundary_lets_the_pipeline_through_on_the_tenants_resources_only(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    boundary = policy(bodies(example_stacks[tenant].doc, "aws_iam_policy")["boundary"])
    prefix = f"tenantml-{tenant}-{ENVIRONMENTS[tenant]}"
    pipeline = statement(boundary, "Pipeline")
    resources = as_list(pipeline["Resource"])
    assert any(r.endswith(f":processing-job/{prefix}-*") for r in resources)
    assert any(r.endswith(f":training-job/{prefix}-*") for r in resources)
    assert any(r.endswith(":rule/StepFunctionsGetEventsForSageMaker*") for r in resources)
    assert set(actions.SAGEMAKER_PROCESSING) <= set(pipeline["Action"])
    assert "s3:DeleteObjectVersion" in statement(boundary, "S3ObjectKeys")["Action"]
    # IAM's limit on a managed policy; the key ARN reference grows by about 55 characters at apply
    assert len(bodies(example_stacks[tenant].doc, "aws_iam_policy")["boundary"]["policy"]) + 60 <= 6144


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_data_arrival_and_alarm_lambdas_may_start_runs(
    example_stacks: dict[str, SynthesizedStack], tenant: str
) -> None:
    doc = example_stacks[tenant].doc
    functions = bodies(doc, "aws_lambda_function")
    for name in ("data_arrival", "alarm"):
        variables = functions[f"functions_{name}"]["environment"][0]["variables"]
        assert variables["TENANTML_PIPELINE_STATE_MACHINE_ARN"] == "${aws_sfn_state_machine.pipeline.arn}"
        grants = role_policy(doc, f"functions_{name}_role")
        assert as_list(statement(grants, "StartPipeline")["Resource"]) == [
            "${aws_sfn_state_machine.pipeline.arn}"
        ]
    assert (
        "TENANTML_PIPELINE_STATE_MACHINE_ARN"
        not in functions["functions_monitor"]["environment"][0]["variables"]
    )
