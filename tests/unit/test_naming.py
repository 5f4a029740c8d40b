"""The naming helper: every physical name starts with tenantml-<tenant>-<env>- and fits its AWS limit."""

from __future__ import annotations

import pytest

from core.errors import ConstructPropsError
from core.naming import NAME_LIMITS, Naming


@pytest.fixture
def naming() -> Naming:
    return Naming(tenant="acme", environment="dev", region="eu-west-1")


def test_given_a_tenant_and_environment_when_naming_then_the_prefix_holds_both(naming):
    # when / then
    assert naming.prefix == "tenantml-acme-dev"
    assert naming.name("inference", "stream") == "tenantml-acme-dev-inference"
    assert naming.name("alerts") == "tenantml-acme-dev-alerts"


@pytest.mark.parametrize(("kind", "limit"), sorted(NAME_LIMITS.items()))
def test_given_a_name_exactly_at_the_limit_when_naming_then_it_is_accepted(naming, kind, limit):
    # given
    component = "x" * (limit - len("tenantml-acme-dev-"))

    # when
    name = naming.name(component, kind)

    # then
    assert len(name) == limit


@pytest.mark.parametrize(("kind", "limit"), sorted(NAME_LIMITS.items()))
def test_given_a_name_one_over_the_limit_when_naming_then_the_kind_and_limit_are_named(naming, kind, limit):
    # given
    component = "x" * (limit - len("tenantml-acme-dev-") + 1)

    # when
    with pytest.raises(ConstructPropsError) as caught:
        naming.name(component, kind)

    # then
    (problem,) = caught.value.problems
    assert problem.location == f"{kind} name"
    assert problem.message == f"is {limit + 1} characters; AWS allows {limit}"
    assert problem.value == f"tenantml-acme-dev-{component}"
    assert f"{kind} name: is {limit + 1} characters; AWS allows {limit}" in str(caught.value)


def test_given_the_aws_limits_when_listed_then_they_match_the_service_documentation():
    # then: S3 63, IAM roles 64, Lambda functions 64, SQS 80, Kinesis 128, SNS 256, EKS 100, alarms 255
    assert NAME_LIMITS == {
        "bucket": 63,
        "role": 64,
        "function": 64,
        "queue": 80,
        "stream": 128,
        "topic": 256,
        "cluster": 100,
        "alarm": 255,
        "model_package_group": 63,
        "default": 64,
    }


@pytest.mark.parametrize("component", ["Data", "data_lake", "-data", "1data", "", "data lake"])
def test_given_a_component_that_is_not_lowercase_dashes_when_naming_then_the_component_is_named(
    naming, component
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        naming.name(component)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("component", "must be lowercase letters, digits and '-'", component)
    ]


def test_given_an_account_id_when_naming_a_bucket_then_the_name_ends_with_it():
    # given
    naming = Naming(tenant="acme", environment="prod", region="us-east-1", account_id="111122223333")

    # when / then
    assert naming.bucket("data") == "tenantml-acme-prod-data-111122223333"


def test_given_no_account_id_when_naming_a_bucket_then_the_name_has_no_suffix(naming):
    # when / then
    assert naming.bucket("data") == "tenantml-acme-dev-data"


def test_given_an_account_id_that_pushes_a_bucket_name_over_63_when_naming_then_the_bucket_limit_is_named():
    # given: 9 + 20 + 1 + 7 + 1 + 22 + 1 + 12 = 73 characters
    naming = Naming(tenant="a" * 20, environment="staging", region="eu-west-1", account_id="111122223333")

    # when
    with pytest.raises(ConstructPropsError) as caught:
        naming.bucket("x" * 22)

    # then
    (problem,) = caught.value.problems
    assert (problem.location, problem.message) == ("bucket name", "is 73 characters; AWS allows 63")


def test_given_the_longest_tenant_name_when_naming_the_platform_buckets_then_they_fit():
    # given: the spec allows 20-character tenant names and 'staging'
    naming = Naming(tenant="a" * 20, environment="staging", region="eu-west-1", account_id="111122223333")

    # when
    names = [naming.bucket(component) for component in ("data", "artifacts", "models")]

    # then
    assert max(len(n) for n in names) <= 63


@pytest.mark.parametrize(
    ("service", "resource", "expected"),
    [
        ("s3", "tenantml-acme-prod-*", "arn:aws:s3:::tenantml-acme-prod-*"),
        ("iam", "role/tenantml-acme-prod-*", "arn:aws:iam::111122223333:role/tenantml-acme-prod-*"),
        (
            "kinesis",
            "stream/tenantml-acme-prod-*",
            "arn:aws:kinesis:us-east-1:111122223333:stream/tenantml-acme-prod-*",
        ),
    ],
)
def test_given_an_account_when_building_arn_patterns_then_region_and_account_are_filled_in(
    service, resource, expected
):
    # given
    naming = Naming(tenant="acme", environment="prod", region="us-east-1", account_id="111122223333")

    # when / then
    assert naming.arn_pattern(service, resource) == expected


def test_given_no_account_when_building_arn_patterns_then_any_account_matches(naming):
    # when / then
    assert naming.arn_pattern("sqs", "tenantml-acme-dev-*") == "arn:aws:sqs:eu-west-1:*:tenantml-acme-dev-*"
