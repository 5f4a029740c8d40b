"""Serving in the stacks: the image repository, the SageMaker endpoint with guardrails, the EKS workload with IRSA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_support import EXAMPLE_TENANTS, REPO_ROOT, bodies, only, synthesize_specs

from core.errors import TenantSpecError
from core.spec import TenantSpec, load_specs, parse_spec
from infra.schema_check import check_stack
from pipelines.serving.config import ServerConfig


def _spec(name: str, **serving: Any) -> TenantSpec:
    base = next(s for s in load_specs(EXAMPLE_TENANTS) if s.name == name)
    data = base.model_dump(mode="json")
    data["serving"] = {**data["serving"], **serving}
    return TenantSpec.model_validate(data)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """fraud as in tenants/ (EKS serving) and churn with version 3 pinned on a SageMaker endpoint."""
    specs = [
        _spec(
            "churn",
            platform="sagemaker",
            model_version=3,
            canary_percent=25,
            bake_minutes=15,
            instance_type="ml.c5.xlarge",
            instance_count=2,
        ),
        _spec("fraud"),
    ]
    return {t: s.doc for t, s in synthesize_specs(specs, tmp_path_factory.mktemp("out")).items()}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


# --- image repository ---------------------------------------------------------------------


def test_given_any_tenant_then_an_immutable_scanned_kms_encrypted_repository_is_an_output(stacks):
    for doc in (stacks["churn"], stacks["fraud"]):  # the tenant stacks; fraud-kubernetes reads fraud's
        repo = only(doc, "aws_ecr_repository")
        assert repo["image_tag_mutability"] == "IMMUTABLE"
        assert repo["image_scanning_configuration"] == [{"scan_on_push": True}]
        assert repo["encryption_configuration"] == [
            {"encryption_type": "KMS", "kms_key": "${aws_kms_key.key.arn}"}
        ]
        rules = json.loads(only(doc, "aws_ecr_lifecycle_policy")["policy"])["rules"]
        assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
        assert doc["output"]["image_repository_url"]["value"] == "${aws_ecr_repository.images.repository_url}"


# --- SageMaker ----------------------------------------------------------------------------


def test_given_a_pinned_version_then_the_model_serves_that_package_in_the_private_subnets(stacks):
    doc = stacks["churn"]
    model = only(doc, "aws_sagemaker_model")
    container = model["primary_container"][0]
    assert container["model_package_name"] == (
        "arn:${data.aws_partition.account_partition.partition}:sagemaker:eu-west-1:"
        "${data.aws_caller_identity.account_caller.account_id}:model-package/tenantml-churn-dev-churn/3"
    )
    assert "image" not in container  # the package carries the image and the model data
    config = ServerConfig.model_validate_json(container["environment"]["TENANTML_SERVING_CONFIG"])
    assert config.source.kind == "directory" and config.inference_log.stream_name.startswith(
        "${aws_kinesis_stream."
    )
    assert model["execution_role_arn"] == "${aws_iam_role.roles_serving.arn}"
    subnets = model["vpc_config"][0]["subnets"]
    assert len(subnets) == 2 and all(s.startswith("${aws_subnet.network_private") for s in subnets)
    assert model["lifecycle"] == {"create_before_destroy": True}


def test_given_the_spec_then_the_endpoint_config_and_blue_green_canary_follow_it(stacks):
    doc = stacks["churn"]
    config = only(doc, "aws_sagemaker_endpoint_configuration")
    assert config["production_variants"] == [
        {
            "variant_name": "primary",
            "model_name": "${aws_sagemaker_model.endpoint_model.name}",
            "instance_type": "ml.c5.xlarge",
            "initial_instance_count": 2,
            "initial_variant_weight": 1,
        }
    ]
    assert config["kms_key_arn"] == "${aws_kms_key.key.arn}"
    assert config["lifecycle"] == {"create_before_destroy": True}
    endpoint = only(doc, "aws_sagemaker_endpoint")
    assert endpoint["name"] == "tenantml-churn-dev-churn"
    assert endpoint["endpoint_config_name"] == "${aws_sagemaker_endpoint_configuration.endpoint_config.name}"
    policy = endpoint["deployment_config"][0]["blue_green_update_policy"][0]
    routing = policy["traffic_routing_configuration"][0]
    assert routing == {
        "type": "CANARY",
        "wait_interval_in_seconds": 900,
        "canary_size": [{"type": "CAPACITY_PERCENT", "value": 25}],
    }
    assert policy["termination_wait_in_seconds"] == 900
    assert doc["output"]["endpoint_invoke_url"]["value"] == (
        "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/tenantml-churn-dev-churn/invocations"
    )


def test_given_the_endpoint_then_its_rollback_alarms_are_the_guardrails_on_its_variant(stacks):
    doc = stacks["churn"]
    endpoint = only(doc, "aws_sagemaker_endpoint")
    named = endpoint["deployment_config"][0]["auto_rollback_configuration"][0]["alarms"]
    alarms = {
        f"${{aws_cloudwatch_metric_alarm.{a}.alarm_name}}": body
        for a, body in bodies(doc, "aws_cloudwatch_metric_alarm").items()
    }
    guardrails = [alarms[n["alarm_name"]] for n in named]
    assert {g["metric_name"] for g in guardrails} == {"Invocation5XXErrors", "ModelLatency"}
    for guardrail in guardrails:
        assert guardrail["namespace"] == "AWS/SageMaker"
        assert guardrail["dimensions"] == {
            "EndpointName": "tenantml-churn-dev-churn",
            "VariantName": "primary",
        }
    latency = next(g for g in guardrails if g["metric_name"] == "ModelLatency")
    assert latency["extended_statistic"] == "p99"
    assert latency["threshold"] == 250.0 * 1000  # monitoring.latency_p99_ms, in microseconds
    errors = next(g for g in guardrails if g["metric_name"] == "Invocation5XXErrors")
    assert (errors["statistic"], errors["threshold"]) == ("Average", 0.01)


def test_given_a_content_change_then_model_and_config_names_change_and_the_endpoint_name_does_not(tmp_path):
    one = synthesize_specs([_spec("churn", platform="sagemaker", model_version=3)], tmp_path / "a")[
        "churn"
    ].doc
    two = synthesize_specs([_spec("churn", platform="sagemaker", model_version=4)], tmp_path / "b")[
        "churn"
    ].doc
    same = synthesize_specs([_spec("churn", platform="sagemaker", model_version=3)], tmp_path / "c")[
        "churn"
    ].doc

    def names(doc: dict[str, Any]) -> tuple[str, str, str]:
        return (
            only(doc, "aws_sagemaker_model")["name"],
            only(doc, "aws_sagemaker_endpoint_configuration")["name"],
            only(doc, "aws_sagemaker_endpoint")["name"],
        )

    assert names(one) == names(same)
    assert names(one)[0] != names(two)[0] and names(one)[1] != names(two)[1]
    assert names(one)[2] == names(two)[2]
    assert names(two)[0].startswith("tenantml-churn-dev-v4-")


def test_given_no_pinned_version_then_there_is_no_endpoint(tmp_path):
    doc = synthesize_specs([_spec("churn")], tmp_path)["churn"].doc
    for resource_type in (
        "aws_sagemaker_model",
        "aws_sagemaker_endpoint_configuration",
        "aws_sagemaker_endpoint",
    ):
        assert resource_type not in doc["resource"]
    assert "endpoint_name" not in doc["output"]


def test_given_sagemaker_serving_then_the_serving_role_may_pull_the_image_and_attach_to_the_vpc(stacks):
    doc = stacks["churn"]
    grants = json.loads(bodies(doc, "aws_iam_role_policy")["roles_serving_policy"]["policy"])
    by_sid = {s["Sid"]: s for s in grants["Statement"]}
    assert by_sid["PullImages"]["Resource"] == ["${aws_ecr_repository.images.arn}"]
    assert "ec2:CreateNetworkInterface" in by_sid["EndpointNetwork"]["Action"]
    assert by_sid["EndpointLogs"]["Resource"][0].endswith(
        "log-group:/aws/sagemaker/Endpoints/tenantml-churn-dev-churn"
    )
    boundary = json.loads(only(doc, "aws_iam_policy")["policy"])
    boundary_sids = {s["Sid"] for s in boundary["Statement"]}
    assert {"Images", "EndpointLogs", "ImageLogin", "EndpointNetwork"} <= boundary_sids


# --- EKS ----------------------------------------------------------------------------------


def test_given_eks_serving_then_the_workload_is_its_own_stack_reading_the_cluster_through_data_sources(
    stacks,
):
    # the Kubernetes provider cannot be configured from a cluster the same apply creates
    cluster_stack, doc = stacks["fraud"], stacks["fraud-kubernetes"]
    assert "kubernetes" not in cluster_stack["provider"]
    assert not [t for t in cluster_stack["resource"] if t.startswith("kubernetes_")]
    assert doc["terraform"]["required_providers"]["kubernetes"]["source"] == "hashicorp/kubernetes"
    assert doc["terraform"]["backend"]["s3"]["key"] == "tenants/fraud-kubernetes/terraform.tfstate"
    assert set(doc["resource"]) == {
        "kubernetes_namespace_v1",
        "kubernetes_service_account_v1",
        "kubernetes_deployment_v1",
        "kubernetes_service_v1",
        "kubernetes_horizontal_pod_autoscaler_v2",
        "kubernetes_pod_disruption_budget_v1",
    }
    provider = doc["provider"]["kubernetes"][0]
    assert provider["host"] == "${data.aws_eks_cluster.existing_cluster.endpoint}"
    assert (
        provider["cluster_ca_certificate"]
        == "${base64decode(data.aws_eks_cluster.existing_cluster.certificate_authority[0].data)}"
    )
    assert provider["token"] == "${data.aws_eks_cluster_auth.existing_cluster_auth.token}"
    data = doc["data"]
    assert data["aws_eks_cluster"]["existing_cluster"]["name"] == "tenantml-fraud-prod-eks"
    assert data["aws_iam_role"]["existing_serving_role"]["name"] == "tenantml-fraud-prod-serving-pods"
    assert data["aws_ecr_repository"]["existing_images"]["name"] == "tenantml-fraud-prod-images"
    # what the data sources name is what the tenant stack creates
    assert bodies(cluster_stack, "aws_eks_cluster")["cluster"]["name"] == "tenantml-fraud-prod-eks"
    assert bodies(cluster_stack, "aws_iam_role")["serving_role"]["name"] == "tenantml-fraud-prod-serving-pods"
    assert bodies(cluster_stack, "aws_ecr_repository")["images"]["name"] == "tenantml-fraud-prod-images"


def test_given_eks_serving_then_the_first_apply_does_not_wait_for_a_rollout(stacks):
    # the image is pushed and the champion promoted after the first apply: waiting would time out
    assert only(stacks["fraud-kubernetes"], "kubernetes_deployment_v1")["wait_for_rollout"] is False


def test_given_eks_serving_then_the_irsa_role_trusts_exactly_the_service_account(stacks):
    doc = stacks["fraud"]
    role = bodies(doc, "aws_iam_role")["serving_role"]
    trust = json.loads(role["assume_role_policy"])
    [federated] = trust["Statement"]
    issuer = "${aws_iam_openid_connect_provider.cluster_oidc.url}"
    assert federated["Principal"] == {"Federated": "${aws_iam_openid_connect_provider.cluster_oidc.arn}"}
    assert federated["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert federated["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": "system:serviceaccount:tenantml-fraud-prod:tenantml-fraud-prod-serving",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }
    assert role["permissions_boundary"] == "${aws_iam_policy.boundary.arn}"
    account = only(stacks["fraud-kubernetes"], "kubernetes_service_account_v1")["metadata"][0]
    assert account["annotations"] == {
        "eks.amazonaws.com/role-arn": "${data.aws_iam_role.existing_serving_role.arn}"
    }
    assert account["name"] == "tenantml-fraud-prod-serving"
    assert account["namespace"] == "${kubernetes_namespace_v1.serving_namespace.metadata[0].name}"
    grants = {
        s["Sid"]
        for s in json.loads(bodies(doc, "aws_iam_role_policy")["serving_role_policy"]["policy"])["Statement"]
    }
    assert {"ReadRegistry", "WriteInferenceStream", "PullImages"} <= grants


def test_given_eks_serving_then_the_deployment_follows_the_inference_contract_and_runs_unprivileged(stacks):
    doc = stacks["fraud-kubernetes"]
    deployment = only(doc, "kubernetes_deployment_v1")
    pod = deployment["spec"][0]["template"][0]["spec"][0]
    [container] = pod["container"]
    assert container["image"] == "${data.aws_ecr_repository.existing_images.repository_url}:1.0.0"
    assert container["args"] == ["serve", "--port", "8080", "--workers", "1"]
    assert container["port"] == [{"name": "http", "container_port": 8080, "protocol": "TCP"}]
    assert container["readiness_probe"][0]["http_get"] == [{"path": "/ping", "port": "http"}]
    # a following pod waiting for its first champion is not ready, but alive
    assert container["liveness_probe"][0]["http_get"] == [{"path": "/follow", "port": "http"}]
    assert container["security_context"][0]["read_only_root_filesystem"] is True
    assert container["security_context"][0]["allow_privilege_escalation"] is False
    assert pod["security_context"][0]["run_as_non_root"] is True
    assert pod["node_selector"] == {"tenantml.io/workload": "serving"}
    assert (
        pod["service_account_name"]
        == "${kubernetes_service_account_v1.serving_service_account.metadata[0].name}"
    )
    assert container["resources"][0]["requests"] and container["resources"][0]["limits"]
    env = _env(container)
    assert env["TENANTML_MODEL_PACKAGE_GROUP"] == "tenantml-fraud-prod-fraud"
    assert env["TENANTML_MODEL_ALIAS"] == "champion"
    assert env["AWS_REGION"] == "us-east-1"
    config = ServerConfig.model_validate_json(env["TENANTML_SERVING_CONFIG"])
    assert (config.source.kind, config.source.group, config.source.alias) == (
        "registry",
        "tenantml-fraud-prod-fraud",
        "champion",
    )


def test_given_eks_serving_then_service_and_autoscaler_follow_the_spec(stacks):
    doc = stacks["fraud-kubernetes"]
    service = only(doc, "kubernetes_service_v1")["spec"][0]
    assert service["type"] == "ClusterIP"
    assert service["port"] == [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"}]
    hpa = only(doc, "kubernetes_horizontal_pod_autoscaler_v2")["spec"][0]
    assert (hpa["min_replicas"], hpa["max_replicas"]) == (2, 6)
    assert hpa["metric"][0]["resource"][0]["target"][0] == {"type": "Utilization", "average_utilization": 60}
    assert hpa["scale_target_ref"][0]["kind"] == "Deployment"
    assert only(doc, "kubernetes_pod_disruption_budget_v1")["spec"][0]["max_unavailable"] == "1"


# --- the whole stacks ---------------------------------------------------------------------


def test_given_both_serving_platforms_then_the_stacks_have_no_schema_problems(stacks):
    assert {t: check_stack(doc) for t, doc in stacks.items()} == {
        "churn": [],
        "fraud": [],
        "fraud-kubernetes": [],
    }


def test_given_a_misspelt_kubernetes_argument_then_the_schema_check_reports_it(stacks):
    doc = json.loads(json.dumps(stacks["fraud-kubernetes"]))
    next(iter(doc["resource"]["kubernetes_service_v1"].values()))["spec"][0]["typ"] = "ClusterIP"
    problems = check_stack(doc)
    assert [p.location for p in problems] == ["kubernetes_service_v1.serving_service.spec[0].typ"]
    assert "did you mean 'type'?" in problems[0].message


def test_given_eks_serving_on_an_ec2_tenant_then_the_spec_is_rejected_naming_the_field():
    text = (EXAMPLE_TENANTS / "churn.yaml").read_text().replace("platform: sagemaker", "platform: eks")
    with pytest.raises(TenantSpecError) as raised:
        parse_spec(Path("churn.yaml"), text)
    assert "churn.yaml: serving.platform: needs compute.kind eks" in str(raised.value)


def test_given_the_example_tenants_then_the_policy_check_passes():
    cli = Path(sys.executable).parent / "tenantml"
    completed = subprocess.run(
        [str(cli), "check", "--tenants", "tenants"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
