"""Plan classification (create / update / replace / delete / no-op) against an in-memory state."""

from __future__ import annotations

import json

import pytest

from core.errors import EmulatorPlanError
from core.terraform.diff import Action
from core.terraform.document import parse_document
from core.terraform.expressions import UNKNOWN
from tenantml.emulator.plan import make_plan, render_plan
from tenantml.emulator.state import State, StateEntry

BUCKET = "tenantml-a-dev-data"
POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "${aws_s3_bucket.data.arn}/*"}]}
)


def _document(
    bucket: str = BUCKET, retention: int = 24, *, with_queue: bool = True, tags: dict | None = None
):
    resources: dict = {
        "aws_s3_bucket": {"data": {"bucket": bucket, "tags": tags or {"team": "a"}}},
        "aws_s3_bucket_versioning": {
            "data": {"bucket": "${aws_s3_bucket.data.id}", "versioning_configuration": {"status": "Enabled"}}
        },
        "aws_iam_role_policy": {"read": {"name": "read", "role": "reader", "policy": POLICY}},
        "aws_kinesis_stream": {"events": {"name": "events", "shard_count": 1, "retention_period": retention}},
        "aws_lambda_permission": {
            "s3": {
                "function_name": "fn",
                "action": "lambda:InvokeFunction",
                "principal": "s3.amazonaws.com",
                "source_arn": "${aws_s3_bucket.data.arn}",
            }
        },
    }
    if with_queue:
        resources["aws_sqs_queue"] = {"dlq": {"name": "dlq"}}
    return parse_document(
        {"resource": resources, "output": {"bucket_arn": {"value": "${aws_s3_bucket.data.arn}"}}}
    )


def _applied_state(tmp_path, bucket: str = BUCKET) -> State:
    """The state an apply of ``_document(bucket)`` would have written."""
    arn = f"arn:aws:s3:::{bucket}"
    entries = [
        StateEntry(
            "aws_s3_bucket.data",
            "aws_s3_bucket",
            {"bucket": bucket, "tags": {"team": "a"}},
            {"id": bucket, "bucket": bucket, "arn": arn},
        ),
        StateEntry(
            "aws_s3_bucket_versioning.data",
            "aws_s3_bucket_versioning",
            {"bucket": bucket, "versioning_configuration": {"status": "Enabled"}},
            {"id": bucket},
            ("aws_s3_bucket.data",),
        ),
        StateEntry(
            "aws_iam_role_policy.read",
            "aws_iam_role_policy",
            {
                "name": "read",
                "role": "reader",
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}]},
                    separators=(",", ":"),
                ),
            },
            {"id": "reader:read", "name": "read"},
            ("aws_s3_bucket.data",),
        ),
        StateEntry(
            "aws_kinesis_stream.events",
            "aws_kinesis_stream",
            {"name": "events", "shard_count": 1, "retention_period": 24},
            {"id": "arn:stream", "arn": "arn:stream", "name": "events"},
        ),
        StateEntry(
            "aws_lambda_permission.s3",
            "aws_lambda_permission",
            {
                "function_name": "fn",
                "action": "lambda:InvokeFunction",
                "principal": "s3.amazonaws.com",
                "source_arn": arn,
            },
            {"id": "terraform-1", "statement_id": "terraform-1"},
            ("aws_s3_bucket.data",),
        ),
        StateEntry(
            "aws_sqs_queue.dlq",
            "aws_sqs_queue",
            {"name": "dlq"},
            {"id": "url", "url": "url", "arn": "arn:dlq", "name": "dlq"},
        ),
    ]
    return State(path=tmp_path / "a.json", entries={e.address: e for e in entries})


def _actions(plan):
    return {c.address: c.action for c in plan.changes}


def test_given_an_empty_state_when_planned_then_everything_is_created_and_computed_values_are_unknown(
    tmp_path,
):
    plan = make_plan(_document(), State(path=tmp_path / "a.json"))

    assert set(_actions(plan).values()) == {Action.CREATE}
    assert (plan.to_add, plan.to_change, plan.to_destroy) == (6, 0, 0)
    versioning = plan.get("aws_s3_bucket_versioning.data")
    assert versioning.after["bucket"] is UNKNOWN  # the id of a bucket that does not exist yet
    assert plan.outputs["bucket_arn"] is UNKNOWN
    assert plan.summary() == "Plan: 6 to add, 0 to change, 0 to destroy."


