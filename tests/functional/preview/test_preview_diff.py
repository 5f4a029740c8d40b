"""The resource diff, the replacement table, the cost estimate and the report rendering, on small
hand-written stacks (pure functions: no synth, no git)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from core.terraform.diff import ABSENT, Action, AttributeChange, diff_values
from core.terraform.replacement import REPLACEMENT_ATTRIBUTES, forces_replacement, is_known_type
from infra.provider_schema import load_aws_schema
from tenantml.preview.cost import cost_changes, estimate_stack, load_prices
from tenantml.preview.diff import TenantStatus, diff_stacks
from tenantml.preview.render import code, render_markdown
from tenantml.preview.report import build_preview_report

# --- the replacement table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "path"),
    [
        ("aws_s3_bucket", "bucket"),
        ("aws_kinesis_stream", "name"),
        ("aws_kms_key", "customer_master_key_spec"),
        ("aws_kms_key", "key_usage"),
        ("aws_sqs_queue", "name"),
        ("aws_lambda_function", "function_name"),
        ("aws_iam_role", "name"),
        ("aws_eks_cluster", "name"),
        ("aws_eks_node_group", "instance_types"),
        ("aws_launch_template", "name"),
        ("aws_sagemaker_model_package_group", "model_package_group_name"),
        ("aws_dynamodb_table", "name"),
        ("aws_s3_bucket_versioning", "bucket"),
        ("aws_lambda_permission", "source_arn"),
        ("aws_sagemaker_endpoint_configuration", "production_variants[0].instance_type"),
    ],
)
def test_arguments_that_force_a_replacement(resource_type, path):
    assert forces_replacement(resource_type, path)


@pytest.mark.parametrize(
    ("resource_type", "path"),
    [
        ("aws_s3_bucket", "force_destroy"),
        ("aws_kinesis_stream", "retention_period"),
        ("aws_kinesis_stream", "shard_count"),
        ("aws_kms_key", "enable_key_rotation"),
        ("aws_kms_key", "policy"),
        ("aws_lambda_function", "memory_size"),
        ("aws_lambda_function", "environment[0].variables.X"),
        ("aws_launch_template", "instance_type"),
        ("aws_eks_cluster", "version"),
        ("aws_eks_cluster", "vpc_config[0].endpoint_public_access"),
        # provider 6.x changes a cluster's subnets and security groups in place (UpdateClusterConfig)
        ("aws_eks_cluster", "vpc_config[0].subnet_ids"),
        ("aws_eks_node_group", "scaling_config[0].desired_size"),
        ("aws_iam_role_policy", "policy"),
        ("aws_s3_bucket", "tags"),
        ("aws_sagemaker_endpoint_configuration", "tags.team"),
        ("aws_made_up_thing", "name"),
    ],
)
def test_arguments_that_update_in_place(resource_type, path):
    assert not forces_replacement(resource_type, path)


def test_every_resource_type_in_the_provider_schema_has_a_replacement_entry():
    # the schema lists every type the constructs synthesize (tests/infra fails on any other)
    missing = sorted(set(load_aws_schema()["resources"]) - set(REPLACEMENT_ATTRIBUTES))
    assert missing == []
    assert not is_known_type("aws_made_up_thing")


# --- diffs ----------------------------------------------------------------------------------


def _meta(path: str) -> dict[str, Any]:
    return {"metadata": {"path": path, "uniqueId": path}}


BASE: dict[str, Any] = {
    "provider": {"aws": [{"region": "us-east-1"}]},
    "terraform": {"backend": {"s3": {"bucket": "state", "key": "tenants/acme/terraform.tfstate"}}},
    "resource": {
        "aws_s3_bucket": {"data": {"//": _meta("a/Data/this"), "bucket": "tenantml-acme-dev-data"}},
        "aws_s3_bucket_versioning": {
            "data_versioning": {
                "//": _meta("a/Data/Versioning"),
                "bucket": "${aws_s3_bucket.data.id}",
                "versioning_configuration": [{"status": "Enabled"}],
            }
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "data_lifecycle": {
                "bucket": "${aws_s3_bucket.data.id}",
                "rule": [{"id": "expire", "status": "Enabled", "expiration": [{"days": 30}]}],
            }
        },
        "aws_kinesis_stream": {
            "stream": {"name": "tenantml-acme-dev-inference", "shard_count": 1, "retention_period": 24}
        },
        "aws_lambda_function": {
            "fn": {
                "function_name": "tenantml-acme-dev-fn",
                "memory_size": 512,
                "depends_on": ["aws_s3_bucket.data"],
                "environment": [
                    {
                        "variables": {
                            "BUCKET": "${aws_s3_bucket.data.id}",
                            "STREAM": "${aws_kinesis_stream.stream.name}",
                            "STREAM_ARN": "${aws_kinesis_stream.stream.arn}",
                        }
                    }
                ],
            }
        },
        "aws_iam_role_policy": {
            "grants": {
                "name": "grants",
                "role": "r",
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "Read",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": ["arn:aws:s3:::x/*"],
                            },
                            {
                                "Sid": "Write",
                                "Effect": "Allow",
                                "Action": ["s3:PutObject"],
                                "Resource": ["arn:aws:s3:::x/*"],
                            },
                        ],
                    }
                ),
            }
        },
        "aws_launch_template": {
            "fleet": {
                "name": "tenantml-acme-dev-instances",
                "instance_type": "m6i.large",
                "block_device_mappings": [{"ebs": [{"volume_size": 50, "volume_type": "gp3"}]}],
            }
        },
        "aws_autoscaling_group": {
            "fleet_group": {
                "desired_capacity": 2,
                "min_size": 1,
                "launch_template": [{"id": "${aws_launch_template.fleet.id}"}],
            }
        },
    },
}


def stack(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for address, body in changes.items():
        resource_type, name = address.split("__")
        if body is None:
            del doc["resource"][resource_type][name]
        else:
            doc["resource"].setdefault(resource_type, {})[name] = body
    return doc


def by_address(diff) -> dict[str, Any]:
    return {c.address: c for c in diff.changes}


def test_identical_stacks_and_metadata_changes_are_no_ops():
    head = stack()
    head["resource"]["aws_s3_bucket"]["data"]["//"] = _meta("renamed/path")
    head["resource"]["aws_lambda_function"]["fn"]["depends_on"] = []
    diff = diff_stacks("acme", BASE, head)
    assert diff.status is TenantStatus.UNCHANGED and diff.changes == [] and diff.unchanged == 8


def test_a_nested_argument_change_is_an_update_with_its_path():
    head = stack()
    head["resource"]["aws_s3_bucket_lifecycle_configuration"]["data_lifecycle"]["rule"][0]["expiration"][0][
        "days"
    ] = 60
    [change] = diff_stacks("acme", BASE, head).changes
    assert (change.address, change.action) == (
        "aws_s3_bucket_lifecycle_configuration.data_lifecycle",
        Action.UPDATE,
    )
    assert change.changes == [AttributeChange("rule[0].expiration[0].days", 30, 60)]


def test_policy_documents_are_compared_as_json_by_statement_id():
    head = stack()
    policy = json.loads(head["resource"]["aws_iam_role_policy"]["grants"]["policy"])
    policy["Statement"].insert(
        0, {"Sid": "List", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::x"]}
    )
    policy["Statement"][2]["Action"].append("s3:DeleteObject")
    head["resource"]["aws_iam_role_policy"]["grants"]["policy"] = json.dumps(policy, indent=2)
    [change] = diff_stacks("acme", BASE, head).changes
    assert change.action is Action.UPDATE
    assert [(c.display_path, c.before, c.after) for c in change.changes] == [
        ("policy (json) Statement[Sid=List]", ABSENT, policy["Statement"][0]),
        ("policy (json) Statement[Sid=Write].Action", ["s3:PutObject"], ["s3:PutObject", "s3:DeleteObject"]),
    ]


def test_a_renamed_bucket_is_replaced_and_so_is_everything_whose_forcing_argument_refers_to_it():
    head = stack()
    head["resource"]["aws_s3_bucket"]["data"]["bucket"] = "tenantml-acme-dev-data-2"
    changes = by_address(diff_stacks("acme", BASE, head))
    assert changes["aws_s3_bucket.data"].action is Action.REPLACE
    assert changes["aws_s3_bucket.data"].data_loss.startswith("every object")
    versioning = changes["aws_s3_bucket_versioning.data_versioning"]
    assert (versioning.action, versioning.replaced_because) == (Action.REPLACE, ["aws_s3_bucket.data"])
    assert versioning.changes == [
        AttributeChange(
            "bucket",
            "${aws_s3_bucket.data.id}",
            "${aws_s3_bucket.data.id}",
            forces_replacement=True,
            known_after_apply=("aws_s3_bucket.data",),
        )
    ]
    # a Lambda environment variable is updatable: the function is updated, not replaced
    fn = changes["aws_lambda_function.fn"]
    assert (fn.action, [c.path for c in fn.changes]) == (Action.UPDATE, ["environment[0].variables.BUCKET"])
    assert "aws_launch_template.fleet" not in changes


def test_a_changed_configured_attribute_propagates_but_a_computed_one_only_on_replacement():
    # the stream is replaced (new name): .name changes (configured) and .arn changes (computed, new resource)
    head = stack()
    head["resource"]["aws_kinesis_stream"]["stream"]["name"] = "tenantml-acme-dev-events"
    fn = by_address(diff_stacks("acme", BASE, head))["aws_lambda_function.fn"]
    assert [c.path for c in fn.changes] == [
        "environment[0].variables.STREAM",
        "environment[0].variables.STREAM_ARN",
    ]
    # the stream is updated in place (more shards): neither its name nor its arn changes
    head = stack()
    head["resource"]["aws_kinesis_stream"]["stream"]["shard_count"] = 2
    assert list(by_address(diff_stacks("acme", BASE, head))) == ["aws_kinesis_stream.stream"]


def test_created_deleted_and_renamed_resources():
    head = stack(aws_s3_bucket__data=None, aws_sqs_queue__dlq={"name": "q"})
    head["resource"]["aws_s3_bucket"]["data_v2"] = copy.deepcopy(BASE["resource"]["aws_s3_bucket"]["data"])
    changes = by_address(diff_stacks("acme", BASE, head))
    assert changes["aws_s3_bucket.data"].action is Action.DELETE
    assert changes["aws_sqs_queue.dlq"].action is Action.CREATE
    assert changes["aws_s3_bucket.data_v2"].renamed_from == "aws_s3_bucket.data"


def test_new_and_removed_tenants():
    new = diff_stacks("acme", None, BASE)
    assert new.status is TenantStatus.NEW and new.count(Action.CREATE) == 8
    removed = diff_stacks("acme", BASE, None)
    assert removed.status is TenantStatus.REMOVED and removed.count(Action.DELETE) == 8
    assert [c.address for c in removed.destructive] == ["aws_kinesis_stream.stream", "aws_s3_bucket.data"]


def test_a_backend_change_is_a_state_change():
    head = stack()
    head["terraform"]["backend"]["s3"]["key"] = "tenants/acme-v2/terraform.tfstate"
    diff = diff_stacks("acme", BASE, head)
    assert diff.status is TenantStatus.CHANGED and diff.changes == []
    assert diff.state_changes == [
        AttributeChange(
            "terraform.backend.s3.key", "tenants/acme/terraform.tfstate", "tenants/acme-v2/terraform.tfstate"
        )
    ]


def test_diff_values_paths():
    assert diff_values({"tags": {"a:b": "1"}}, {"tags": {"a:b": "2"}}) == [
        AttributeChange('tags["a:b"]', "1", "2")
    ]
    assert diff_values({"l": [{"x": 1}]}, {"l": [{"x": 1}, {"x": 2}]}) == [
        AttributeChange("l[1]", ABSENT, {"x": 2})
    ]


# --- cost -----------------------------------------------------------------------------------


def test_instances_are_priced_from_the_launch_template_and_the_desired_capacity():
    prices = load_prices()
    cost = estimate_stack(BASE, prices)
    fleet = cost.items["aws_autoscaling_group.fleet_group"]
    rates = prices.for_region("us-east-1")
    assert rates is not None
    m6i_large = rates.instance_hour("m6i.large")
    assert m6i_large is not None
    expected = 2 * m6i_large * 730 + 2 * 50 * rates.ebs_gb_month("gp3")
    assert fleet.monthly == pytest.approx(expected)
    assert fleet.basis == "2 x m6i.large (aws_launch_template.fleet) + 2 x 50 GB gp3"
    # a bigger instance type changes the group's cost, and only that
    head = stack()
    head["resource"]["aws_launch_template"]["fleet"]["instance_type"] = "m6i.xlarge"
    [change] = cost_changes(cost, estimate_stack(head, prices))
    assert change.address == "aws_autoscaling_group.fleet_group"
    assert change.delta == pytest.approx(2 * 730 * (rates.instance_hour("m6i.xlarge") - m6i_large))


def test_streams_node_groups_and_unknown_instance_types():
    prices = load_prices()
    doc = {
        "provider": {"aws": [{"region": "us-east-1"}]},
        "resource": {
            "aws_kinesis_stream": {
                "s": {"shard_count": 2, "retention_period": 48},
                "od": {"stream_mode_details": [{"stream_mode": "ON_DEMAND"}]},
            },
            "aws_eks_node_group": {
                "n": {
                    "instance_types": ["m6i.xlarge", "m6i.2xlarge"],
                    "scaling_config": [{"desired_size": 3, "min_size": 1, "max_size": 5}],
                },
                "odd": {"instance_types": ["x9.huge"], "scaling_config": [{"desired_size": 1}]},
            },
        },
    }
    cost = estimate_stack(doc, prices)
    assert cost.items["aws_kinesis_stream.s"].monthly == pytest.approx(2 * 730 * (0.015 + 0.02))
    assert cost.items["aws_kinesis_stream.od"].monthly == pytest.approx(730 * 0.04)
    assert cost.items["aws_eks_node_group.n"].monthly == pytest.approx(3 * 730 * 0.192 + 3 * 20 * 0.08)
    assert cost.items["aws_eks_node_group.odd"].unpriced == "no price for instance type 'x9.huge'"
    assert cost.notes == []


def test_a_region_without_prices_is_reported_unpriced_not_priced_as_us_east_1():
    # given a stack in a region the table does not have
    doc = stack()
    doc["provider"]["aws"][0]["region"] = "ap-south-1"

    # when
    cost = estimate_stack(doc, load_prices())

    # then nothing is priced, and the note names the region and the regions that have prices
    assert (cost.region, cost.priced, cost.items, cost.total) == ("ap-south-1", False, {}, 0)
    assert cost.notes == [
        (
            "no price for region ap-south-1: the price table has us-east-1, us-west-2, eu-west-1, eu-central-1;"
            " this stack is not priced"
        )
    ]
    # and the report says so instead of an amount
    report = build_preview_report("origin/main", {"acme": BASE}, {"acme": doc}, [])
    assert "| $160.19 → no price for ap-south-1 |" in render_markdown(report)
    # and no resource looks free
    assert cost_changes(estimate_stack(BASE), cost) == [] and report.tenants[0].cost_changes == []


def test_the_price_table_is_versioned_and_dated_and_every_region_prices_the_same_things():
    prices = load_prices()
    assert prices.version >= 2 and len(prices.as_of) == 10 and prices.data["currency"] == "USD"
    assert {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"} <= set(prices.regions)
    shapes = {
        region: (sorted(entry["prices"]), sorted(entry["prices"]["ec2_instance_hour"]))
        for region, entry in prices.data["regions"].items()
    }
    assert len(set(map(str, shapes.values()))) == 1, shapes
    rates = {r: prices.for_region(r) for r in prices.regions}
    assert all(
        r.price("eks_extended_support_cluster_hour") == pytest.approx(6 * r.price("eks_cluster_hour"))
        for r in rates.values()
    )


# --- rendering ------------------------------------------------------------------------------


def test_a_report_too_long_for_one_comment_drops_attribute_details():
    head = stack()
    head["resource"]["aws_s3_bucket"]["data"]["bucket"] = "tenantml-acme-dev-data-2"
    report = build_preview_report("origin/main", {"acme": BASE}, {"acme": head}, [])
    full = render_markdown(report)
    assert "known after apply" in full
    short = render_markdown(report, max_chars=len(full) - 1)
    assert "known after apply" not in short and "Attribute-level details are left out" in short
    assert short.startswith("<!-- tenantml-preview -->\n")


def test_code_spans_survive_backticks():
    assert code("a`b") == "`` a`b ``"
