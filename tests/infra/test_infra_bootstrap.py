"""The state bootstrap (one stack per account) and every tenant backend that points at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_support import SynthesizedStack, bodies, only, policy, statement, synthesize_specs

from core.platform import PlatformSpec, StateSettings
from core.spec import TenantSpec
from infra.provider_schema import load_aws_schema, load_kubernetes_schema
from infra.schema_check import check_stack
from tenantml.synthesis import BootstrapResult, synth_bootstrap

STATE_REGION = "us-east-1"


@pytest.fixture(scope="module")
def bootstraps(
    example_specs: list[TenantSpec], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[BootstrapResult, dict[str, Any]]]:
    """account -> (result, document) for the example tenants' accounts."""
    results = synth_bootstrap(example_specs, tmp_path_factory.mktemp("bootstrap"), PlatformSpec())
    return {r.account_id: (r, json.loads(r.path.read_text())) for r in results}


def _backend(stack: SynthesizedStack) -> dict[str, Any]:
    return stack.doc["terraform"]["backend"]["s3"]


def test_given_the_example_tenants_when_bootstrapped_then_there_is_one_stack_per_account_named_for_it(
    example_specs, bootstraps
):
    # then: churn and fraud name two accounts, and each bucket carries its account and the state region
    assert sorted(bootstraps) == sorted({s.account_id for s in example_specs})
    for account, (result, doc) in bootstraps.items():
        bucket = only(doc, "aws_s3_bucket")
        assert bucket["bucket"] == f"tenantml-tfstate-{account}-{STATE_REGION}" == result.bucket
        assert bucket["force_destroy"] is False
        provider = doc["provider"]["aws"][0]
        assert provider["region"] == STATE_REGION
        assert provider["allowed_account_ids"] == [account]


