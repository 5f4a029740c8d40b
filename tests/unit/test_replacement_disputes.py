"""The changes the emulator's plan and the preview used to classify differently, settled as AWS provider 6.x does.

Each case plans one resource against an in-memory state (the emulator) and diffs the same two
bodies (the preview); both must give the provider's answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.terraform.diff import Action
from core.terraform.document import parse_document
from tenantml.emulator.plan import make_plan
from tenantml.emulator.state import State, StateEntry
from tenantml.preview.diff import diff_stacks

TABLE = {
    "name": "t",
    "hash_key": "pk",
    "billing_mode": "PAY_PER_REQUEST",
    "attribute": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
    "local_secondary_index": [{"name": "by_sk", "range_key": "sk", "projection_type": "ALL"}],
}
GSI = {"name": "by_owner", "hash_key": "owner", "projection_type": "ALL"}
RULE = {
    "security_group_id": "sg-1",
    "ip_protocol": "tcp",
    "from_port": 443,
    "to_port": 443,
    "cidr_ipv4": "10.0.0.0/16",
}
NODES = {
    "cluster_name": "c",
    "node_group_name": "n",
    "node_role_arn": "arn:aws:iam::1:role/n",
    "subnet_ids": ["s-1"],
    "ami_type": "AL2023_x86_64_STANDARD",
    "scaling_config": [{"desired_size": 1, "min_size": 1, "max_size": 2}],
}
ROUTE = {"route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


CASES = [
    # DynamoDB: attributes and GSIs change in place (UpdateTable); LSIs exist only from creation
    (
        "aws_dynamodb_table",
        TABLE,
        _with(
            TABLE,
            global_secondary_index=[GSI],
            attribute=[*TABLE["attribute"], {"name": "owner", "type": "S"}],
        ),
        Action.UPDATE,
    ),
    (
        "aws_dynamodb_table",
        TABLE,
        _with(
            TABLE,
            local_secondary_index=[{**TABLE["local_secondary_index"][0], "projection_type": "KEYS_ONLY"}],
        ),
        Action.REPLACE,
    ),
    # security group rules: ModifySecurityGroupRules changes ports and the source in place...
    ("aws_vpc_security_group_egress_rule", RULE, _with(RULE, from_port=8443, to_port=8443), Action.UPDATE),
    ("aws_vpc_security_group_egress_rule", RULE, _with(RULE, cidr_ipv4="10.1.0.0/16"), Action.UPDATE),
    ("aws_vpc_security_group_ingress_rule", RULE, _with(RULE, description="https"), Action.UPDATE),
    # ...but not the kind of source, nor the group
    (
        "aws_vpc_security_group_egress_rule",
        RULE,
        {**{k: v for k, v in RULE.items() if k != "cidr_ipv4"}, "referenced_security_group_id": "sg-2"},
        Action.REPLACE,
    ),
    ("aws_vpc_security_group_egress_rule", RULE, _with(RULE, security_group_id="sg-3"), Action.REPLACE),
    # node group AMI type and log group class: ForceNew
    ("aws_eks_node_group", NODES, _with(NODES, ami_type="AL2023_ARM_64_STANDARD"), Action.REPLACE),
    (
        "aws_eks_node_group",
        NODES,
        _with(NODES, scaling_config=[{"desired_size": 2, "min_size": 1, "max_size": 2}]),
        Action.UPDATE,
    ),
    (
        "aws_cloudwatch_log_group",
        {"name": "/l"},
        {"name": "/l", "log_group_class": "INFREQUENT_ACCESS"},
        Action.REPLACE,
    ),
    ("aws_cloudwatch_log_group", {"name": "/l"}, {"name": "/l", "retention_in_days": 30}, Action.UPDATE),
    # VPC tenancy: ModifyVpcTenancy only goes from dedicated to default
    (
        "aws_vpc",
        {"cidr_block": "10.0.0.0/16", "instance_tenancy": "default"},
        {"cidr_block": "10.0.0.0/16", "instance_tenancy": "dedicated"},
        Action.REPLACE,
    ),
    (
        "aws_vpc",
        {"cidr_block": "10.0.0.0/16", "instance_tenancy": "dedicated"},
        {"cidr_block": "10.0.0.0/16", "instance_tenancy": "default"},
        Action.UPDATE,
    ),
    # aws_route: the destination replaces, the target is updated (ReplaceRoute)
    ("aws_route", ROUTE, _with(ROUTE, destination_cidr_block="10.9.0.0/16"), Action.REPLACE),
    ("aws_route", ROUTE, _with(ROUTE, gateway_id="igw-2"), Action.UPDATE),
]


def _emulator_action(resource_type: str, before: dict[str, Any], after: dict[str, Any], tmp_path) -> Action:
    address = f"{resource_type}.this"
    state = State(
        path=tmp_path / "t.json",
        entries={address: StateEntry(address, resource_type, before, {"id": "x", **before})},
    )
    plan = make_plan(parse_document({"resource": {resource_type: {"this": after}}}), state)
    return plan.get(address).action


def _preview_action(resource_type: str, before: dict[str, Any], after: dict[str, Any]) -> Action:
    diff = diff_stacks(
        "t", {"resource": {resource_type: {"this": before}}}, {"resource": {resource_type: {"this": after}}}
    )
    changed = {c.address: c.action for c in diff.changes}
    return changed.get(f"{resource_type}.this", Action.NOOP)


@pytest.mark.parametrize(
    ("resource_type", "before", "after", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_given_a_disputed_change_when_planned_and_previewed_then_both_give_the_providers_answer(
    resource_type, before, after, expected, tmp_path
):
    assert _emulator_action(resource_type, before, after, tmp_path) is expected
    assert _preview_action(resource_type, before, after) is expected
