"""References, resolution, ordering and whole-document checks of the emulator's graph module."""

from __future__ import annotations

import json

import pytest

from core.errors import EmulatorPlanError
from core.terraform.document import parse_document
from core.terraform.expressions import (
    UNKNOWN,
    ExpressionError,
    PartiallyKnown,
    Reference,
    ResolutionError,
    find_references,
    resolve,
)
from tenantml.emulator.graph import find_cycles, topological_order
from tenantml.emulator.plan import check_document

STATE = {
    "aws_s3_bucket.data": {
        "id": "tenantml-a-dev-data",
        "arn": "arn:aws:s3:::tenantml-a-dev-data",
        "bucket": "tenantml-a-dev-data",
    },
    "aws_eks_cluster.this": {
        "identity": [{"oidc": [{"issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}]}]
    },
    "aws_subnet.private": {"ids": ["subnet-1", "subnet-2"]},
    "aws_kinesis_stream.events": {
        "shard_count": 2,
        "retention_period": 24.0,
        "encryption": True,
        "tags": {"team": "x"},
    },
    "aws_iam_role.odd": {"name": 'quote"and\\backslash'},
}


# --- finding references --------------------------------------------------------------------


def test_given_whole_and_embedded_references_when_found_then_each_is_returned_with_its_path():
    value = {
        "bucket": "${aws_s3_bucket.data.id}",
        "resources": ["${aws_s3_bucket.data.arn}/*"],
        "url": "${aws_eks_cluster.this.identity[0].oidc[0].issuer}",
        "legacy": "${aws_eks_cluster.this.identity.0.oidc.0.issuer}",
        "plain": "no references here",
        "escaped": "$${not_a.reference}",
    }

    refs = find_references(value)

    assert refs == [
        Reference("aws_s3_bucket.data", ("id",)),
        Reference("aws_s3_bucket.data", ("arn",)),
        Reference("aws_eks_cluster.this", ("identity", 0, "oidc", 0, "issuer")),
        Reference("aws_eks_cluster.this", ("identity", 0, "oidc", 0, "issuer")),
    ]
    assert str(refs[2]) == "aws_eks_cluster.this.identity[0].oidc[0].issuer"


def test_given_a_json_policy_in_a_string_when_found_then_the_references_inside_are_returned():
    policy = json.dumps(
        {"Statement": [{"Resource": ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"]}]}
    )

    refs = find_references({"policy": policy})

    assert [str(r) for r in refs] == ["aws_s3_bucket.data.arn", "aws_s3_bucket.data.arn"]


def test_given_a_data_source_reference_when_found_then_its_address_has_the_data_prefix():
    refs = find_references("arn:aws:iam::${data.aws_caller_identity.current.account_id}:root")

    assert refs == [Reference("data.aws_caller_identity.current", ("account_id",))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${var.region}", "var.* references are not supported"),
        ("${upper(aws_s3_bucket.data.id)}", "function upper() is not supported"),
        ("${aws_s3_bucket.data.id", "expected '}' at 'end of text'"),
        ("${aws_sqs_queue.a.delay + 1}", "operator '+' is not supported"),
        ("${aws_subnet.private[*].id}", "splat expressions"),
    ],
)
def test_given_unsupported_syntax_when_found_then_it_is_named(text, message):
    with pytest.raises(ExpressionError) as err:
        find_references(text)

    assert message in str(err.value)


# --- resolving -----------------------------------------------------------------------------


def test_given_a_whole_string_reference_when_resolved_then_the_attribute_keeps_its_type():
    resolved = resolve(
        {
            "subnet_ids": "${aws_subnet.private.ids}",
            "shards": "${aws_kinesis_stream.events.shard_count}",
            "encrypted": "${aws_kinesis_stream.events.encryption}",
            "tags": "${aws_kinesis_stream.events.tags}",
        },
        STATE,
    )

    assert resolved == {
        "subnet_ids": ["subnet-1", "subnet-2"],
        "shards": 2,
        "encrypted": True,
        "tags": {"team": "x"},
    }


def test_given_embedded_references_when_resolved_then_they_are_interpolated_as_terraform_does():
    resolved = resolve(
        "${aws_s3_bucket.data.arn}/* keeps ${aws_kinesis_stream.events.retention_period}h "
        "encrypted=${aws_kinesis_stream.events.encryption} first=${aws_subnet.private.ids[1]}",
        STATE,
    )

    assert resolved == "arn:aws:s3:::tenantml-a-dev-data/* keeps 24h encrypted=true first=subnet-2"


def test_given_a_json_document_in_a_string_when_resolved_then_values_are_inserted_as_valid_json():
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Resource": ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"],
                    "Principal": {"AWS": "${aws_iam_role.odd.name}"},
                    "Condition": {"StringEquals": {"aws:SourceVpce": "${aws_subnet.private.ids}"}},
                }
            ]
        }
    )

    resolved = resolve(policy, STATE)

    statement = json.loads(resolved)["Statement"][0]
    assert statement["Resource"] == ["arn:aws:s3:::tenantml-a-dev-data", "arn:aws:s3:::tenantml-a-dev-data/*"]
    assert statement["Principal"]["AWS"] == 'quote"and\\backslash'  # escaped, still valid JSON
    assert statement["Condition"]["StringEquals"]["aws:SourceVpce"] == ["subnet-1", "subnet-2"]


def test_given_a_reference_to_a_resource_not_yet_created_when_resolved_then_it_is_known_after_apply():
    resolved = resolve(
        {
            "whole": "${aws_sqs_queue.later.arn}",
            "embedded": "arn-${aws_sqs_queue.later.name}",
            "policy": json.dumps({"Resource": "${aws_sqs_queue.later.arn}"}),
            "list": ["${aws_s3_bucket.data.id}", "${aws_sqs_queue.later.url}"],
        },
        STATE,
    )

    assert resolved["whole"] is UNKNOWN
    assert resolved["embedded"] is UNKNOWN
    assert resolved["policy"] is UNKNOWN
    assert resolved["list"] == ["tenantml-a-dev-data", UNKNOWN]


def test_given_a_planned_resource_when_resolved_then_set_arguments_are_known_and_computed_ones_are_not():
    planned = {"aws_s3_bucket.new": PartiallyKnown({"bucket": "tenantml-a-dev-new"})}

    assert resolve("${aws_s3_bucket.new.bucket}", planned) == "tenantml-a-dev-new"
    assert resolve("${aws_s3_bucket.new.arn}", planned) is UNKNOWN


def test_given_a_block_written_as_an_object_when_indexed_as_a_list_then_it_resolves():
    state = {"aws_eks_cluster.obj": {"identity": {"oidc": {"issuer": "https://issuer"}}}}

    assert resolve("${aws_eks_cluster.obj.identity[0].oidc[0].issuer}", state) == "https://issuer"


def test_given_a_missing_attribute_on_a_created_resource_when_resolved_then_the_error_names_it():
    with pytest.raises(ResolutionError) as err:
        resolve("${aws_s3_bucket.data.website_endpoint}", STATE)

    assert str(err.value) == "aws_s3_bucket.data has no attribute 'website_endpoint'"


def test_given_escaped_interpolation_when_resolved_then_it_stays_literal():
    assert (
        resolve("$${aws_s3_bucket.data.id} and ${aws_s3_bucket.data.id}", STATE)
        == "${aws_s3_bucket.data.id} and tenantml-a-dev-data"
    )


# --- ordering ------------------------------------------------------------------------------


def test_given_dependencies_when_ordered_then_each_comes_after_what_it_depends_on_deterministically():
    dependencies = {
        "aws_s3_bucket_policy.p": {"aws_s3_bucket.b", "aws_iam_role.r"},
        "aws_s3_bucket.b": {"aws_kms_key.k"},
        "aws_iam_role.r": set(),
        "aws_kms_key.k": set(),
    }

    order = topological_order(dependencies)

    assert order == ("aws_iam_role.r", "aws_kms_key.k", "aws_s3_bucket.b", "aws_s3_bucket_policy.p")


def test_given_two_cycles_when_searched_then_both_are_found_as_paths():
    dependencies = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}

    assert find_cycles(dependencies) == [["a", "b", "c", "a"], ["d", "d"]]


