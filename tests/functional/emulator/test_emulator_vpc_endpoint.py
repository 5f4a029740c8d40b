"""The S3 gateway endpoint of a tenant network, applied, changed and destroyed on the emulator."""

from __future__ import annotations

import copy
import json

from tenantml.emulator.apply import apply, destroy
from tenantml.emulator.state import load_state

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}
    ],
}


def _network() -> dict:
    return {
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_vpc": {"net": {"cidr_block": "10.10.0.0/16"}},
            "aws_route_table": {
                "private": {"vpc_id": "${aws_vpc.net.id}"},
                "other": {"vpc_id": "${aws_vpc.net.id}"},
            },
            "aws_vpc_endpoint": {
                "s3": {
                    "vpc_id": "${aws_vpc.net.id}",
                    "service_name": "com.amazonaws.eu-west-1.s3",
                    "vpc_endpoint_type": "Gateway",
                    "route_table_ids": ["${aws_route_table.private.id}"],
                    "policy": json.dumps(POLICY),
                    "tags": {"Name": "s3"},
                }
            },
        },
    }


def _endpoint(aws) -> dict:
    (endpoint,) = aws.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
    return endpoint


def test_given_an_s3_gateway_endpoint_when_applied_changed_and_destroyed_then_ec2_follows(aws, tmp_path):
    # given
    state_file = tmp_path / "net.json"
    doc = _network()

    # when applied
    apply(doc, state_file, aws)
    state = load_state(state_file)

    # then the endpoint is a gateway on the private route table with the policy and tags asked for
    attributes = state.entries["aws_vpc_endpoint.s3"].attributes
    endpoint = _endpoint(aws)
    tables = {
        name: state.entries[f"aws_route_table.{name}"].attributes["id"] for name in ("private", "other")
    }
    assert endpoint["VpcEndpointId"] == attributes["id"]
    assert (endpoint["VpcEndpointType"], endpoint["ServiceName"]) == ("Gateway", "com.amazonaws.eu-west-1.s3")
    assert endpoint["RouteTableIds"] == [tables["private"]]
    assert json.loads(endpoint["PolicyDocument"]) == POLICY
    assert {t["Key"]: t["Value"] for t in endpoint.get("Tags", [])} == {"Name": "s3"}

    # when the policy and the route tables change
    changed = copy.deepcopy(doc)
    body = changed["resource"]["aws_vpc_endpoint"]["s3"]
    body["route_table_ids"] = ["${aws_route_table.other.id}"]
    wider = copy.deepcopy(POLICY)
    wider["Statement"][0]["Resource"].append("arn:aws:s3:::c/*")
    body["policy"] = json.dumps(wider)
    apply(changed, state_file, aws)

    # then the same endpoint is updated in place
    endpoint = _endpoint(aws)
    assert endpoint["VpcEndpointId"] == attributes["id"]
    assert endpoint["RouteTableIds"] == [tables["other"]]
    (private,) = aws.client("ec2").describe_route_tables(RouteTableIds=[tables["private"]])["RouteTables"]
    assert [r for r in private["Routes"] if r.get("GatewayId") == attributes["id"]] == []
    assert json.loads(endpoint["PolicyDocument"]) == wider

    # when destroyed, then no endpoint is left
    destroy(state_file, aws)
    assert [
        e["VpcEndpointId"]
        for e in aws.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
        if e["State"].lower() != "deleted"
    ] == []
