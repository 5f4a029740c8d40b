"""Refresh reads many resources of a type in one call: it must find exactly what the one-by-one reads find."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from core.terraform.diff import Action
from tenantml.emulator import commands
from tenantml.emulator.apply import HandlerContexts
from tenantml.emulator.graph import load_document
from tenantml.emulator.resources import HANDLERS
from tenantml.emulator.resources.batch_reads import BATCH_READERS
from tenantml.emulator.state import StateEntry, load_state


def _by_context(out_dir: Path, state_dir: Path, aws, tenant: str):
    """(handler context, entries) of each batched type, as refresh groups them."""
    stack = out_dir / "stacks" / tenant / "cdk.tf.json"
    contexts = HandlerContexts(aws, load_document(stack), stack.parent)
    groups: dict[tuple[str, int], tuple[object, list[StateEntry]]] = {}
    for entry in load_state(state_dir / f"{tenant}.json"):
        if entry.type in BATCH_READERS:
            ctx = contexts.for_address(entry.address, entry.region)
            groups.setdefault((entry.type, id(ctx)), (ctx, []))[1].append(entry)
    return groups.values()


def test_given_both_example_stacks_applied_when_each_batched_type_is_read_at_once_then_every_resource_is_what_its_single_read_finds(
    aws, out_dir, tmp_path
):
    # given: both tenants applied
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, None, state_dir, aws)
    seen: dict[str, int] = defaultdict(int)
    for tenant in ("churn", "fraud"):
        for ctx, entries in _by_context(out_dir, state_dir, aws, tenant):
            handler = HANDLERS[entries[0].type]
            for attributes_of in (lambda e: dict(e.attributes), lambda e: {}):  # refresh, then adoption
                # when: the type's resources are read in one batch, and one by one
                batch = handler.read_batch(ctx, [(e.config, attributes_of(e)) for e in entries])
                single = [handler.read(ctx, e.config, attributes_of(e)) for e in entries]

                # then: both find every resource, with the same attributes and observed arguments
                for entry, many, one in zip(entries, batch, single, strict=True):
                    assert one is not None, entry.address
                    assert many is not None, entry.address
                    assert dict(many.attributes) == dict(one.attributes), entry.address
                    assert dict(many.config) == dict(one.config), entry.address
            seen[entries[0].type] += len(entries)
    # every batched type was exercised with more than one resource of it
    assert set(seen) == set(BATCH_READERS)
    assert all(count > 1 for count in seen.values()), seen


def test_given_batched_resources_deleted_and_changed_behind_the_engine_when_planned_then_they_show_as_creates_and_an_update(
    aws, out_dir, tmp_path
):
    # given: churn applied, then, directly in the emulator: a role deleted (with its inline policy),
    # another role's inline policy deleted, a managed policy detached, an alarm and a log group
    # deleted, another log group's retention changed, a route deleted and a subnet's route table
    # association removed
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, ["churn"], state_dir, aws)
    state = {e.address: e for e in load_state(state_dir / "churn.json")}
    iam, cloudwatch, logs, ec2 = (aws.client(s, "eu-west-1") for s in ("iam", "cloudwatch", "logs", "ec2"))
    monitor_role = state["aws_iam_role.functions_monitor_role"].config["name"]
    iam.delete_role_policy(RoleName=monitor_role, PolicyName="grants")
    iam.delete_role(RoleName=monitor_role)
    iam.delete_role_policy(
        RoleName=state["aws_iam_role_policy.functions_alarm_role_policy"].config["role"], PolicyName="grants"
    )
    attachment = state["aws_iam_role_policy_attachment.fleet_session_manager"].config
    iam.detach_role_policy(RoleName=attachment["role"], PolicyArn=attachment["policy_arn"])
    alarm = next(e for e in state.values() if e.type == "aws_cloudwatch_metric_alarm")
    cloudwatch.delete_alarms(AlarmNames=[alarm.config["alarm_name"]])
    logs.delete_log_group(logGroupName=state["aws_cloudwatch_log_group.functions_alarm_logs"].config["name"])
    retained = state["aws_cloudwatch_log_group.pipeline_logs"].config
    logs.put_retention_policy(logGroupName=retained["name"], retentionInDays=1)
    route = next(e for e in state.values() if e.type == "aws_route")
    ec2.delete_route(
        RouteTableId=route.config["route_table_id"],
        DestinationCidrBlock=route.config["destination_cidr_block"],
    )
    association = next(e for e in state.values() if e.type == "aws_route_table_association")
    ec2.disassociate_route_table(AssociationId=association.attributes["id"])

    # when: planned
    (planned,) = commands.plan_tenants(out_dir, ["churn"], state_dir, aws)

    # then: each deleted one is created again and the changed log group is updated back
    plan = planned.plan
    assert {c.address for c in plan.by_action(Action.CREATE)} == {
        "aws_iam_role.functions_monitor_role",
        "aws_iam_role_policy.functions_monitor_role_policy",
        "aws_iam_role_policy.functions_alarm_role_policy",
        "aws_iam_role_policy_attachment.fleet_session_manager",
        alarm.address,
        "aws_cloudwatch_log_group.functions_alarm_logs",
        route.address,
        association.address,
    }
    (update,) = [c for c in plan.by_action(Action.UPDATE) if c.type == "aws_cloudwatch_log_group"]
    assert update.address == "aws_cloudwatch_log_group.pipeline_logs"
    assert [(a.path, a.before) for a in update.changes] == [("retention_in_days", 1)]

    # when: applied, then planned again; then nothing is left to do
    commands.apply_tenants(out_dir, ["churn"], state_dir, aws)
    (again,) = commands.plan_tenants(out_dir, ["churn"], state_dir, aws)
    assert not again.plan.has_changes, commands.render_plan(again)


def test_given_a_stack_applied_when_its_alarms_are_described_then_the_state_holds_the_arns_the_emulator_gives(
    aws, out_dir, tmp_path
):
    # given: churn applied (its alarms' ARNs recorded from their names, without reading them back)
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, ["churn"], state_dir, aws)
    alarms = {
        e.config["alarm_name"]: e.attributes["arn"]
        for e in load_state(state_dir / "churn.json")
        if e.type == "aws_cloudwatch_metric_alarm"
    }

    # when: the emulator lists them
    described = aws.client("cloudwatch", "eu-west-1").describe_alarms(AlarmNames=list(alarms))["MetricAlarms"]

    # then: every alarm's ARN in the state is the one the emulator answers with
    assert len(alarms) > 1
    assert {a["AlarmName"]: a["AlarmArn"] for a in described} == alarms
