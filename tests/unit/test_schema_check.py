"""Checking synthesized Terraform JSON against the AWS provider schema extracted from the bindings."""

from __future__ import annotations

import copy
import functools
import gzip
import json
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.errors import Problem
from infra.provider_schema import load_aws_schema
from infra.schema_check import check_stack

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _load_extractor() -> SimpleNamespace:
    """The extraction script is not a package module: run it as a module (not as __main__) for its names."""
    names = runpy.run_path(
        str(REPO_ROOT / "scripts" / "extract_provider_schema.py"), run_name="extract_provider_schema"
    )
    return SimpleNamespace(**names)


def _valid_stack() -> dict[str, Any]:
    """A small document shaped like cdktf's output, valid against the provider schema."""
    return {
        "//": {"metadata": {"stackName": "acme-dev"}},
        "provider": {"aws": [{"region": "eu-west-1", "default_tags": [{"tags": {"tenant": "acme"}}]}]},
        "resource": {
            "aws_s3_bucket": {
                "data": {
                    "bucket": "acme-dev-data",
                    "force_destroy": False,
                    "tags": {"tenant": "acme"},
                    "//": {"metadata": {"path": "acme-dev/Storage/Data/this"}},
                }
            },
            "aws_s3_bucket_versioning": {
                "data": {
                    "bucket": "${aws_s3_bucket.data.id}",
                    "versioning_configuration": {"status": "Enabled"},
                    "depends_on": ["aws_s3_bucket.data"],
                }
            },
            "aws_s3_bucket_server_side_encryption_configuration": {
                "data": {
                    "bucket": "${aws_s3_bucket.data.id}",
                    "rule": [
                        {
                            "apply_server_side_encryption_by_default": {
                                "sse_algorithm": "aws:kms",
                                "kms_master_key_id": "${aws_kms_key.data.arn}",
                            },
                            "bucket_key_enabled": True,
                        }
                    ],
                }
            },
            "aws_kms_key": {
                "data": {
                    "enable_key_rotation": True,
                    "deletion_window_in_days": 30,
                    "lifecycle": {"prevent_destroy": True},
                }
            },
        },
    }


def _locations(problems: list[Problem]) -> list[str]:
    return [problem.location for problem in problems]


# ---------------------------------------------------------------------------------------------------------
# Valid documents
# ---------------------------------------------------------------------------------------------------------


def test_valid_stack_has_no_problems() -> None:
    # given a document that follows the schema, with cdktf metadata and meta-arguments
    stack = _valid_stack()

    # when it is checked
    problems = check_stack(stack)

    # then nothing is reported
    assert problems == []


def test_interpolations_and_terraform_conversions_are_accepted() -> None:
    # given values Terraform converts or only knows at apply time
    stack = _valid_stack()
    key = stack["resource"]["aws_kms_key"]["data"]
    key["enable_key_rotation"] = "${var.rotate}"  # an interpolation may stand for a bool
    key["deletion_window_in_days"] = "7"  # a number as a string
    key["is_enabled"] = "true"  # a bool as a string
    key["description"] = 42  # a number where a string is expected
    stack["resource"]["aws_eks_cluster"] = {
        "this": {
            "name": "acme",
            "role_arn": "${aws_iam_role.cluster.arn}",
            # subnet_ids is a set(string): a JSON list stands for it
            "vpc_config": {"subnet_ids": ["subnet-1", "${aws_subnet.b.id}"], "endpoint_private_access": True},
        }
    }

    # when it is checked
    problems = check_stack(stack)

    # then nothing is reported
    assert problems == []


def test_meta_arguments_are_ignored() -> None:
    # given a resource using every Terraform meta-argument and cdktf's metadata key
    stack = _valid_stack()
    stack["resource"]["aws_kms_key"]["data"].update(
        {
            "count": 2,
            "for_each": "${toset(var.names)}",
            "provider": "aws.us_east_1",
            "depends_on": ["aws_s3_bucket.data"],
            "provisioner": [{"local-exec": {"command": "true"}}],
            "connection": {"type": "ssh"},
            "//": {"metadata": {}},
        }
    )

    # when it is checked
    problems = check_stack(stack)

    # then none of them is reported as an unknown attribute
    assert problems == []


# ---------------------------------------------------------------------------------------------------------
# Each kind of problem, with its location
# ---------------------------------------------------------------------------------------------------------


def test_unknown_resource_type_is_reported() -> None:
    # given a misspelt resource type
    stack = _valid_stack()
    stack["resource"]["aws_s3_buckett"] = {"logs": {"bucket": "acme-logs"}}

    # when it is checked
    problems = check_stack(stack)

    # then the type itself is the location, and the message says how to add a real type
    assert _locations(problems) == ["aws_s3_buckett"]
    assert "unknown resource type" in problems[0].message
    assert "RESOURCE_TYPES" in problems[0].message