def test_given_the_state_of_the_same_document_when_planned_then_nothing_changes(tmp_path):
    plan = make_plan(_document(), _applied_state(tmp_path))

    assert set(_actions(plan).values()) == {Action.NOOP}
    assert not plan.has_changes
    assert plan.outputs == {"bucket_arn": f"arn:aws:s3:::{BUCKET}"}
    assert render_plan(plan) == "No changes. The emulator matches the configuration."


def test_given_an_updatable_argument_changed_when_planned_then_only_that_resource_updates(tmp_path):
    plan = make_plan(_document(retention=48), _applied_state(tmp_path))

    changed = {a: act for a, act in _actions(plan).items() if act is not Action.NOOP}
    assert changed == {"aws_kinesis_stream.events": Action.UPDATE}
    (difference,) = plan.get("aws_kinesis_stream.events").changes
    assert (difference.path, difference.before, difference.after, difference.forces_replacement) == (
        "retention_period",
        24,
        48,
        False,
    )


def test_given_a_tag_changed_when_planned_then_the_difference_is_at_attribute_level(tmp_path):
    plan = make_plan(_document(tags={"team": "b"}), _applied_state(tmp_path))

    (difference,) = plan.get("aws_s3_bucket.data").changes
    assert (difference.path, difference.before, difference.after) == ("tags.team", "a", "b")
    assert plan.get("aws_s3_bucket.data").action is Action.UPDATE


def test_given_a_force_new_argument_changed_when_planned_then_it_and_its_dependents_are_re_evaluated(
    tmp_path,
):
    plan = make_plan(_document(bucket="tenantml-a-dev-renamed"), _applied_state(tmp_path))

    actions = _actions(plan)
    assert actions["aws_s3_bucket.data"] is Action.REPLACE
    # bucket = ${aws_s3_bucket.data.id}: unknown until the new bucket exists, and "bucket" forces a new one
    assert actions["aws_s3_bucket_versioning.data"] is Action.REPLACE
    # the policy embeds the bucket ARN; a policy can change in place
    assert actions["aws_iam_role_policy.read"] is Action.UPDATE
    # every argument of a Lambda permission forces a new one (the handler has no update)
    assert actions["aws_lambda_permission.s3"] is Action.REPLACE
    assert actions["aws_kinesis_stream.events"] is Action.NOOP
    assert (plan.to_add, plan.to_change, plan.to_destroy) == (3, 1, 3)
    assert plan.get("aws_s3_bucket.data").replace_reasons == ("bucket",)


def test_given_a_resource_left_the_document_when_planned_then_it_is_deleted(tmp_path):
    plan = make_plan(_document(with_queue=False), _applied_state(tmp_path))

    assert _actions(plan)["aws_sqs_queue.dlq"] is Action.DELETE
    assert plan.summary() == "Plan: 0 to add, 0 to change, 1 to destroy."


def test_given_removed_dependents_when_planned_then_they_are_deleted_before_what_they_depend_on(tmp_path):
    document = parse_document(
        {
            "resource": {
                "aws_kinesis_stream": {"events": {"name": "events", "shard_count": 1, "retention_period": 24}}
            }
        }
    )

    plan = make_plan(document, _applied_state(tmp_path))

    deletes = [c.address for c in plan.changes if c.action is Action.DELETE]
    assert deletes.index("aws_s3_bucket_versioning.data") < deletes.index("aws_s3_bucket.data")
    assert deletes.index("aws_lambda_permission.s3") < deletes.index("aws_s3_bucket.data")
    assert deletes.index("aws_iam_role_policy.read") < deletes.index("aws_s3_bucket.data")


def test_given_ignore_changes_when_planned_then_the_ignored_path_is_not_a_difference(tmp_path):
    document = parse_document(
        {
            "resource": {
                "aws_kinesis_stream": {
                    "events": {
                        "name": "events",
                        "shard_count": 1,
                        "retention_period": 48,
                        "lifecycle": {"ignore_changes": ["retention_period"]},
                    }
                }
            }
        }
    )

    plan = make_plan(document, _applied_state(tmp_path))

    assert _actions(plan)["aws_kinesis_stream.events"] is Action.NOOP


