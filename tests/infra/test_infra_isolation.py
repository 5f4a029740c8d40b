"""Tenant isolation: nothing in one tenant's stack names, or can match, another tenant's resources.

Several tenants are synthesized together (as ``tenantml synth`` does), two of them in the same
account and two in the same region and environment, and every string of every stack is
searched: resource arguments, JSON policy documents, tags, environment variables and outputs.
"""

from __future__ import annotations

import copy
import re
from itertools import permutations
from pathlib import Path

import pytest
import yaml
from infra_support import EXAMPLE_TENANTS, SynthesizedStack, bodies, glob_matches, strings, synthesize_specs

from core.errors import TenantSpecError
from core.platform import PlatformSpec
from core.spec import load_specs
from core.stack_names import tenant_of_stack

#: tenant -> (base example, changes); fraud and recsys share an account, churn and pricing a region and environment
TENANTS = {
    "churn": ("churn", {}),
    "fraud": ("fraud", {}),
    "recsys": (
        "churn",
        {
            "environment": "staging",
            "region": "eu-central-1",
            "account_id": "111122223333",
            # every tenant has its own network range (the spec refuses overlaps)
            "compute": {"vpc_cidr": "10.30.0.0/16"},
            "model": {
                "name": "recsys",
                "problem": "regression",
                "primary_metric": "rmse",
                "minimum_metric": 1.0,
                "estimator": "ridge",
            },
        },
    ),
    "pricing": (
        "fraud",
        {
            "environment": "dev",
            "region": "eu-west-1",
            "account_id": None,
            "compute": {"vpc_cidr": "10.40.0.0/16"},
            "model": {"name": "pricing"},
        },
    ),
}


def _write_spec(directory: Path, name: str, base: str, changes: dict) -> None:
    document = copy.deepcopy(yaml.safe_load((EXAMPLE_TENANTS / f"{base}.yaml").read_text(encoding="utf-8")))
    document["name"] = name
    document["alert_emails"] = [f"{name}-alerts@example.com"]
    document["owners"] = [f"{name}-team@example.com"]
    document["tags"] = {"team": f"{name}-team", "cost-center": "cc-0001"}
    for key, value in changes.items():
        if isinstance(value, dict):
            document[key] = {**document[key], **value}
        elif value is None:
            document.pop(key, None)
        else:
            document[key] = value
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


def _synthesize(tmp: Path, tenants: dict[str, tuple[str, dict]]) -> dict[str, SynthesizedStack]:
    specs_dir = tmp / "tenants"
    specs_dir.mkdir()
    for name, (base, changes) in tenants.items():
        _write_spec(specs_dir, name, base, changes)
    # pricing names no account: the platform's default account holds its state bucket
    return synthesize_specs(
        load_specs(specs_dir), tmp / "out", PlatformSpec(default_account_id="210987654321")
    )


def _prefix(stack: SynthesizedStack) -> str:
    (provider,) = stack.doc["provider"]["aws"]
    environment = provider["default_tags"][0]["tags"]["tenantml:environment"]
    return f"tenantml-{stack.tenant}-{environment}-"


def _physical_names(stack: SynthesizedStack) -> set[str]:
    """Every name of this tenant's own resources that appears anywhere in its stack."""
    pattern = re.compile(re.escape(_prefix(stack)) + r"[a-z0-9-]*[a-z0-9]")
    return {m for s in strings(stack.doc) for m in pattern.findall(s)}


def _name_globs(stack: SynthesizedStack) -> set[str]:
    """The name part of every wildcard pattern in a stack (policy resources such as ``...:stream/tenantml-x-dev-*``)."""
    return {m for s in strings(stack.doc) if "*" in s for m in re.findall(r"tenantml-[a-z0-9*-]*\*", s)}


def _cross_tenant_globs(owner: SynthesizedStack, other: SynthesizedStack) -> list[tuple[str, list[str]]]:
    names = _physical_names(other)
    return [
        (glob, sorted(glob_matches(glob, names)))
        for glob in sorted(_name_globs(owner))
        if glob_matches(glob, names)
    ]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, SynthesizedStack]:
    return _synthesize(tmp_path_factory.mktemp("isolation"), TENANTS)


PAIRS = list(permutations(TENANTS, 2))


