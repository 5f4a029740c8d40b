"""Network: a VPC with private subnets for compute and public ones only for the NAT gateway."""

from __future__ import annotations

import json

import pytest
from infra_support import bodies, only, synth

from core.errors import ConstructPropsError
from infra import actions, cdk
from infra.network import Network, NetworkProps


def test_given_a_network_when_synthesized_then_the_vpc_has_dns_and_the_tenant_name(stack, naming):
    # given
    network = Network(stack, "Network", NetworkProps(naming=naming, cidr="10.10.0.0/16"))

    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_vpc",
        {
            "cidr_block": "10.10.0.0/16",
            "enable_dns_hostnames": True,
            "enable_dns_support": True,
            "tags": {"Name": "tenantml-acme-dev-vpc"},
        },
    )
    assert network.vpc_id == "${aws_vpc.network.id}"


def test_given_three_zones_when_synthesized_then_each_zone_has_a_private_and_a_public_subnet(stack, naming):
    # given
    network = Network(
        stack, "Network", NetworkProps(naming=naming, cidr="10.20.0.0/16", availability_zones=3)
    )

    # when
    _, doc = synth(stack)

    # then
    subnets = bodies(doc, "aws_subnet")
    assert sorted(subnets) == [f"network_{kind}{i}" for kind in ("private", "public") for i in range(3)]
    zone_refs = [f"${{data.aws_availability_zones.network_zones.names[{i}]}}" for i in range(3)]
    assert [subnets[f"network_private{i}"]["availability_zone"] for i in range(3)] == zone_refs
    assert [subnets[f"network_public{i}"]["availability_zone"] for i in range(3)] == zone_refs
    assert [subnets[f"network_private{i}"]["cidr_block"] for i in range(3)] == [
        "10.20.0.0/20",
        "10.20.16.0/20",
        "10.20.32.0/20",
    ]
    assert [subnets[f"network_public{i}"]["cidr_block"] for i in range(3)] == [
        "10.20.48.0/20",
        "10.20.64.0/20",
        "10.20.80.0/20",
    ]
    assert all(s["map_public_ip_on_launch"] is False for s in subnets.values())
    assert network.private_subnet_ids == [f"${{aws_subnet.network_private{i}.id}}" for i in range(3)]


def test_given_a_network_when_synthesized_then_zones_come_from_the_accounts_available_standard_zones(
    stack, naming
):
    # given: no "<region>a/b/c" guesses; the account's own zone names, read while planning
    Network(stack, "Network", NetworkProps(naming=naming, cidr="10.10.0.0/16"))

    # when
    _, doc = synth(stack)

    # then: only available zones that need no opt-in (no Local or Wavelength zones)
    assert doc["data"]["aws_availability_zones"] == {
        "network_zones": {
            "state": "available",
            "filter": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
        }
    }
    zones = {s["availability_zone"] for s in bodies(doc, "aws_subnet").values()}
    assert zones == {f"${{data.aws_availability_zones.network_zones.names[{i}]}}" for i in range(2)}
    assert not any("eu-west-1a" in str(s) for s in bodies(doc, "aws_subnet").values())