def test_given_every_kind_of_change_when_rendered_then_the_text_reads_like_terraform(tmp_path):
    document = _document(bucket="tenantml-a-dev-renamed", retention=48, with_queue=False)

    text = render_plan(make_plan(document, _applied_state(tmp_path)))

    lines = text.splitlines()
    assert "-/+ aws_s3_bucket.data  # forces replacement: bucket" in lines
    assert '      ~ bucket: "tenantml-a-dev-data" -> "tenantml-a-dev-renamed" (forces replacement)' in lines
    assert "  ~ aws_kinesis_stream.events" in lines
    assert "      ~ retention_period: 24 -> 48" in lines
    assert "  - aws_sqs_queue.dlq" in lines
    assert '      ~ bucket: "tenantml-a-dev-data" -> (known after apply) (forces replacement)' in lines
    assert lines[-1] == "Plan: 3 to add, 2 to change, 4 to destroy."


def test_given_a_new_resource_when_rendered_verbosely_then_its_arguments_are_listed(tmp_path):
    text = render_plan(make_plan(_document(), State(path=tmp_path / "a.json")), verbose=True)

    assert "  + aws_sqs_queue.dlq" in text.splitlines()
    assert '      + name = "dlq"' in text.splitlines()
    assert "      + bucket = (known after apply)" in text.splitlines()


@pytest.mark.parametrize("missing", ["aws_s3_bucket.data"])
def test_given_a_dependency_missing_from_the_state_when_planned_then_the_dependent_is_re_evaluated(
    tmp_path, missing
):
    state = _applied_state(tmp_path)
    del state.entries[missing]  # e.g. a failed apply deleted it before creating the replacement

    plan = make_plan(_document(), state)

    assert _actions(plan)[missing] is Action.CREATE
    assert _actions(plan)["aws_s3_bucket_versioning.data"] is Action.REPLACE


def test_given_prevent_destroy_when_a_change_would_replace_the_resource_then_the_plan_is_refused(tmp_path):
    raw = {
        "resource": {
            "aws_s3_bucket": {
                "data": {
                    "bucket": "tenantml-a-dev-renamed",
                    "tags": {"team": "a"},
                    "lifecycle": {"prevent_destroy": True},
                }
            }
        }
    }
    document = parse_document(raw)

    with pytest.raises(EmulatorPlanError) as err:
        make_plan(document, _applied_state(tmp_path))

    assert [str(p) for p in err.value.problems] == [
        "aws_s3_bucket.data: lifecycle.prevent_destroy forbids replacing it (forced by: bucket)"
    ]


def test_given_an_update_that_changes_a_referenced_attribute_when_planned_then_the_dependent_updates_too(
    tmp_path,
):
    template = {"name": "fleet", "image_id": "ami-2"}
    group = {
        "name": "fleet",
        "min_size": 1,
        "max_size": 2,
        "launch_template": {
            "id": "${aws_launch_template.fleet.id}",
            "version": "${aws_launch_template.fleet.latest_version}",
        },
    }
    document = parse_document(
        {"resource": {"aws_launch_template": {"fleet": template}, "aws_autoscaling_group": {"fleet": group}}}
    )
    state = State(path=tmp_path / "a.json")
    state.entries["aws_launch_template.fleet"] = StateEntry(
        "aws_launch_template.fleet",
        "aws_launch_template",
        {"name": "fleet", "image_id": "ami-1"},
        {"id": "lt-1", "latest_version": 1, "default_version": 1},
    )
    state.entries["aws_autoscaling_group.fleet"] = StateEntry(
        "aws_autoscaling_group.fleet",
        "aws_autoscaling_group",
        {**group, "launch_template": {"id": "lt-1", "version": 1}},
        {"id": "fleet", "name": "fleet"},
        ("aws_launch_template.fleet",),
    )

    plan = make_plan(document, state)

    assert _actions(plan) == {
        "aws_launch_template.fleet": Action.UPDATE,
        "aws_autoscaling_group.fleet": Action.UPDATE,
    }
    (difference,) = plan.get("aws_autoscaling_group.fleet").changes
    assert (difference.path, difference.before, difference.after) == ("launch_template.version", 1, UNKNOWN)
