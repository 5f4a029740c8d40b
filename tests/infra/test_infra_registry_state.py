"""ModelRegistry (SageMaker model package group) and the Terraform state backend."""

from __future__ import annotations

import pytest
from infra_support import ACCOUNT_ID, only, role_policy, statement, synth

from core.errors import ConstructPropsError
from core.platform import state_key
from infra import actions, cdk
from infra.registry import ModelRegistry, ModelRegistryProps
from infra.state import StateBackendProps, configure_state_backend

VERSIONS_ARN = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:model-package/tenantml-acme-dev-churn/*"


@pytest.fixture
def registry(stack, naming) -> ModelRegistry:
    return ModelRegistry(
        stack,
        "Registry",
        ModelRegistryProps(naming=naming, model_name="churn", account_id=ACCOUNT_ID, partition="aws"),
    )


def test_given_a_registry_when_synthesized_then_one_model_package_group_is_named_for_tenant_and_model(
    stack, registry
):
    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text, "aws_sagemaker_model_package_group", {"model_package_group_name": "tenantml-acme-dev-churn"}
    )
    description = only(doc, "aws_sagemaker_model_package_group")["model_package_group_description"]
    assert "churn" in description and "acme" in description
    assert registry.group_arn == "${aws_sagemaker_model_package_group.registry.arn}"


def test_given_a_role_when_the_registry_grants_read_then_it_may_describe_the_group_and_its_versions(
    stack, registry, role
):
    # when
    registry.grant_read(role)
    _, doc = synth(stack)

    # then
    assert statement(role_policy(doc, "worker"), "ReadRegistry") == {
        "Sid": "ReadRegistry",
        "Effect": "Allow",
        "Action": sorted(actions.SAGEMAKER_REGISTRY_READ),
        "Resource": ["${aws_sagemaker_model_package_group.registry.arn}", VERSIONS_ARN],
    }


def test_given_a_role_when_the_registry_grants_write_then_it_may_create_versions_in_that_group_only(
    stack, registry, role
):
    # when
    registry.grant_write(role)
    _, doc = synth(stack)

    # then
    written = statement(role_policy(doc, "worker"), "WriteRegistry")
    assert written["Action"] == sorted(actions.SAGEMAKER_REGISTRY_WRITE)
    assert written["Resource"] == ["${aws_sagemaker_model_package_group.registry.arn}", VERSIONS_ARN]


# --- state backend ------------------------------------------------------------------------------


def _state(**overrides) -> StateBackendProps:
    fields = {
        "tenant": "acme",
        "enabled": True,
        "bucket": "tenantml-tfstate-123456789012-us-east-1",
        "key": "tenants/acme/terraform.tfstate",
        "region": "us-east-1",
    }
    fields.update(overrides)
    return StateBackendProps(**fields)


def test_given_an_enabled_backend_when_synthesized_then_state_goes_to_the_tenants_own_key_with_s3_locking(
    stack,
):
    # given
    configure_state_backend(stack, _state())

    # when
    _, doc = synth(stack)

    # then: S3-native locking (Terraform >= 1.10), no DynamoDB table, encryption by the bucket's key
    assert doc["terraform"]["backend"] == {
        "s3": {
            "bucket": "tenantml-tfstate-123456789012-us-east-1",
            "key": "tenants/acme/terraform.tfstate",
            "region": "us-east-1",
            "use_lockfile": True,
        }
    }
    assert doc["terraform"]["required_version"] == ">= 1.10"


def test_given_a_disabled_backend_when_synthesized_then_state_is_a_local_file_per_tenant(stack):
    # given
    configure_state_backend(stack, _state(enabled=False, bucket=None))

    # when
    _, doc = synth(stack)

    # then
    assert doc["terraform"]["backend"] == {"local": {"path": "terraform.acme.tfstate"}}
    assert doc["terraform"]["required_version"] == ">= 1.10"


def test_given_remote_state_without_a_bucket_when_configured_then_it_fails_instead_of_going_local(stack):
    # when / then
    with pytest.raises(ConstructPropsError, match="tenant acme: state bucket"):
        configure_state_backend(stack, _state(bucket=None))


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("tenants", "tenants/acme/terraform.tfstate"), ("org/ml/", "org/ml/acme/terraform.tfstate")],
)
def test_given_a_key_prefix_when_the_state_key_is_built_then_it_ends_with_the_tenant(prefix, key):
    # when / then
    assert state_key(prefix, "acme") == key
