"""SecureBucket and TenantStorage: the secure defaults every tenant bucket has, and their grants."""

from __future__ import annotations

import pytest
from infra_support import ACCOUNT_ID, bodies, only, policy, role_policy, sids, statement, synth

from core.errors import ConstructPropsError
from core.naming import Naming
from infra import actions, cdk
from infra.storage import LifecycleRule, SecureBucket, SecureBucketProps, TenantStorage, TenantStorageProps

BUCKET_NAME = f"tenantml-acme-dev-data-{ACCOUNT_ID}"


@pytest.fixture
def bucket(stack, naming, key) -> SecureBucket:
    """A bucket ``Data`` (address ``aws_s3_bucket.data``) with one lifecycle rule."""
    rule = LifecycleRule(rule_id="expire-raw", prefix="incoming/", expiration_days=30, noncurrent_days=7)
    return SecureBucket(
        stack, "Data", SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=(rule,))
    )


def test_given_a_secure_bucket_when_synthesized_then_it_is_named_for_the_tenant_and_cannot_be_force_destroyed(
    stack, bucket
):
    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text, "aws_s3_bucket", {"bucket": BUCKET_NAME, "force_destroy": False}
    )
    assert bucket.bucket_name == BUCKET_NAME
    assert bucket.bucket_arn == "${aws_s3_bucket.data.arn}"
    assert bucket.bucket_id == "${aws_s3_bucket.data.id}"


def test_given_a_secure_bucket_when_synthesized_then_versioning_is_enabled(stack, bucket):
    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_s3_bucket_versioning",
        {"bucket": "${aws_s3_bucket.data.id}", "versioning_configuration": [{"status": "Enabled"}]},
    )
    assert len(bodies(doc, "aws_s3_bucket_versioning")) == 1


def test_given_a_secure_bucket_when_synthesized_then_it_is_encrypted_with_the_tenant_key_and_a_bucket_key(
    stack, bucket
):
    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_s3_bucket_server_side_encryption_configuration",
        {
            "bucket": "${aws_s3_bucket.data.id}",
            "rule": [
                {
                    "apply_server_side_encryption_by_default": [
                        {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.key.arn}"}
                    ],
                    "bucket_key_enabled": True,
                }
            ],
        },
    )
    rules = only(doc, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert len(rules) == 1


def test_given_a_secure_bucket_when_synthesized_then_all_four_public_access_blocks_are_on(stack, bucket):
    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_s3_bucket_public_access_block") == {
        "bucket": "${aws_s3_bucket.data.id}",
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
    }


def test_given_a_secure_bucket_when_synthesized_then_the_bucket_owner_owns_every_object(stack, bucket):
    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text, "aws_s3_bucket_ownership_controls", {"rule": [{"object_ownership": "BucketOwnerEnforced"}]}
    )


def test_given_a_secure_bucket_when_synthesized_then_its_policy_denies_every_request_without_tls(
    stack, bucket
):
    # when
    _, doc = synth(stack)
    body = only(doc, "aws_s3_bucket_policy")

    # then
    deny = statement(policy(body), "DenyInsecureTransport")
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert body["bucket"] == "${aws_s3_bucket.data.id}"


def test_given_a_secure_bucket_when_synthesized_then_the_policy_is_applied_after_the_public_access_block(
    stack, bucket
):
    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_s3_bucket_policy")["depends_on"] == [
        "aws_s3_bucket_public_access_block.data_public_access_block"
    ]


def test_given_a_lifecycle_rule_when_synthesized_then_it_expires_objects_and_aborts_stale_uploads(
    stack, bucket
):
    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_s3_bucket_lifecycle_configuration") == {
        "bucket": "${aws_s3_bucket.data.id}",
        "rule": [
            {
                "id": "expire-raw",
                "status": "Enabled",
                "filter": [{"prefix": "incoming/"}],
                "expiration": [{"days": 30}],
                "noncurrent_version_expiration": [{"noncurrent_days": 7}],
            },
            {
                "id": "abort-incomplete-uploads",
                "status": "Enabled",
                "filter": [{"prefix": ""}],
                "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
            },
        ],
    }


def test_given_an_infrequent_access_rule_when_synthesized_then_objects_move_to_standard_ia(
    stack, naming, key
):
    # given
    rule = LifecycleRule(rule_id="tier", infrequent_access_days=30)
    SecureBucket(
        stack,
        "Artifacts",
        SecureBucketProps(naming=naming, component="artifacts", key=key, lifecycle_rules=(rule,)),
    )

    # when
    _, doc = synth(stack)

    # then
    rendered, _abort = only(doc, "aws_s3_bucket_lifecycle_configuration")["rule"]
    assert rendered["transition"] == [{"days": 30, "storage_class": "STANDARD_IA"}]
    assert rendered["filter"] == [{"prefix": ""}]
    assert "expiration" not in rendered


