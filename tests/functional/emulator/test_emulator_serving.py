"""Serving resources on the emulator: a pinned SageMaker endpoint, its promotion, and EKS manifests skipped."""

from __future__ import annotations

from pathlib import Path

from core.spec import TenantSpec, load_specs
from core.terraform.diff import Action
from tenantml.emulator import commands
from tenantml.emulator.resources.kubernetes import NO_CLUSTER
from tenantml.synthesis import synth

ROOT = Path(__file__).resolve().parents[3]


def _spec(name: str, **serving: object) -> TenantSpec:
    base = next(s for s in load_specs(ROOT / "tenants") if s.name == name)
    data = base.model_dump(mode="json")
    data["serving"] = {**data["serving"], **serving}
    return TenantSpec.model_validate(data)


def test_given_a_pinned_version_when_applied_and_promoted_then_the_endpoint_moves_to_a_new_config(
    aws, tmp_path
):
    out, state_dir = tmp_path / "out", tmp_path / "state"
    synth([_spec("churn", model_version=1)], out)

    # when: applied, then applied again unchanged
    [first] = commands.apply_tenants(out, ["churn"], state_dir, aws)
    [again] = commands.apply_tenants(out, ["churn"], state_dir, aws)

    sagemaker = aws.client("sagemaker", "eu-west-1")
    endpoint = sagemaker.describe_endpoint(EndpointName=first.outputs["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"].endswith("model-package/tenantml-churn-dev-churn/1")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    repository = aws.client("ecr", "eu-west-1").describe_repositories(
        repositoryNames=["tenantml-churn-dev-images"]
    )
    assert repository["repositories"][0]["imageTagMutability"] == "IMMUTABLE"
    assert first.outputs["image_repository_url"] == repository["repositories"][0]["repositoryUri"]
    assert again.result.applied == ()

    # when: version 2 is promoted (a reviewed spec change)
    synth([_spec("churn", model_version=2)], out)
    [plan] = commands.plan_tenants(out, ["churn"], state_dir, aws)
    actions = {c.type: c.action for c in plan.plan.changes if c.action is not Action.NOOP}
    [promoted] = commands.apply_tenants(out, ["churn"], state_dir, aws)

    # then: a new model and configuration replace the old ones, and the same endpoint is updated to them
    assert actions == {
        "aws_sagemaker_model": Action.REPLACE,
        "aws_sagemaker_endpoint_configuration": Action.REPLACE,
        "aws_sagemaker_endpoint": Action.UPDATE,
    }
    moved = sagemaker.describe_endpoint(EndpointName=first.outputs["endpoint_name"])
    assert moved["EndpointConfigName"] != endpoint["EndpointConfigName"]
    new_config = sagemaker.describe_endpoint_config(EndpointConfigName=moved["EndpointConfigName"])
    new_model = sagemaker.describe_model(ModelName=new_config["ProductionVariants"][0]["ModelName"])
    assert new_model["PrimaryContainer"]["ModelPackageName"].endswith("/2")
    assert promoted.outputs["endpoint_name"] == first.outputs["endpoint_name"]


def test_given_eks_serving_when_planned_and_applied_then_kubernetes_objects_are_recorded_as_skipped(
    aws, tmp_path
):
    out, state_dir = tmp_path / "out", tmp_path / "state"
    synth([_spec("fraud")], out)

    # the workload stack reads the cluster and the repository through data sources, so (as with
    # Terraform) it is planned once the tenant stack exists: apply both, tenant stack first
    [tenant_stack, workload] = commands.apply_tenants(out, ["fraud"], state_dir, aws)
    again = commands.apply_tenants(out, ["fraud"], state_dir, aws)
    replans = commands.plan_tenants(out, ["fraud"], state_dir, aws)

    assert (tenant_stack.tenant, workload.tenant) == ("fraud", "fraud-kubernetes")
    kubernetes = [c for c in workload.result.applied if c.type.startswith("kubernetes_")]
    assert len(kubernetes) == 6 and {c.skipped for c in kubernetes} == {NO_CLUSTER}
    assert not any(c.type.startswith("kubernetes_") for c in tenant_stack.result.applied)
    assert {c.type for c in workload.result.applied if c.skipped} == {
        "kubernetes_namespace_v1",
        "kubernetes_service_account_v1",
        "kubernetes_deployment_v1",
        "kubernetes_service_v1",
        "kubernetes_horizontal_pod_autoscaler_v2",
        "kubernetes_pod_disruption_budget_v1",
    }
    assert tenant_stack.outputs["serving_namespace"] == "tenantml-fraud-prod"
    role = aws.client("iam").get_role(RoleName="tenantml-fraud-prod-serving-pods")["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    sub = next(k for k in statement["Condition"]["StringEquals"] if k.endswith(":sub"))
    assert sub.startswith("oidc.eks.us-east-1.amazonaws.com/id/")  # the provider's url has no https://
    assert all(a.result.applied == () for a in again) and not any(p.plan.has_changes for p in replans)

    destroyed = commands.destroy_tenants(out, ["fraud"], state_dir, aws)
    assert any(a.startswith("kubernetes_deployment_v1.") for d in destroyed for a in d.result.deleted)