def test_given_a_bootstrap_stack_then_the_bucket_is_versioned_kms_encrypted_with_its_own_key_and_private(
    bootstraps,
):
    for _result, doc in bootstraps.values():
        assert only(doc, "aws_s3_bucket_versioning")["versioning_configuration"] == [{"status": "Enabled"}]
        key_address = next(iter(bodies(doc, "aws_kms_key")))
        assert only(doc, "aws_kms_key")["enable_key_rotation"] is True
        (rule,) = only(doc, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
        assert rule["apply_server_side_encryption_by_default"] == [
            {"sse_algorithm": "aws:kms", "kms_master_key_id": f"${{aws_kms_key.{key_address}.arn}}"}
        ]
        block = only(doc, "aws_s3_bucket_public_access_block")
        assert all(
            block[flag] is True
            for flag in (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            )
        )


def test_given_a_bootstrap_stack_then_its_bucket_policy_denies_plain_http(bootstraps):
    for _result, doc in bootstraps.values():
        document = policy(only(doc, "aws_s3_bucket_policy"))
        tls = statement(document, "DenyInsecureTransport")
        assert tls["Effect"] == "Deny" and tls["Principal"] == "*" and tls["Action"] == "s3:*"
        assert tls["Resource"] == ["${aws_s3_bucket.state.arn}", "${aws_s3_bucket.state.arn}/*"]
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_a_bootstrap_stack_then_its_bucket_policy_denies_uploads_not_encrypted_with_kms(bootstraps):
    for _result, doc in bootstraps.values():
        document = policy(only(doc, "aws_s3_bucket_policy"))
        objects = ["${aws_s3_bucket.state.arn}/*"]
        # the standard pair: a wrong SSE header, and no SSE header at all (the bucket default does not count)
        wrong = statement(document, "DenyIncorrectEncryptionHeader")
        assert (wrong["Effect"], wrong["Principal"], wrong["Action"], wrong["Resource"]) == (
            "Deny",
            "*",
            "s3:PutObject",
            objects,
        )
        assert wrong["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        missing = statement(document, "DenyUnencryptedObjectUploads")
        assert (missing["Effect"], missing["Principal"], missing["Action"], missing["Resource"]) == (
            "Deny",
            "*",
            "s3:PutObject",
            objects,
        )
        assert missing["Condition"] == {"Null": {"s3:x-amz-server-side-encryption": "true"}}
        assert len(document["Statement"]) == 3


def test_given_a_bootstrap_stack_then_it_has_no_lock_table_and_keeps_its_own_state_locally(bootstraps):
    for account, (_result, doc) in bootstraps.items():
        assert "aws_dynamodb_table" not in doc.get("resource", {})
        assert doc["terraform"]["backend"] == {"local": {"path": f"terraform.bootstrap-{account}.tfstate"}}


def test_given_bootstrap_stacks_then_every_resource_matches_the_provider_schema(bootstraps):
    schema, kubernetes = load_aws_schema(), load_kubernetes_schema()
    for _result, doc in bootstraps.values():
        assert check_stack(doc, schema, kubernetes) == []


def test_given_the_example_tenants_then_every_backend_uses_its_accounts_bucket_in_the_one_state_region(
    example_specs, example_stacks, bootstraps
):
    # churn runs in eu-west-1 and fraud in us-east-1: both keep state in the platform's one region
    assert {s.region for s in example_specs} == {"eu-west-1", "us-east-1"}
    keys = set()
    for spec in example_specs:
        backend = _backend(example_stacks[spec.name])
        assert backend == {
            "bucket": bootstraps[spec.account_id][0].bucket,
            "key": f"tenants/{spec.name}/terraform.tfstate",
            "region": STATE_REGION,
            "use_lockfile": True,
            # the bucket policy denies uploads without the SSE-KMS header: Terraform sends it, naming
            # the bootstrap's key by its alias (known before the key exists, unlike its id)
            "encrypt": True,
            "kms_key_id": f"alias/tenantml-tfstate-{spec.account_id}",
        }
        keys.add((backend["bucket"], backend["key"]))
    assert len(keys) == len(example_specs)


def test_given_the_example_tenants_then_no_backend_locks_in_dynamodb(example_stacks):
    for stack in example_stacks.values():
        assert "dynamodb_table" not in _backend(stack)
        # the one table a stack may have is its feature store's online table (shop's), never a lock table
        assert set(stack.doc.get("resource", {}).get("aws_dynamodb_table", {})) <= {"features"}


def _admits(constraint: str, version: str) -> bool:
    """Does a ``~> X.Y`` constraint admit ``version`` (>= X.Y, < X+1)?"""
    assert constraint.startswith("~> "), constraint
    floor = tuple(int(p) for p in constraint[3:].split("."))
    have = tuple(int(p) for p in version.split("."))
    return have[: len(floor)] >= floor and have[0] == floor[0]


def test_given_every_stack_then_terraform_1_10_is_required_and_providers_are_pinned_to_the_schemas_release(
    example_stacks, bootstraps
):
    released = {
        "aws": load_aws_schema()["source"]["provider_version"],
        "kubernetes": load_kubernetes_schema()["source"]["provider_version"],
    }
    documents = [s.doc for s in example_stacks.values()] + [doc for _r, doc in bootstraps.values()]
    for doc in documents:
        assert doc["terraform"]["required_version"] == ">= 1.10"
        for name, provider in doc["terraform"]["required_providers"].items():
            assert provider["source"] == f"hashicorp/{name}"
            # the committed schema's release is admitted, an older minor (missing attributes) is not
            assert _admits(provider["version"], released[name]), (name, provider["version"])
            major, minor = released[name].split(".")[:2]
            assert not _admits(provider["version"], f"{major}.{int(minor) - 1}.0")


def test_given_a_custom_state_region_and_prefix_when_synthesized_then_backend_and_bootstrap_follow_it(
    example_specs, tmp_path: Path
):
    # given
    platform = PlatformSpec(state=StateSettings(region="eu-central-1", key_prefix="org/ml"))
    (fraud,) = [s for s in example_specs if s.name == "fraud"]

    # when
    stack = synthesize_specs([fraud], tmp_path / "out", platform)["fraud"]
    (result,) = synth_bootstrap([fraud], tmp_path / "out", platform)

    # then
    assert _backend(stack) == {
        "bucket": "tenantml-tfstate-111122223333-eu-central-1",
        "key": "org/ml/fraud/terraform.tfstate",
        "region": "eu-central-1",
        "use_lockfile": True,
        "encrypt": True,
        "kms_key_id": "alias/tenantml-tfstate-111122223333",
    }
    assert result.bucket == "tenantml-tfstate-111122223333-eu-central-1"
    assert json.loads(result.path.read_text())["provider"]["aws"][0]["region"] == "eu-central-1"