def test_given_no_lifecycle_rules_when_synthesized_then_only_incomplete_uploads_are_aborted_bucket_wide(
    stack, naming, key
):
    # given
    SecureBucket(stack, "Scratch", SecureBucketProps(naming=naming, component="scratch", key=key))

    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_s3_bucket_lifecycle_configuration")["rule"] == [
        {
            "id": "abort-incomplete-uploads",
            "status": "Enabled",
            "filter": [{"prefix": ""}],
            "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
        }
    ]
    assert len(bodies(doc, "aws_s3_bucket_versioning")) == 1


def test_given_a_naming_without_an_account_when_a_bucket_is_built_then_the_name_has_no_account_suffix(
    stack, key
):
    # given
    naming = Naming(tenant="acme", environment="dev", region="eu-west-1")

    # when
    bucket = SecureBucket(stack, "Models", SecureBucketProps(naming=naming, component="models", key=key))

    # then
    assert bucket.bucket_name == "tenantml-acme-dev-models"


# --- grants -------------------------------------------------------------------------------------


def test_given_a_role_when_the_bucket_grants_read_then_it_may_read_the_bucket_and_its_objects_and_decrypt(
    stack, bucket, role
):
    # when
    bucket.grant_read(role)
    _, doc = synth(stack)
    granted = role_policy(doc, "worker")

    # then
    read = statement(granted, "ReadDataBucket")
    assert read["Effect"] == "Allow"
    assert read["Action"] == sorted(actions.S3_READ)
    assert "s3:GetObject" in read["Action"]
    assert read["Resource"] == ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"]
    decrypt = statement(granted, "TenantKeyDecrypt")
    assert "kms:Decrypt" in decrypt["Action"]
    assert decrypt["Resource"] == ["${aws_kms_key.key.arn}"]
    assert sorted(sids(granted)) == ["ReadDataBucket", "TenantKeyDecrypt"]


def test_given_a_role_when_the_bucket_grants_write_then_it_may_put_objects_only_and_encrypt(
    stack, bucket, role
):
    # when
    bucket.grant_write(role)
    _, doc = synth(stack)
    granted = role_policy(doc, "worker")

    # then
    write = statement(granted, "WriteDataBucket")
    assert write["Action"] == sorted(actions.S3_WRITE)
    assert write["Resource"] == ["${aws_s3_bucket.data.arn}/*"]
    assert "kms:GenerateDataKey" in statement(granted, "TenantKeyEncryptDecrypt")["Action"]
    assert "ReadDataBucket" not in sids(granted)


def test_given_a_role_when_the_bucket_grants_read_write_then_both_statements_are_added(stack, bucket, role):
    # when
    bucket.grant_read_write(role)
    _, doc = synth(stack)

    # then
    assert sorted(sids(role_policy(doc, "worker"))) == [
        "ReadDataBucket",
        "TenantKeyDecrypt",
        "TenantKeyEncryptDecrypt",
        "WriteDataBucket",
    ]


# --- TenantStorage ------------------------------------------------------------------------------


def test_given_tenant_storage_when_synthesized_then_three_secure_buckets_carry_their_lifecycle_rules(
    stack, naming, key
):
    # given
    TenantStorage(
        stack,
        "Storage",
        TenantStorageProps(
            naming=naming,
            key=key,
            raw_data_expiration_days=45,
            noncurrent_model_expiration_days=120,
            artifacts_infrequent_access_days=60,
        ),
    )

    # when
    _, doc = synth(stack)

    # then
    names = sorted(b["bucket"] for b in bodies(doc, "aws_s3_bucket").values())
    assert names == [f"tenantml-acme-dev-{c}-{ACCOUNT_ID}" for c in ("artifacts", "data", "models")]
    for secure_default in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_lifecycle_configuration",
    ):
        assert len(bodies(doc, secure_default)) == 3, secure_default
    lifecycle = {
        name: body["rule"][0] for name, body in bodies(doc, "aws_s3_bucket_lifecycle_configuration").items()
    }
    assert lifecycle["storage_data_lifecycle"]["filter"] == [{"prefix": "incoming/"}]
    assert lifecycle["storage_data_lifecycle"]["expiration"] == [{"days": 45}]
    assert lifecycle["storage_artifacts_lifecycle"]["transition"] == [
        {"days": 60, "storage_class": "STANDARD_IA"}
    ]
    assert lifecycle["storage_models_lifecycle"]["noncurrent_version_expiration"] == [
        {"noncurrent_days": 120}
    ]


