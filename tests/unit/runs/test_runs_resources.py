"""TenantResources from stack outputs (both shapes), from Lambda environment variables, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TenantResourcesError
from pipelines.runs.resources import TenantResources

OUTPUTS = {
    "data_bucket_name": "tenantml-churn-dev-data-123456789012",
    "artifacts_bucket_name": "tenantml-churn-dev-artifacts-123456789012",
    "models_bucket_name": "tenantml-churn-dev-models-123456789012",
    "alerts_topic_arn": "arn:aws:sns:eu-west-1:123456789012:tenantml-churn-dev-alerts",
    "model_package_group_name": "tenantml-churn-dev-churn",
    "training_role_arn": "arn:aws:iam::123456789012:role/tenantml-churn-dev-training",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "stream_name": "tenantml-churn-dev-inference",
    "vpc_id": "vpc-0123456789abcdef0",
    "private_subnet_ids": ["subnet-1", "subnet-2"],
}


def test_plain_outputs_map_to_fields():
    resources = TenantResources.from_outputs(OUTPUTS, tenant="churn", region="eu-west-1")
    assert resources.data_bucket == OUTPUTS["data_bucket_name"]
    assert resources.models_bucket == OUTPUTS["models_bucket_name"]
    assert resources.model_package_group == "tenantml-churn-dev-churn"
    assert resources.training_role_arn.endswith(":role/tenantml-churn-dev-training")
    assert (resources.tenant, resources.region, resources.stream_name) == (
        "churn",
        "eu-west-1",
        OUTPUTS["stream_name"],
    )
    assert resources.serving_image_uri is None


def test_terraform_output_json_shape_is_unwrapped():
    wrapped = {
        name: {"sensitive": False, "type": "string" if isinstance(v, str) else ["list", "string"], "value": v}
        for name, v in OUTPUTS.items()
    }
    assert TenantResources.from_outputs(wrapped, tenant="churn") == TenantResources.from_outputs(
        OUTPUTS, tenant="churn"
    )


def test_every_missing_output_is_named_at_once():
    partial = {k: v for k, v in OUTPUTS.items() if k not in {"models_bucket_name", "kms_key_arn"}}
    with pytest.raises(TenantResourcesError) as raised:
        TenantResources.from_outputs(partial, source="outputs.json")
    message = str(raised.value)
    assert "outputs.json: models_bucket_name: is missing; the tenant stack defines it" in message
    assert "outputs.json: kms_key_arn: is missing" in message
    assert [p.location for p in raised.value.problems] == [
        "outputs.json: models_bucket_name",
        "outputs.json: kms_key_arn",
    ]
    assert raised.value.exit_code == 2
    assert "run `tenantml up`" in message


def test_the_synthesized_json_is_not_mistaken_for_outputs():
    synthesized = {name: {"value": f"${{aws_thing.{name}.id}}"} for name in OUTPUTS}
    with pytest.raises(TenantResourcesError) as raised:
        TenantResources.from_outputs(synthesized)
    assert "data_bucket_name: is an unresolved Terraform reference" in str(raised.value)
    assert "(got '${aws_thing.data_bucket_name.id}')" in str(raised.value)


def test_from_env_reads_the_variables_the_stack_sets_on_its_functions():
    expected = TenantResources.from_outputs(OUTPUTS, tenant="churn", region="eu-west-1")
    env = {**expected.to_env(), "AWS_REGION": "eu-west-1", "UNRELATED": "x"}
    assert env["TENANTML_DATA_BUCKET"] == OUTPUTS["data_bucket_name"]
    assert env["TENANTML_MODEL_PACKAGE_GROUP"] == OUTPUTS["model_package_group_name"]
    assert TenantResources.from_env(env) == expected


def test_from_env_names_missing_variables():
    env = TenantResources.from_outputs(OUTPUTS).to_env()
    del env["TENANTML_ALERTS_TOPIC_ARN"]
    env["TENANTML_TRAINING_ROLE_ARN"] = ""
    with pytest.raises(TenantResourcesError) as raised:
        TenantResources.from_env(env)
    assert [p.location for p in raised.value.problems] == [
        "environment: TENANTML_ALERTS_TOPIC_ARN",
        "environment: TENANTML_TRAINING_ROLE_ARN",
    ]


def test_outputs_file_errors_name_the_file(tmp_path: Path):
    with pytest.raises(TenantResourcesError, match="outputs file does not exist"):
        TenantResources.from_outputs_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(TenantResourcesError, match=r"broken\.json: not valid JSON"):
        TenantResources.from_outputs_file(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(TenantResourcesError, match="must be a JSON object"):
        TenantResources.from_outputs_file(listed)
    good = tmp_path / "outputs.json"
    good.write_text(json.dumps(OUTPUTS))
    assert (
        TenantResources.from_outputs_file(good, tenant="churn").artifacts_bucket
        == OUTPUTS["artifacts_bucket_name"]
    )


def test_resources_are_frozen():
    resources = TenantResources.from_outputs(OUTPUTS)
    with pytest.raises(ValueError, match="frozen"):
        resources.data_bucket = "other"  # type: ignore[misc]