def test_unknown_top_level_attribute_is_reported_with_a_suggestion() -> None:
    # given a misspelt attribute on a resource
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket"]["data"]["bucket_prefixx"] = "acme-"

    # when it is checked
    problems = check_stack(stack)

    # then it is reported at its full address, with the closest real name
    assert problems == [
        Problem(
            "aws_s3_bucket.data.bucket_prefixx",
            "unknown attribute or block: not in the provider schema; did you mean 'bucket_prefix'?",
        )
    ]


def test_unknown_attribute_deep_in_nested_blocks_is_reported_at_its_path() -> None:
    # given a misspelt attribute three blocks deep (rule given as a list, the inner block as an object)
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket"]["data"]["server_side_encryption_configuration"] = {
        "rule": [{"apply_server_side_encryption_by_default": {"sse_algorithmx": "aws:kms"}}]
    }

    # when it is checked
    problems = check_stack(stack)

    # then the misspelt name is reported, and so is the required attribute it was meant to be
    nested = "aws_s3_bucket.data.server_side_encryption_configuration.rule[0].apply_server_side_encryption_by_default"
    assert _locations(problems) == [f"{nested}.sse_algorithmx", f"{nested}.sse_algorithm"]
    assert "did you mean 'sse_algorithm'?" in problems[0].message
    assert problems[1].message == "required attribute is missing (or null)"


def test_missing_required_attribute_and_block_are_reported() -> None:
    # given a versioning resource with neither its bucket nor its versioning_configuration block
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"] = {"expected_bucket_owner": "123456789012"}

    # when it is checked
    problems = check_stack(stack)

    # then both are reported
    assert problems == [
        Problem("aws_s3_bucket_versioning.data.bucket", "required attribute is missing (or null)"),
        Problem("aws_s3_bucket_versioning.data.versioning_configuration", "required block is missing"),
    ]


def test_missing_required_attribute_inside_a_block_is_reported() -> None:
    # given a versioning_configuration block without its required status
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"]["versioning_configuration"] = {
        "mfa_delete": "Disabled"
    }

    # when it is checked
    problems = check_stack(stack)

    # then the status is reported inside the block
    assert _locations(problems) == ["aws_s3_bucket_versioning.data.versioning_configuration.status"]


def test_single_block_given_as_a_list_of_two_is_reported() -> None:
    # given a single (max 1) block written twice
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"]["versioning_configuration"] = [
        {"status": "Enabled"},
        {"status": "Suspended"},
    ]

    # when it is checked
    problems = check_stack(stack)

    # then the block is reported with how many were given
    assert problems == [
        Problem("aws_s3_bucket_versioning.data.versioning_configuration", "at most 1 block(s) allowed", 2)
    ]


def test_single_block_given_as_a_list_of_one_is_accepted() -> None:
    # given a single block in its list form (cdktf writes blocks this way)
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"]["versioning_configuration"] = [
        {"status": "Enabled"}
    ]

    # when it is checked / then nothing is reported
    assert check_stack(stack) == []


@pytest.mark.parametrize("value", ["Enabled", "${var.versioning}", 1, True])
def test_primitive_where_a_block_is_expected_is_reported(value: object) -> None:
    # given a primitive (even an interpolation: Terraform JSON needs a dynamic block for that) as a block
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"]["versioning_configuration"] = value

    # when it is checked
    problems = check_stack(stack)

    # then the block is reported with the value given
    assert _locations(problems) == ["aws_s3_bucket_versioning.data.versioning_configuration"]
    assert problems[0].message.startswith("a block must be an object or a list of objects")
    assert problems[0].value == value


def test_block_where_a_primitive_is_expected_is_reported() -> None:
    # given an object where the bucket name (a string) is expected
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_versioning"]["data"]["bucket"] = {"name": "acme-dev-data"}

    # when it is checked
    problems = check_stack(stack)

    # then the attribute is reported as the wrong kind
    assert problems == [
        Problem(
            "aws_s3_bucket_versioning.data.bucket",
            "expected string, not an object",
            {"name": "acme-dev-data"},
        )
    ]


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("enable_key_rotation", {"on": True}, "expected bool, not an object"),
        ("enable_key_rotation", 1, "expected bool, not a number"),
        ("enable_key_rotation", "yes", "expected bool, not a string"),
        ("deletion_window_in_days", "seven", "expected number, not a string"),
        ("deletion_window_in_days", True, "expected number, not a bool"),
        ("description", ["a", "b"], "expected string, not a list"),
    ],
)
def test_primitive_of_the_wrong_kind_is_reported(attribute: str, value: object, message: str) -> None:
    # given a KMS key attribute with a value Terraform cannot convert
    stack = _valid_stack()
    stack["resource"]["aws_kms_key"]["data"][attribute] = value

    # when it is checked
    problems = check_stack(stack)

    # then it is reported with the value
    assert problems == [Problem(f"aws_kms_key.data.{attribute}", message, value)]