def test_given_several_tenants_when_synthesized_together_then_each_gets_its_own_stack(stacks):
    # then
    # an EKS tenant serving on EKS also gets its Kubernetes stack, <tenant>-kubernetes
    assert sorted(s for s in stacks if s in TENANTS) == sorted(TENANTS)
    assert {tenant_of_stack(s) for s in stacks} == set(TENANTS)
    assert len({s.directory for s in stacks.values()}) == len(stacks)


@pytest.mark.parametrize(("owner", "other"), PAIRS)
def test_given_two_tenants_when_synthesized_then_no_string_in_one_stack_names_the_others_resources(
    stacks, owner, other
):
    # given
    markers = (f"tenantml-{other}-", f"/tenantml/{other}/", f"tenants/{other}/")

    # when
    leaks = sorted({s for s in strings(stacks[owner].doc) if any(m in s for m in markers)})

    # then
    assert leaks == []


@pytest.mark.parametrize(("owner", "other"), PAIRS)
def test_given_two_tenants_when_synthesized_then_one_stack_never_mentions_the_other_tenant(
    stacks, owner, other
):
    # given: tags, descriptions, alarm dimensions and environment variables all carry tenant names
    word = re.compile(rf"(?<![a-z0-9]){re.escape(other)}(?![a-z0-9])")

    # when
    mentions = sorted({s for s in strings(stacks[owner].doc) if word.search(s)})

    # then
    assert mentions == []


@pytest.mark.parametrize(("owner", "other"), PAIRS)
def test_given_two_tenants_when_synthesized_then_no_wildcard_in_one_stack_matches_the_others_names(
    stacks, owner, other
):
    # when
    matches = _cross_tenant_globs(stacks[owner], stacks[other])

    # then
    assert _name_globs(stacks[owner]), "the boundary policy holds tenant-scoped wildcard patterns"
    assert matches == []


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_given_a_tenant_when_synthesized_then_every_physical_name_and_tag_is_its_own(stacks, tenant):
    # given
    stack = stacks[tenant]
    doc = stack.doc
    prefix = _prefix(stack)

    # then
    named = {
        "aws_s3_bucket": "bucket",
        "aws_kinesis_stream": "name",
        "aws_sns_topic": "name",
        "aws_sqs_queue": "name",
        "aws_lambda_function": "function_name",
        "aws_iam_role": "name",
        "aws_iam_policy": "name",
        "aws_cloudwatch_metric_alarm": "alarm_name",
        "aws_sagemaker_model_package_group": "model_package_group_name",
    }
    for resource_type, attribute in named.items():
        for body in bodies(doc, resource_type).values():
            assert body[attribute].startswith(prefix), (resource_type, body[attribute])
    (provider,) = doc["provider"]["aws"]
    assert provider["default_tags"][0]["tags"]["tenantml:tenant"] == tenant
    for body in bodies(doc, "aws_lambda_function").values():
        assert body["environment"][0]["variables"]["TENANTML_TENANT"] == tenant
    assert doc["terraform"]["backend"]["s3"]["key"] == f"tenants/{tenant}/terraform.tfstate"


def test_given_a_tenant_named_like_another_tenant_plus_its_environment_when_loaded_then_the_spec_is_refused(
    tmp_path,
):
    # given: "team-dev" in prod would sit inside the name prefix of "team" in dev (tenantml-team-dev-)
    specs = tmp_path / "tenants"
    specs.mkdir()
    churn = yaml.safe_load((EXAMPLE_TENANTS / "churn.yaml").read_text())
    (specs / "team-dev.yaml").write_text(yaml.safe_dump({**churn, "name": "team-dev", "environment": "prod"}))

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(specs)

    # then
    (problem,) = caught.value.problems
    assert problem.location.endswith("team-dev.yaml: name")
    assert problem.value == "team-dev"
    assert "must not contain an environment name (dev)" in problem.message


def test_given_tenants_whose_names_share_a_prefix_when_synthesized_then_boundaries_stay_apart(tmp_path):
    # given: "team" and "team-a" share a prefix, but environments separate every name
    stacks = _synthesize(
        tmp_path,
        {
            "team": (
                "churn",
                {"environment": "dev", "account_id": "111122223333", "model": {"name": "team"}},
            ),
            "team-a": (
                "churn",
                {
                    "environment": "dev",
                    "account_id": "111122223333",
                    "compute": {"vpc_cidr": "10.11.0.0/16"},
                    "model": {"name": "teama"},
                },
            ),
        },
    )

    # when
    matches = _cross_tenant_globs(stacks["team"], stacks["team-a"])

    # then
    assert matches == []