def test_given_tenant_storage_with_a_too_early_infrequent_access_transition_when_built_then_the_rule_is_named(
    stack, naming, key
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        TenantStorage(
            stack,
            "Storage",
            TenantStorageProps(
                naming=naming,
                key=key,
                raw_data_expiration_days=45,
                noncurrent_model_expiration_days=120,
                artifacts_infrequent_access_days=10,
            ),
        )

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("lifecycle_rules[0].infrequent_access_days", "S3 requires at least 30 days", 10)
    ]


# --- props rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "location", "message", "value"),
    [
        (
            LifecycleRule(rule_id="r", expiration_days=0),
            "lifecycle_rules[0].expiration_days",
            "must be at least 1 day",
            0,
        ),
        (
            LifecycleRule(rule_id="r", noncurrent_days=-1),
            "lifecycle_rules[0].noncurrent_days",
            "must be at least 1 day",
            -1,
        ),
        (
            LifecycleRule(rule_id="r", infrequent_access_days=29),
            "lifecycle_rules[0].infrequent_access_days",
            "S3 requires at least 30 days",
            29,
        ),
        (
            LifecycleRule(rule_id="r", infrequent_access_days=60, expiration_days=60),
            "lifecycle_rules[0].expiration_days",
            "must be later than the transition to infrequent access",
            60,
        ),
        (
            LifecycleRule(rule_id="r", prefix="tmp/"),
            "lifecycle_rules[0]",
            "a lifecycle rule needs at least one action",
            None,
        ),
    ],
    ids=["expiration-0", "noncurrent-negative", "ia-before-30-days", "expires-before-ia", "no-action"],
)
def test_given_a_broken_lifecycle_rule_when_bucket_props_are_built_then_the_rule_field_and_value_are_named(
    naming, key, rule, location, message, value
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=(rule,))

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [(location, message, value)]
    assert f"{location}: {message}" in str(caught.value)


def test_given_two_lifecycle_rules_with_one_id_when_bucket_props_are_built_then_the_duplicate_ids_are_named(
    naming, key
):
    # given
    rules = (
        LifecycleRule(rule_id="same", expiration_days=10),
        LifecycleRule(rule_id="same", noncurrent_days=10),
    )

    # when
    with pytest.raises(ConstructPropsError) as caught:
        SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=rules)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("lifecycle_rules", "rule ids must be unique", ["same", "same"])
    ]


def test_given_several_broken_rules_when_bucket_props_are_built_then_one_error_lists_every_problem(
    naming, key
):
    # given
    rules = (LifecycleRule(rule_id="a", expiration_days=0), LifecycleRule(rule_id="b"))

    # when
    with pytest.raises(ConstructPropsError) as caught:
        SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=rules)

    # then
    assert [p.location for p in caught.value.problems] == [
        "lifecycle_rules[0].expiration_days",
        "lifecycle_rules[1]",
    ]


@pytest.mark.parametrize(
    "rule",
    [
        LifecycleRule(rule_id="r", expiration_days=1),
        LifecycleRule(rule_id="r", noncurrent_days=1),
        LifecycleRule(rule_id="r", infrequent_access_days=30),
        LifecycleRule(rule_id="r", infrequent_access_days=30, expiration_days=31),
    ],
    ids=["expiration-1", "noncurrent-1", "ia-30", "expires-after-ia"],
)
def test_given_a_valid_lifecycle_rule_when_bucket_props_are_built_then_the_rule_is_kept(naming, key, rule):
    # when
    props = SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=(rule,))

    # then
    assert props.lifecycle_rules == (rule,)
    assert props.force_destroy is False


def test_given_lifecycle_rules_with_distinct_ids_when_bucket_props_are_built_then_both_are_kept(naming, key):
    # given
    rules = (
        LifecycleRule(rule_id="expire-raw", prefix="incoming/", expiration_days=30),
        LifecycleRule(rule_id="expire-old-versions", noncurrent_days=90),
    )

    # when
    props = SecureBucketProps(naming=naming, component="data", key=key, lifecycle_rules=rules)

    # then
    assert [r.rule_id for r in props.lifecycle_rules] == ["expire-raw", "expire-old-versions"]