# --- whole documents -----------------------------------------------------------------------


def _document(resources, outputs=None, **extra):
    return parse_document({"resource": resources, "output": outputs or {}, **extra})


def test_given_cdktf_metadata_when_parsed_then_comment_keys_are_ignored_everywhere():
    document = _document(
        {
            "aws_s3_bucket": {
                "//": {"x": 1},
                "data": {"//": {"metadata": {"path": "a/b"}}, "bucket": "b", "tags": {"//": "c", "k": "v"}},
            }
        }
    )

    assert list(document.resources) == ["aws_s3_bucket.data"]
    assert document.resources["aws_s3_bucket.data"].config == {"bucket": "b", "tags": {"k": "v"}}


def test_given_every_kind_of_problem_when_checked_then_all_are_reported_in_one_error():
    document = _document(
        {
            "aws_s3_bucket": {"data": {"bucket": "b"}},
            "aws_sqs_queue": {
                "a": {"name": "${aws_sqs_queue.b.name}-a"},
                "b": {"name": "${aws_sqs_queue.a.name}-b"},
                "self": {"name": "x", "depends_on": ["aws_sqs_queue.self"]},
                "dangling": {"policy": '{"Resource": "${aws_sns_topic.missing.arn}"}'},
                "bad_dep": {"name": "q", "depends_on": ["aws_iam_role.gone"]},
                "typo": {"name": "${aws_s3_bucket.data.bucket_arn}"},
                "counted": {"name": "c", "count": 2},
            },
            "aws_apigatewayv2_api": {"api": {"name": "x"}},
            "aws_glue_job": {"job": {"name": "${upper(aws_s3_bucket.data.id)}"}},
        },
        outputs={"missing": {"value": "${aws_dynamodb_table.nope.arn}"}},
    )

    with pytest.raises(EmulatorPlanError) as err:
        check_document(document)

    problems = [str(p) for p in err.value.problems]
    expected = [
        "aws_sqs_queue.counted: the 'count' meta-argument is not supported by the emulator",
        "aws_apigatewayv2_api.api: resource type 'aws_apigatewayv2_api' is not supported by the emulator",
        "aws_glue_job.job: resource type 'aws_glue_job' is not supported by the emulator",
        "aws_sqs_queue.dangling: policy: refers to aws_sns_topic.missing, which is not in the document",
        "aws_sqs_queue.bad_dep: depends_on: names aws_iam_role.gone, which is not in the document",
        "aws_sqs_queue.typo: name: aws_s3_bucket.data has no attribute 'bucket_arn' in the emulator",
        "aws_glue_job.job: name: function upper() is not supported by the emulator",
        "output.missing: refers to aws_dynamodb_table.nope, which is not in the document",
        "aws_sqs_queue.a -> aws_sqs_queue.b -> aws_sqs_queue.a: dependency cycle",
        "aws_sqs_queue.self -> aws_sqs_queue.self: dependency cycle",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), f"{text!r} not in {problems}"
    assert len(problems) == len(expected)
    assert str(err.value).startswith(
        f"the stack cannot be applied to the emulator ({len(expected)} problem(s)):"
    )


def test_given_a_valid_document_when_checked_then_the_graph_orders_data_sources_and_depends_on():
    document = _document(
        {
            "aws_s3_bucket": {"data": {"bucket": "b-${data.aws_caller_identity.me.account_id}"}},
            "aws_s3_bucket_public_access_block": {"pab": {"bucket": "${aws_s3_bucket.data.id}"}},
            "aws_s3_bucket_policy": {
                "tls": {
                    "bucket": "${aws_s3_bucket.data.id}",
                    "policy": "{}",
                    "depends_on": ["aws_s3_bucket_public_access_block.pab"],
                }
            },
        },
        data={"aws_caller_identity": {"me": {}}},
    )

    graph = check_document(document)

    assert graph.order == (
        "data.aws_caller_identity.me",
        "aws_s3_bucket.data",
        "aws_s3_bucket_public_access_block.pab",
        "aws_s3_bucket_policy.tls",
    )
    assert graph.dependencies["aws_s3_bucket_policy.tls"] == {
        "aws_s3_bucket.data",
        "aws_s3_bucket_public_access_block.pab",
    }
