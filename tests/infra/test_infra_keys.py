"""TenantKey: one rotated, aliased customer-managed key per tenant."""

from __future__ import annotations

import pytest
from infra_support import ACCOUNT_ID, as_list, only, policy, role_policy, statement, synth

from core.errors import ConstructPropsError
from core.naming import Naming
from infra import actions, cdk
from infra.keys import TenantKey, TenantKeyProps


def test_given_a_tenant_key_when_synthesized_then_rotation_is_on_and_the_alias_names_the_tenant(stack, key):
    # given: the key fixture in an otherwise empty stack
    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_kms_key",
        {
            "enable_key_rotation": True,
            "rotation_period_in_days": 365,
            "deletion_window_in_days": 30,
            "key_usage": "ENCRYPT_DECRYPT",
            "customer_master_key_spec": "SYMMETRIC_DEFAULT",
        },
    )
    alias = only(doc, "aws_kms_alias")
    assert alias == {"name": "alias/tenantml-acme-dev", "target_key_id": "${aws_kms_key.key.key_id}"}
    assert key.alias_name == "alias/tenantml-acme-dev"
    assert key.key_arn == "${aws_kms_key.key.arn}"


def test_given_a_tenant_key_when_synthesized_then_only_the_account_root_holds_a_wildcard_action(stack, key):
    # when
    _, doc = synth(stack)
    key_policy = policy(only(doc, "aws_kms_key"))

    # then: the root keeps full control (AWS's default); service principals get named actions only
    admin = statement(key_policy, "AccountAdmin")
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    assert admin["Action"] == "kms:*"
    others = [s for s in key_policy["Statement"] if s["Sid"] != "AccountAdmin"]
    assert others, "the key policy should let CloudWatch and CloudWatch Logs use the key"
    assert all("*" not in a for s in others for a in as_list(s["Action"]))


def test_given_a_tenant_key_when_synthesized_then_cloudwatch_logs_may_use_it_only_for_this_accounts_log_groups(
    stack, key
):
    # when
    _, doc = synth(stack)
    logs = statement(policy(only(doc, "aws_kms_key")), "CloudWatchLogs")

    # then
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:*"}
    }


def test_given_a_role_when_the_key_grants_decrypt_then_the_role_may_decrypt_and_describe_only_that_key(
    stack, key, role
):
    # when
    key.grant_decrypt(role)
    _, doc = synth(stack)

    # then
    granted = statement(role_policy(doc, "worker"), "TenantKeyDecrypt")
    assert granted["Action"] == sorted(actions.KMS_DECRYPT)
    assert granted["Resource"] == ["${aws_kms_key.key.arn}"]


def test_given_a_role_when_the_key_grants_encrypt_decrypt_then_the_role_gets_the_encrypt_actions_on_that_key(
    stack, key, role
):
    # when
    key.grant_encrypt_decrypt(role)
    _, doc = synth(stack)

    # then
    granted = statement(role_policy(doc, "worker"), "TenantKeyEncryptDecrypt")
    assert granted["Action"] == sorted(actions.KMS_ENCRYPT_DECRYPT)
    assert "kms:GenerateDataKey" in granted["Action"]
    assert granted["Resource"] == ["${aws_kms_key.key.arn}"]


# --- props rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("deletion_window_days", 6, "must be between 7 and 30"),
        ("deletion_window_days", 31, "must be between 7 and 30"),
        ("rotation_period_days", 89, "must be between 90 and 2560"),
        ("rotation_period_days", 2561, "must be between 90 and 2560"),
    ],
)
def test_given_an_out_of_range_key_setting_when_props_are_built_then_the_field_and_value_are_named(
    naming: Naming, field: str, value: int, message: str
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        TenantKeyProps(naming=naming, account_id=ACCOUNT_ID, partition="aws", **{field: value})

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [(field, message, value)]
    assert f"{field}: {message} (got {value})" in str(caught.value)


def test_given_both_key_settings_out_of_range_when_props_are_built_then_one_error_lists_both(naming: Naming):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        TenantKeyProps(
            naming=naming,
            account_id=ACCOUNT_ID,
            partition="aws",
            deletion_window_days=0,
            rotation_period_days=0,
        )

    # then
    assert [p.location for p in caught.value.problems] == ["deletion_window_days", "rotation_period_days"]


@pytest.mark.parametrize(("deletion", "rotation"), [(7, 90), (30, 2560)])
def test_given_key_settings_at_the_limits_when_synthesized_then_they_are_used(
    stack, naming, deletion, rotation
):
    # given
    TenantKey(
        stack,
        "Key",
        TenantKeyProps(
            naming=naming,
            account_id=ACCOUNT_ID,
            partition="aws",
            deletion_window_days=deletion,
            rotation_period_days=rotation,
        ),
    )

    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text, "aws_kms_key", {"deletion_window_in_days": deletion, "rotation_period_in_days": rotation}
    )


AUTO_SCALING_ROLE = "${aws_iam_service_linked_role.auto_scaling_role.arn}"


def test_given_no_auto_scaling_role_when_synthesized_then_the_key_policy_names_no_auto_scaling_principal(
    stack, key
):
    # given: a tenant that launches nothing through Auto Scaling (EKS, or no compute)
    # when
    _, doc = synth(stack)
    key_policy = policy(only(doc, "aws_kms_key"))

    # then: no principal that may not exist in a fresh account (KMS rejects unknown principals)
    assert "AutoScaling" not in str(key_policy)
    assert {s["Sid"] for s in key_policy["Statement"]} == {
        "AccountAdmin",
        "CloudWatchAlarmsToEncryptedTopic",
        "EventBridgeToEncryptedTopic",
        "CloudWatchLogs",
    }


def test_given_the_tenants_auto_scaling_role_when_synthesized_then_only_that_role_may_use_the_key_for_volumes(
    stack, naming
):
    # given
    TenantKey(
        stack,
        "Key",
        TenantKeyProps(
            naming=naming, account_id=ACCOUNT_ID, partition="aws", auto_scaling_role_arn=AUTO_SCALING_ROLE
        ),
    )

    # when
    _, doc = synth(stack)
    key_policy = policy(only(doc, "aws_kms_key"))

    # then: a reference to the role, so Terraform creates it before the key policy names it
    volumes = statement(key_policy, "AutoScalingVolumes")
    grants = statement(key_policy, "AutoScalingGrants")
    assert volumes["Principal"] == grants["Principal"] == {"AWS": AUTO_SCALING_ROLE}
    assert volumes["Action"] == sorted(actions.KMS_FOR_EBS)
    assert grants["Action"] == "kms:CreateGrant"
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert "AWSServiceRoleForAutoScaling" not in str(key_policy), "no hand-written service-linked role ARN"