def test_given_a_network_when_synthesized_then_private_subnets_reach_out_only_through_the_nat_gateway(
    stack, naming
):
    # given
    Network(stack, "Network", NetworkProps(naming=naming, cidr="10.10.0.0/16"))

    # when
    _, doc = synth(stack)

    # then
    routes = bodies(doc, "aws_route")
    assert routes["network_private_default"] == {
        "route_table_id": "${aws_route_table.network_private_routes.id}",
        "destination_cidr_block": "0.0.0.0/0",
        "nat_gateway_id": "${aws_nat_gateway.network_nat.id}",
    }
    assert routes["network_public_default"]["gateway_id"] == "${aws_internet_gateway.network_gateway.id}"
    assert only(doc, "aws_nat_gateway")["subnet_id"] == "${aws_subnet.network_public0.id}"
    associations = bodies(doc, "aws_route_table_association")
    assert associations["network_private_assoc1"] == {
        "subnet_id": "${aws_subnet.network_private1.id}",
        "route_table_id": "${aws_route_table.network_private_routes.id}",
    }
    assert only(doc, "aws_eip")["depends_on"] == ["aws_internet_gateway.network_gateway"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cidr": "10.0.0.0/8"}, ("cidr", "VPC prefix length must be /16 to /24", "10.0.0.0/8")),
        ({"cidr": "10.0.0.0/28"}, ("cidr", "VPC prefix length must be /16 to /24", "10.0.0.0/28")),
        ({"cidr": "8.8.0.0/16"}, ("cidr", "must be a private (RFC 1918) range", "8.8.0.0/16")),
        ({"availability_zones": 1}, ("availability_zones", "must be 2 to 3", 1)),
        ({"availability_zones": 4}, ("availability_zones", "must be 2 to 3", 4)),
    ],
    ids=["prefix-8", "prefix-28", "public-range", "one-zone", "four-zones"],
)
def test_given_a_broken_network_setting_when_props_are_built_then_the_field_and_value_are_named(
    naming, fields, expected
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        NetworkProps(naming=naming, **{"cidr": "10.0.0.0/16", **fields})

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [expected]
    assert f"{expected[0]}: {expected[1]}" in str(caught.value)


@pytest.mark.parametrize(
    ("cidr", "reason"),
    [("10.0.0.1/16", "has host bits set"), ("300.0.0.0/16", "does not appear to be an IPv4 or IPv6 network")],
)
def test_given_a_cidr_that_is_not_a_network_when_props_are_built_then_the_cidr_is_named(naming, cidr, reason):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        NetworkProps(naming=naming, cidr=cidr)

    # then
    (problem,) = caught.value.problems
    assert (problem.location, problem.value) == ("cidr", cidr)
    assert problem.message.startswith("not a network address:")
    assert reason in problem.message


@pytest.mark.parametrize(
    ("cidr", "zones"),
    [("10.0.0.0/16", 2), ("172.16.0.0/24", 3), ("192.168.0.0/20", 2)],
)
def test_given_a_private_range_when_props_are_built_then_it_is_split_into_two_subnets_per_zone(
    naming, cidr, zones
):
    # when
    props = NetworkProps(naming=naming, cidr=cidr, availability_zones=zones)

    # then
    cidrs = props.subnet_cidrs()
    assert len(cidrs) == 2 * zones
    assert len(set(cidrs)) == len(cidrs)


BUCKETS = ("${aws_s3_bucket.data.arn}", "${aws_s3_bucket.models.arn}")


def test_given_tenant_buckets_when_synthesized_then_s3_takes_a_gateway_endpoint_on_the_private_routes(
    stack, naming
):
    # given
    network = Network(
        stack, "Network", NetworkProps(naming=naming, cidr="10.10.0.0/16", s3_bucket_arns=BUCKETS)
    )

    # when
    _, doc = synth(stack)

    # then the endpoint is a free gateway endpoint on the private route table only (public subnets hold the NAT)
    endpoint = only(doc, "aws_vpc_endpoint")
    assert {k: v for k, v in endpoint.items() if k != "policy"} == {
        "vpc_id": "${aws_vpc.network.id}",
        "service_name": "com.amazonaws.eu-west-1.s3",
        "vpc_endpoint_type": "Gateway",
        "route_table_ids": ["${aws_route_table.network_private_routes.id}"],
        "tags": {"Name": "tenantml-acme-dev-s3-endpoint"},
    }
    assert network.s3_endpoint is not None
    # and its policy lets through the tenant's buckets and their objects, and of AWS's buckets only
    # ECR's image layers and the Amazon Linux repositories, read-only
    statements = {s["Sid"]: s for s in json.loads(endpoint["policy"])["Statement"]}
    assert sorted(statements) == ["AwsOwnedBuckets", "TenantBuckets"]
    tenant = statements["TenantBuckets"]
    assert tenant["Resource"] == [
        "${aws_s3_bucket.data.arn}",
        "${aws_s3_bucket.data.arn}/*",
        "${aws_s3_bucket.models.arn}",
        "${aws_s3_bucket.models.arn}/*",
    ]
    assert tenant["Action"] == [*actions.S3_READ, *actions.S3_WRITE] and "*" not in tenant["Action"]
    assert statements["AwsOwnedBuckets"]["Action"] == ["s3:GetObject"]
    assert statements["AwsOwnedBuckets"]["Resource"] == [
        "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*",
        "arn:aws:s3:::al2023-repos-eu-west-1-*/*",
    ]
    assert all(s["Effect"] == "Allow" and s["Principal"] == "*" for s in statements.values())


def test_given_no_tenant_buckets_when_synthesized_then_there_is_no_endpoint_that_would_cut_them_off(
    stack, naming
):
    # when
    network = Network(stack, "Network", NetworkProps(naming=naming, cidr="10.10.0.0/16"))
    _, doc = synth(stack)

    # then
    assert bodies(doc, "aws_vpc_endpoint") == {} and network.s3_endpoint is None


def test_given_the_example_tenants_when_synthesized_then_each_vpc_has_an_s3_endpoint_for_its_three_buckets(
    example_stacks,
):
    for tenant, stack in example_stacks.items():
        if tenant.endswith("-kubernetes"):
            continue  # the workload stack of an EKS tenant has no VPC of its own
        endpoint = only(stack.doc, "aws_vpc_endpoint")
        region = stack.doc["provider"]["aws"][0]["region"]
        assert endpoint["service_name"] == f"com.amazonaws.{region}.s3", tenant
        private_routes = {
            route["route_table_id"]
            for route in bodies(stack.doc, "aws_route").values()
            if "nat_gateway_id" in route
        }
        assert set(endpoint["route_table_ids"]) == private_routes, tenant
        (tenant_statement,) = [
            s for s in json.loads(endpoint["policy"])["Statement"] if s["Sid"] == "TenantBuckets"
        ]
        assert tenant_statement["Resource"] == [
            f"${{aws_s3_bucket.storage_{b}.arn}}{suffix}"
            for b in ("data", "artifacts", "models")
            for suffix in ("", "/*")
        ], tenant