def test_wrong_element_inside_a_collection_is_reported_at_its_index_or_key() -> None:
    # given a list element and a map value of the wrong kind
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket"]["data"]["tags"] = {"tenant": {"name": "acme"}}
    stack["resource"]["aws_eks_cluster"] = {
        "this": {"name": "acme", "role_arn": "arn", "vpc_config": {"subnet_ids": ["subnet-1", ["nested"]]}}
    }

    # when it is checked
    problems = check_stack(stack)

    # then each is reported where it sits
    assert _locations(problems) == [
        'aws_s3_bucket.data.tags["tenant"]',
        "aws_eks_cluster.this.vpc_config.subnet_ids[1]",
    ]


def test_attributes_as_blocks_must_set_every_key() -> None:
    # given an inline security group rule that leaves keys out (Terraform JSON rejects it: these are
    # attributes of object type, not blocks, so unused keys must be written as null)
    stack = _valid_stack()
    rule = {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
    stack["resource"]["aws_security_group"] = {"web": {"vpc_id": "${aws_vpc.this.id}", "ingress": [rule]}}

    # when it is checked
    problems = check_stack(stack)

    # then the rule is reported with the keys it misses
    assert problems == [
        Problem(
            "aws_security_group.web.ingress[0]",
            "must set every key (null for unused ones); missing: description, ipv6_cidr_blocks,"
            " prefix_list_ids, security_groups, self",
        )
    ]


def test_attributes_as_blocks_with_every_key_set_are_accepted() -> None:
    # given the same rule with the unused keys written as null, and an egress list from an expression
    stack = _valid_stack()
    rule = {
        "from_port": 443,
        "to_port": 443,
        "protocol": "tcp",
        "cidr_blocks": ["10.0.0.0/8"],
        **dict.fromkeys(["description", "ipv6_cidr_blocks", "prefix_list_ids", "security_groups", "self"]),
    }
    stack["resource"]["aws_security_group"] = {"web": {"ingress": [rule], "egress": "${local.egress_rules}"}}

    # when it is checked / then nothing is reported
    assert check_stack(stack) == []


def test_dynamic_blocks_are_checked_by_name_and_content() -> None:
    # given a dynamic block of an unknown type, and a known one whose content has a misspelt attribute
    stack = _valid_stack()
    stack["resource"]["aws_s3_bucket_server_side_encryption_configuration"]["data"]["dynamic"] = {
        "rules": {"for_each": "${var.rules}", "content": {}},
        "rule": {"for_each": "${var.rules}", "content": {"bucket_key_enabledd": True}},
    }

    # when it is checked
    problems = check_stack(stack)

    # then both are reported where they sit
    dynamic = "aws_s3_bucket_server_side_encryption_configuration.data.dynamic"
    assert _locations(problems) == [f"{dynamic}.rules", f"{dynamic}.rule.content.bucket_key_enabledd"]


def test_required_block_may_come_from_a_dynamic_block() -> None:
    # given the required rule block generated by a dynamic block only
    stack = _valid_stack()
    sse = stack["resource"]["aws_s3_bucket_server_side_encryption_configuration"]["data"]
    sse["dynamic"] = {"rule": {"for_each": "${var.rules}", "content": sse.pop("rule")[0]}}

    # when it is checked / then the rule block does not count as missing
    assert check_stack(stack) == []


def test_provider_configuration_is_checked() -> None:
    # given an AWS provider configuration with a misspelt argument and a block of the wrong shape
    stack = _valid_stack()
    stack["provider"]["aws"][0].update({"regionn": "eu-west-1", "assume_role": "arn:aws:iam::1:role/x"})

    # when it is checked
    problems = check_stack(stack)

    # then both are reported under provider.aws
    assert _locations(problems) == ["provider.aws[0].regionn", "provider.aws[0].assume_role"]
    assert "did you mean 'region'?" in problems[0].message


def test_custom_schema_can_be_passed() -> None:
    # given a schema that knows one resource type only
    schema = copy.deepcopy(load_aws_schema())
    schema["resources"] = {"aws_kms_key": schema["resources"]["aws_kms_key"]}

    # when a stack with a bucket is checked against it
    problems = check_stack(_valid_stack(), schema)

    # then every type the schema does not know is reported, and the shared schema is untouched
    assert _locations(problems) == [
        "aws_s3_bucket",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
    ]
    assert "aws_s3_bucket" in load_aws_schema()["resources"]


# ---------------------------------------------------------------------------------------------------------
# The committed schema
# ---------------------------------------------------------------------------------------------------------


def test_committed_schema_knows_facts_verified_in_the_assembly() -> None:
    # given the committed schema
    schema = load_aws_schema()
    resources = schema["resources"]

    # then it names its source
    assert schema["source"]["package"] == "cdktn-provider-aws"
    assert schema["source"]["version"] == "25.8.1"
    assert schema["source"]["provider"] == "hashicorp/aws"
    assert schema["source"]["provider_version"].startswith("6.")

    # and S3 versioning needs a bucket and exactly one versioning_configuration block with a status
    versioning = resources["aws_s3_bucket_versioning"]
    assert versioning["attributes"]["bucket"] == {"required": True, "type": "string"}
    block = versioning["blocks"]["versioning_configuration"]
    assert (block["nesting"], block["max_items"], block["required"], block["syntax"]) == (
        "single",
        1,
        True,
        "block",
    )
    assert block["attributes"]["status"] == {"required": True, "type": "string"}

    # and KMS key rotation is an optional bool
    assert resources["aws_kms_key"]["attributes"]["enable_key_rotation"] == {
        "required": False,
        "type": "bool",
    }

    # and Lambda's dead_letter_config is a single optional block whose target_arn is required
    dead_letter = resources["aws_lambda_function"]["blocks"]["dead_letter_config"]
    assert (dead_letter["nesting"], dead_letter["required"]) == ("single", False)
    assert dead_letter["attributes"]["target_arn"] == {"required": True, "type": "string"}

    # and EKS vpc_config has endpoint_private_access (bool) and requires subnet_ids, a set
    vpc_config = resources["aws_eks_cluster"]["blocks"]["vpc_config"]
    assert vpc_config["attributes"]["endpoint_private_access"] == {"required": False, "type": "bool"}
    assert vpc_config["attributes"]["subnet_ids"] == {"required": True, "type": "set(string)"}

    # and names the bindings rename come out as Terraform spells them (cdktf: selfAttribute, s3UsEast1...)
    assert "self" in resources["aws_security_group"]["blocks"]["ingress"]["attributes"]
    assert "s3_us_east_1_regional_endpoint" in schema["provider"]["attributes"]

    # and security group rules are set-typed attributes, not blocks
    ingress = resources["aws_security_group"]["blocks"]["ingress"]
    assert (ingress["nesting"], ingress["syntax"], ingress["every_key_required"]) == (
        "set",
        "attribute",
        True,
    )


def test_committed_schema_covers_every_listed_resource_type() -> None:
    # given the list of types the extraction script is meant to cover
    extractor = _load_extractor()

    # when compared with the committed schema
    missing = set(extractor.RESOURCE_TYPES) - set(load_aws_schema()["resources"])

    # then none is missing (re-run the script after extending the list)
    assert missing == set()


# ---------------------------------------------------------------------------------------------------------
# The extraction script's reading of the assembly
# ---------------------------------------------------------------------------------------------------------


def test_extractor_follows_a_compressed_assembly_redirect() -> None:
    # given a .jsii that redirects to a gzip-compressed assembly, as jsii writes large assemblies
    extractor = _load_extractor()
    assembly = {"schema": "jsii/0.10.0", "name": "@cdktn/provider-aws", "types": {}}
    redirect = {"schema": "jsii/file-redirect", "compression": "gzip", "filename": ".jsii.gz"}
    files = {
        "package/.jsii": json.dumps(redirect).encode(),
        "package/.jsii.gz": gzip.compress(json.dumps(assembly).encode()),
    }

    # when it is loaded
    loaded = extractor._load_assembly(files)

    # then the compressed assembly is returned
    assert loaded == assembly


def test_extractor_takes_terraform_names_from_registry_anchors() -> None:
    # given a property the bindings renamed (Terraform's `self` is `selfAttribute` in TypeScript)
    extractor = _load_extractor()
    prop = {
        "name": "selfAttribute",
        "docs": {
            "summary": "Docs at Terraform Registry: {@link https://registry.terraform.io/providers/hashicorp/aws/"
            "6.69.1/docs/resources/security_group#self SecurityGroup#self}."
        },
    }

    # when its Terraform name is read / then it is the anchor, not a guess from the property name
    assert extractor.terraform_name(prop) == "self"
