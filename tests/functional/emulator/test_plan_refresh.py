"""``plan`` and ``apply`` refresh the state from the emulator: what changed behind their back is seen."""

from __future__ import annotations

from pathlib import Path

from core.terraform.diff import Action
from tenantml.emulator import commands
from tenantml.emulator.apply import HandlerContexts
from tenantml.emulator.graph import load_document
from tenantml.emulator.resources import HANDLERS
from tenantml.emulator.resources.reads import claimed
from tenantml.emulator.state import load_state

ROOT = Path(__file__).resolve().parents[3]


def test_given_resources_deleted_and_changed_behind_the_engine_when_planned_then_creates_and_an_update_show(
    aws, out_dir, tmp_path
):
    # given: churn applied, then its image repository and launch template deleted and a queue's
    # retention changed directly in the emulator
    state_dir = tmp_path / "state"
    (applied,) = commands.apply_tenants(out_dir, ["churn"], state_dir, aws)
    before = (state_dir / "churn.json").read_bytes()
    ecr, ec2, sqs = (aws.client(s, "eu-west-1") for s in ("ecr", "ec2", "sqs"))
    ecr.delete_repository(repositoryName="tenantml-churn-dev-images", force=True)
    ec2.delete_launch_template(LaunchTemplateName="tenantml-churn-dev-instances")
    queue = sqs.get_queue_url(QueueName="tenantml-churn-dev-alarm-dlq")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"MessageRetentionPeriod": "60"})

    # when: planned
    (planned,) = commands.plan_tenants(out_dir, ["churn"], state_dir, aws)

    # then: the deleted ones (and the lifecycle policy that went with the repository) are created,
    # the changed queue is updated back, and the state file was not written
    plan = planned.plan
    assert {c.address for c in plan.by_action(Action.CREATE)} == {
        "aws_ecr_repository.images",
        "aws_ecr_lifecycle_policy.images_lifecycle",
        "aws_launch_template.fleet",
    }
    (update,) = [c for c in plan.by_action(Action.UPDATE) if c.type == "aws_sqs_queue"]
    assert update.address == "aws_sqs_queue.functions_alarm_dead_letters"
    assert [(a.path, a.before, a.after) for a in update.changes] == [
        ("message_retention_seconds", 60, 1209600)
    ]
    assert "aws_sqs_queue.functions_alarm_dead_letters was changed outside tenantml" in " ".join(plan.notes)
    assert (state_dir / "churn.json").read_bytes() == before

    # when: applied, then planned again
    (repaired,) = commands.apply_tenants(out_dir, ["churn"], state_dir, aws)
    (again,) = commands.plan_tenants(out_dir, ["churn"], state_dir, aws)

    # then: it put back exactly what was missing or changed, and nothing is left to do
    assert {c.address for c in repaired.result.applied} >= {
        "aws_ecr_repository.images",
        "aws_launch_template.fleet",
        "aws_sqs_queue.functions_alarm_dead_letters",
    }
    assert ecr.describe_repositories(repositoryNames=["tenantml-churn-dev-images"])["repositories"]
    retention = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["MessageRetentionPeriod"])
    assert retention["Attributes"]["MessageRetentionPeriod"] == "1209600"
    assert not again.plan.has_changes, commands.render_plan(again)
    assert applied.result.applied


def test_given_both_example_stacks_applied_when_each_resource_is_read_by_its_identity_alone_then_it_is_found_as_recorded(
    aws, out_dir, tmp_path
):
    # what adopting a resource a killed apply created relies on, for every type of both stacks
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, None, state_dir, aws)
    for tenant in ("churn", "fraud"):
        stack = out_dir / "stacks" / tenant / "cdk.tf.json"
        state = load_state(state_dir / f"{tenant}.json")
        contexts = HandlerContexts(aws, load_document(stack), stack.parent)
        for entry in state:
            others = frozenset(
                str(e.attributes.get("id")) for e in state if e.type == entry.type and e is not entry
            )
            with claimed(others):
                found = HANDLERS[entry.type].read(
                    contexts.for_address(entry.address, entry.region), entry.config, {}
                )
            assert found is not None, entry.address
            assert dict(found.attributes) == dict(entry.attributes), entry.address


def test_given_resources_of_the_later_added_types_removed_behind_the_engine_when_planned_then_they_are_created(
    aws, out_dir, tmp_path
):
    # given: both tenants applied, then churn's flow log, listener and S3 endpoint deleted and the
    # access logging of fraud's data bucket turned off, directly in the emulator
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, None, state_dir, aws)
    churn = {e.address: e.attributes for e in load_state(state_dir / "churn.json")}
    ec2, elbv2, s3 = (aws.client(s, "eu-west-1") for s in ("ec2", "elbv2", "s3"))
    ec2.delete_flow_logs(FlowLogIds=[churn["aws_flow_log.network_flow_log"]["id"]])
    elbv2.delete_listener(ListenerArn=churn["aws_lb_listener.fleet_listener"]["arn"])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[churn["aws_vpc_endpoint.network_s3_endpoint"]["id"]])
    fraud = {e.address: e.config for e in load_state(state_dir / "fraud.json")}
    s3.put_bucket_logging(
        Bucket=fraud["aws_s3_bucket_logging.storage_data_access_logs"]["bucket"], BucketLoggingStatus={}
    )

    # when: planned
    planned = {p.tenant: p.plan for p in commands.plan_tenants(out_dir, None, state_dir, aws)}

    # then: refresh saw each one gone, and the plan creates exactly those
    assert {c.address for c in planned["churn"].by_action(Action.CREATE)} == {
        "aws_flow_log.network_flow_log",
        "aws_lb_listener.fleet_listener",
        "aws_vpc_endpoint.network_s3_endpoint",
    }
    assert {c.address for c in planned["fraud"].by_action(Action.CREATE)} == {
        "aws_s3_bucket_logging.storage_data_access_logs"
    }

    # when: applied, then planned again; then nothing is left to do
    commands.apply_tenants(out_dir, None, state_dir, aws)
    for again in commands.plan_tenants(out_dir, None, state_dir, aws):
        assert not again.plan.has_changes, commands.render_plan(again)
