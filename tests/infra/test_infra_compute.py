"""Compute: a private EKS cluster for larger tenants, an EC2 fleet for small ones."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from infra_support import ACCOUNT_ID, BOUNDARY_ARN, bodies, only, policy, synth

from core.errors import ConstructPropsError
from infra import actions, cdk
from infra.compute import (
    AL2023_AMI,
    EKS_LOG_TYPES,
    Ec2Fleet,
    Ec2FleetProps,
    EksCluster,
    EksClusterProps,
    FleetServing,
    serving_user_data,
)
from infra.identity import ServiceLinkedRole, ServiceLinkedRoleProps
from infra.network import Network, NetworkProps
from pipelines.serving.config import ServerConfig

PRIVATE_SUBNETS = ["${aws_subnet.network_private0.id}", "${aws_subnet.network_private1.id}"]


@pytest.fixture
def network(stack, naming) -> Network:
    return Network(stack, "Network", NetworkProps(naming=naming, cidr="10.20.0.0/16"))


@pytest.fixture
def compute_fields(naming, key, network) -> dict:
    return {
        "naming": naming,
        "key": key,
        "network": network,
        "partition": "aws",
        "instance_types": ("m6i.xlarge", "m6i.2xlarge"),
        "min_nodes": 2,
        "max_nodes": 10,
    }


REPOSITORY_ARN = f"arn:aws:ecr:eu-west-1:{ACCOUNT_ID}:repository/tenantml-acme-dev-images"
EKS_FIELDS = {
    "kubernetes_version": "1.36",
    "account_id": ACCOUNT_ID,
    "boundary_arn": BOUNDARY_ARN,
    "image_repository_arn": REPOSITORY_ARN,
}


@pytest.fixture
def cluster(stack, compute_fields) -> EksCluster:
    return EksCluster(stack, "Cluster", EksClusterProps(**compute_fields, **EKS_FIELDS))


SERVING = FleetServing(
    repository_name="tenantml-acme-dev-images",
    image_tag="v1",
    model_package_group="tenantml-acme-dev-churn",
    stream_name="tenantml-acme-dev-inference",
)


@pytest.fixture
def ec2_extra(stack, naming, role) -> dict:
    """The fleet's own props: the instance role, the Auto Scaling role and what it serves."""
    linked = ServiceLinkedRole(
        stack, "AutoScalingRole", ServiceLinkedRoleProps(naming=naming, service="autoscaling.amazonaws.com")
    )
    return {"instance_role": role, "service_linked_role": linked, "serving": SERVING}


@pytest.fixture
def fleet(stack, compute_fields, ec2_extra) -> Ec2Fleet:
    return Ec2Fleet(
        stack,
        "Fleet",
        Ec2FleetProps(**{**compute_fields, "min_nodes": 1, "max_nodes": 2}, **ec2_extra),
    )


# --- EKS ------------------------------------------------------------------------------------------


def test_given_an_eks_cluster_when_synthesized_then_its_endpoint_is_private_only(stack, cluster):
    # when
    _, doc = synth(stack)

    # then
    body = only(doc, "aws_eks_cluster")
    assert body["name"] == "tenantml-acme-dev-eks"
    assert body["version"] == "1.36"
    assert body["upgrade_policy"] == [{"support_type": "STANDARD"}]
    assert body["vpc_config"] == [
        {
            "subnet_ids": PRIVATE_SUBNETS,
            "endpoint_private_access": True,
            "endpoint_public_access": False,
        }
    ]


def test_given_an_eks_cluster_when_synthesized_then_all_five_control_plane_log_types_go_to_an_encrypted_group(
    stack, cluster
):
    # when
    _, doc = synth(stack)

    # then
    body = only(doc, "aws_eks_cluster")
    assert sorted(body["enabled_cluster_log_types"]) == sorted(EKS_LOG_TYPES)
    assert len(set(body["enabled_cluster_log_types"])) == 5
    assert only(doc, "aws_cloudwatch_log_group") == {
        "name": "/aws/eks/tenantml-acme-dev-eks/cluster",
        "retention_in_days": 30,
        "kms_key_id": "${aws_kms_key.key.arn}",
    }
    # EKS creates the group itself when the cluster comes first; then Terraform's create fails
    assert "aws_cloudwatch_log_group.cluster_control_plane_logs" in body["depends_on"]


def test_given_an_eks_cluster_when_synthesized_then_secrets_are_encrypted_with_the_tenant_key(stack, cluster):
    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_eks_cluster",
        {
            "encryption_config": [
                {"resources": ["secrets"], "provider": [{"key_arn": "${aws_kms_key.key.arn}"}]}
            ],
            "access_config": [
                {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False}
            ],
        },
    )


def test_given_an_eks_cluster_when_synthesized_then_only_a_serving_node_group_runs_in_private_subnets(
    stack, cluster
):
    # when
    _, doc = synth(stack)

    # then: training runs as SageMaker jobs, so no training node group idles on the cluster
    groups = bodies(doc, "aws_eks_node_group")
    assert sorted(groups) == ["cluster_serving_nodes"]
    group = groups["cluster_serving_nodes"]
    assert group["node_group_name"] == "tenantml-acme-dev-serving-nodes"
    assert group["cluster_name"] == "${aws_eks_cluster.cluster.name}"
    assert group["node_role_arn"] == "${aws_iam_role.cluster_node_role.arn}"
    assert group["subnet_ids"] == PRIVATE_SUBNETS
    assert group["instance_types"] == ["m6i.xlarge", "m6i.2xlarge"]
    assert group["scaling_config"] == [{"min_size": 2, "desired_size": 2, "max_size": 10}]
    assert group["labels"] == {"tenantml.io/workload": "serving"}


def test_given_an_eks_cluster_when_synthesized_then_an_oidc_provider_trusts_its_issuer(stack, cluster):
    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_iam_openid_connect_provider") == {
        "url": "${aws_eks_cluster.cluster.identity[0].oidc[0].issuer}",
        "client_id_list": ["sts.amazonaws.com"],
    }
    assert cluster.oidc_provider_arn == "${aws_iam_openid_connect_provider.cluster_oidc.arn}"
    assert cluster.cluster_arn == "${aws_eks_cluster.cluster.arn}"


def test_given_an_eks_cluster_when_synthesized_then_its_roles_use_the_aws_managed_eks_policies(
    stack, cluster
):
    # when
    _, doc = synth(stack)

    # then
    roles = bodies(doc, "aws_iam_role")
    assert policy(roles["cluster_cluster_role"], "assume_role_policy")["Statement"][0]["Principal"] == {
        "Service": ["eks.amazonaws.com"]
    }
    attached = sorted(
        a["policy_arn"].rsplit("/", 1)[1] for a in bodies(doc, "aws_iam_role_policy_attachment").values()
    )
    # not AmazonEC2ContainerRegistryReadOnly: it reads every repository of the account
    assert attached == [
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
    ]


def test_given_zero_minimum_nodes_when_a_cluster_is_built_then_one_node_is_still_desired(
    stack, compute_fields
):
    # given
    EksCluster(stack, "Cluster", EksClusterProps(**{**compute_fields, "min_nodes": 0}, **EKS_FIELDS))

    # when
    _, doc = synth(stack)

    # then
    group = bodies(doc, "aws_eks_node_group")["cluster_serving_nodes"]
    assert group["scaling_config"] == [{"min_size": 0, "desired_size": 1, "max_size": 10}]


def test_given_an_eks_cluster_then_the_deploy_principal_and_the_admin_role_are_cluster_admins(stack, cluster):
    # when
    _, doc = synth(stack)

    # then: nobody else gets in (API mode, no implicit entry for the creator)
    entries = bodies(doc, "aws_eks_access_entry")
    assert sorted(entries) == ["cluster_admin_access", "cluster_deploy_access"]
    assert entries["cluster_admin_access"]["principal_arn"] == "${aws_iam_role.cluster_admin_role.arn}"
    # by default the deploy principal is the role behind the session applying the stack
    assert (
        entries["cluster_deploy_access"]["principal_arn"]
        == "${data.aws_iam_session_context.cluster_deploy_principal.issuer_arn}"
    )
    assert doc["data"]["aws_iam_session_context"]["cluster_deploy_principal"]["arn"] == (
        "${data.aws_caller_identity.cluster_caller.arn}"
    )
    assert {e["cluster_name"] for e in entries.values()} == {"${aws_eks_cluster.cluster.name}"}
    associations = bodies(doc, "aws_eks_access_policy_association")
    assert sorted(associations) == ["cluster_admin_access_policy", "cluster_deploy_access_policy"]
    for name, association in associations.items():
        entry = name.removesuffix("_policy")
        assert association["principal_arn"] == f"${{aws_eks_access_entry.{entry}.principal_arn}}"
        assert (
            association["policy_arn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        )
        assert association["access_scope"] == [{"type": "cluster"}]
    admin = bodies(doc, "aws_iam_role")["cluster_admin_role"]
    assert policy(admin, "assume_role_policy")["Statement"] == [
        {
            "Sid": "Accounts",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:root"]},
        }
    ]
    grants = policy(bodies(doc, "aws_iam_role_policy")["cluster_admin_role_policy"], "policy")
    assert grants["Statement"][0]["Action"] == ["eks:DescribeCluster"]
    assert grants["Statement"][0]["Resource"] == ["${aws_eks_cluster.cluster.arn}"]


def test_given_a_deploy_role_and_more_admins_then_each_gets_its_own_access_entry(stack, compute_fields):
    # given
    deploy = f"arn:aws:iam::{ACCOUNT_ID}:role/ci-deploy"
    admins = (f"arn:aws:iam::{ACCOUNT_ID}:role/ops", f"arn:aws:iam::{ACCOUNT_ID}:role/sre")
    EksCluster(
        stack,
        "Cluster",
        EksClusterProps(
            **compute_fields, **EKS_FIELDS, deploy_principal_arn=deploy, admin_principal_arns=admins
        ),
    )

    # when
    _, doc = synth(stack)

    # then
    entries = {k: v["principal_arn"] for k, v in bodies(doc, "aws_eks_access_entry").items()}
    assert entries == {
        "cluster_deploy_access": deploy,
        "cluster_admin_access": "${aws_iam_role.cluster_admin_role.arn}",
        "cluster_admin1_access": admins[0],
        "cluster_admin2_access": admins[1],
    }
    assert "aws_iam_session_context" not in doc.get("data", {})
    assert len(bodies(doc, "aws_eks_access_policy_association")) == 4


def test_given_ci_networks_then_the_endpoint_is_public_to_those_networks_only(stack, compute_fields):
    # given
    EksCluster(
        stack,
        "Cluster",
        EksClusterProps(**compute_fields, **EKS_FIELDS, endpoint_public_access_cidrs=("203.0.113.0/24",)),
    )

    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_eks_cluster")["vpc_config"][0] == {
        "subnet_ids": PRIVATE_SUBNETS,
        "endpoint_private_access": True,
        "endpoint_public_access": True,
        "public_access_cidrs": ["203.0.113.0/24"],
    }


def test_given_the_internet_as_a_ci_network_then_the_props_are_rejected(compute_fields):
    with pytest.raises(ConstructPropsError) as raised:
        EksClusterProps(**compute_fields, **EKS_FIELDS, endpoint_public_access_cidrs=("0.0.0.0/0",))
    assert "endpoint_public_access_cidrs" in str(raised.value)


def test_given_an_eks_cluster_then_cluster_and_node_groups_wait_for_their_role_policies(stack, cluster):
    # when
    _, doc = synth(stack)

    # then: a control plane or node started before its role's policies exist fails (nodes never join)
    cluster_needs = set(only(doc, "aws_eks_cluster")["depends_on"])
    assert {"aws_iam_role_policy_attachment.cluster_cluster_role_managed0"} <= cluster_needs
    node_policies = {
        "aws_iam_role_policy.cluster_node_role_policy",
        "aws_iam_role_policy_attachment.cluster_node_role_managed0",
        "aws_iam_role_policy_attachment.cluster_node_role_managed1",
    }
    for group in bodies(doc, "aws_eks_node_group").values():
        assert set(group["depends_on"]) == node_policies


def test_given_an_eks_cluster_then_every_role_has_a_permission_boundary(stack, cluster):
    # when
    _, doc = synth(stack)

    # then
    roles = bodies(doc, "aws_iam_role")
    assert {n: r.get("permissions_boundary") for n, r in roles.items()} == {
        # the control plane's one policy is its boundary: nothing attached later reaches further
        "cluster_cluster_role": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        "cluster_node_role": "${aws_iam_policy.cluster_node_boundary.arn}",
        "cluster_admin_role": BOUNDARY_ARN,
    }


def test_given_an_eks_cluster_then_nodes_pull_only_the_tenant_repository_of_their_account(stack, cluster):
    # when
    _, doc = synth(stack)

    # then
    grants = {
        s["Sid"]: s
        for s in policy(bodies(doc, "aws_iam_role_policy")["cluster_node_role_policy"], "policy")["Statement"]
    }
    assert grants["PullImages"]["Resource"] == [REPOSITORY_ARN]
    # EKS add-on images (VPC CNI, kube-proxy, CoreDNS) live in AWS's accounts, never in this one
    assert grants["PullAddOnImages"]["Resource"] == ["*"]
    assert grants["PullAddOnImages"]["Condition"] == {"StringNotEquals": {"aws:ResourceAccount": ACCOUNT_ID}}
    boundary = {s["Sid"]: s for s in policy(only(doc, "aws_iam_policy"), "policy")["Statement"]}
    assert boundary["PullImages"]["Resource"] == [REPOSITORY_ARN]
    assert boundary["PullAddOnImages"]["Condition"] == grants["PullAddOnImages"]["Condition"]
    # the boundary covers every action the node policies allow, and nothing of S3, IAM or KMS writes
    allowed = {a for s in boundary.values() for a in s["Action"]}
    assert set(actions.EKS_WORKER_NODE) | set(actions.EKS_CNI) <= allowed
    assert not [a for a in allowed if a.startswith(("s3:", "iam:", "kms:Encrypt", "sts:"))]


# --- EC2 ------------------------------------------------------------------------------------------


def test_given_an_ec2_fleet_when_synthesized_then_instances_require_imdsv2(stack, fleet):
    # when
    text, _ = synth(stack)

    # then: tokens only; one hop more than the instance, for the serving container behind Docker's bridge
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_launch_template",
        {
            "metadata_options": [
                {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 2}
            ]
        },
    )


def test_given_an_ec2_fleet_when_synthesized_then_root_volumes_are_encrypted_with_the_tenant_key(
    stack, fleet
):
    # when
    _, doc = synth(stack)

    # then
    template = only(doc, "aws_launch_template")
    assert template["block_device_mappings"] == [
        {
            "device_name": "/dev/xvda",
            "ebs": [
                {
                    "volume_size": 50,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "kms_key_id": "${aws_kms_key.key.arn}",
                    "delete_on_termination": "true",
                }
            ],
        }
    ]
    assert template["image_id"] == AL2023_AMI
    assert template["instance_type"] == "m6i.xlarge"
    assert template["iam_instance_profile"] == [
        {"arn": "${aws_iam_instance_profile.fleet_instance_profile.arn}"}
    ]


def test_given_an_ec2_fleet_when_synthesized_then_instances_take_only_the_load_balancers_traffic(
    stack, fleet
):
    # when
    _, doc = synth(stack)

    # then: private subnets, no inline rules; in: 8080 from the balancer only (no port 22); out: HTTPS
    group = only(doc, "aws_autoscaling_group")
    assert group["vpc_zone_identifier"] == PRIVATE_SUBNETS
    assert group["launch_template"] == [{"id": "${aws_launch_template.fleet.id}", "version": "$Latest"}]
    groups = bodies(doc, "aws_security_group")
    assert all("ingress" not in g and "egress" not in g for g in groups.values())
    ingress = bodies(doc, "aws_vpc_security_group_ingress_rule")
    assert {(r["security_group_id"], r["from_port"], r["to_port"]) for r in ingress.values()} == {
        ("${aws_security_group.fleet_security_group.id}", 8080, 8080),
        ("${aws_security_group.fleet_balancer_security_group.id}", 80, 80),
    }
    assert ingress["fleet_serving_in"]["referenced_security_group_id"] == (
        "${aws_security_group.fleet_balancer_security_group.id}"
    )
    assert ingress["fleet_balancer_in"]["cidr_ipv4"] == "${aws_vpc.network.cidr_block}"
    egress = bodies(doc, "aws_vpc_security_group_egress_rule")
    assert egress["fleet_https_out"]["from_port"] == 443
    assert egress["fleet_balancer_to_instances"]["referenced_security_group_id"] == (
        "${aws_security_group.fleet_security_group.id}"
    )
    assert "key_name" not in only(doc, "aws_launch_template")
    assert only(doc, "aws_iam_instance_profile")["role"] == "${aws_iam_role.worker.name}"
    assert fleet.launch_template_id == "${aws_launch_template.fleet.id}"


def test_given_an_ec2_fleet_when_synthesized_then_an_internal_balancer_checks_ping_and_the_group_uses_it(
    stack, fleet
):
    # when
    _, doc = synth(stack)

    # then
    balancer = only(doc, "aws_lb")
    assert balancer["internal"] is True
    assert balancer["load_balancer_type"] == "application"
    assert balancer["subnets"] == PRIVATE_SUBNETS
    assert balancer["drop_invalid_header_fields"] is True
    targets = only(doc, "aws_lb_target_group")
    assert (targets["port"], targets["protocol"], targets["target_type"]) == (8080, "HTTP", "instance")
    (check,) = targets["health_check"]
    assert (check["path"], check["port"], check["matcher"]) == ("/ping", "traffic-port", "200")
    listener = only(doc, "aws_lb_listener")
    assert listener["load_balancer_arn"] == "${aws_lb.fleet_balancer.arn}"
    assert listener["default_action"] == [
        {"type": "forward", "target_group_arn": "${aws_lb_target_group.fleet_targets.arn}"}
    ]
    group = only(doc, "aws_autoscaling_group")
    assert group["target_group_arns"] == ["${aws_lb_target_group.fleet_targets.arn}"]
    # /ping takes an instance out of the balancer; only a broken instance is replaced (see the next test)
    assert group["health_check_type"] == "EC2"
    assert group["health_check_grace_period"] >= 60
    assert group["service_linked_role_arn"] == "${aws_iam_service_linked_role.auto_scaling_role.arn}"
    assert fleet.endpoint_url == "http://${aws_lb.fleet_balancer.dns_name}"


def test_given_an_ec2_fleet_when_synthesized_then_user_data_runs_the_serving_image_on_8080(stack, fleet):
    # when
    _, doc = synth(stack)

    # then: the boot script serves the registry's champion from the tenant's image
    script = base64.b64decode(only(doc, "aws_launch_template")["user_data"]).decode()
    assert script == serving_user_data("eu-west-1", SERVING)
    assert script.startswith("#!/bin/bash\n")
    assert "docker login --username AWS --password-stdin" in script
    run = next(line for line in script.splitlines() if line.startswith("docker run "))
    assert '"$registry/tenantml-acme-dev-images:v1"' in run
    assert "--publish 8080:8080" in run
    assert run.endswith("serve --port 8080 --workers 2")
    env_line = next(line for line in script.splitlines() if line.startswith("TENANTML_SERVING_CONFIG="))
    config = ServerConfig.model_validate_json(env_line.split("=", 1)[1])
    assert config.source.kind == "registry"
    assert (config.source.group, config.source.alias) == ("tenantml-acme-dev-churn", "champion")
    assert config.inference_log.stream_name == "tenantml-acme-dev-inference"
    assert "${" not in script, "user data is plain text: no Terraform template reaches the instance"


def test_given_an_ec2_fleet_without_a_champion_when_its_instances_boot_then_they_wait_instead_of_looping(
    stack, fleet
):
    # when
    _, doc = synth(stack)

    # then: the server polls the champion alias (with backoff) instead of failing or exiting
    script = base64.b64decode(only(doc, "aws_launch_template")["user_data"]).decode()
    env_line = next(line for line in script.splitlines() if line.startswith("TENANTML_SERVING_CONFIG="))
    config = ServerConfig.model_validate_json(env_line.split("=", 1)[1])
    assert config.source.alias == "champion"
    assert config.alias_poll_seconds is not None and config.alias_poll_seconds > 0
    assert config.alias_max_poll_seconds >= config.alias_poll_seconds
    # meanwhile /ping answers 503: the balancer keeps the instance out of service, and the group does
    # not replace it for that (ELB health checks would, after the grace period, again and again)
    (check,) = only(doc, "aws_lb_target_group")["health_check"]
    assert (check["path"], check["matcher"]) == ("/ping", "200")
    assert only(doc, "aws_autoscaling_group")["health_check_type"] == "EC2"


def test_given_an_ec2_fleet_when_synthesized_then_people_reach_instances_through_session_manager(
    stack, fleet
):
    # when
    _, doc = synth(stack)

    # then
    attachment = bodies(doc, "aws_iam_role_policy_attachment")["fleet_session_manager"]
    assert attachment == {
        "role": "${aws_iam_role.worker.name}",
        "policy_arn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    }


def test_given_the_pinned_image_tag_when_a_fleet_is_synthesized_then_min_nodes_instances_boot_that_image(
    stack, compute_fields, ec2_extra
):
    # given: the tenant's one image tag (the spec requires it)
    serving = dataclasses.replace(SERVING, image_tag="2.1.0")
    Ec2Fleet(
        stack,
        "Fleet",
        Ec2FleetProps(
            **{**compute_fields, "min_nodes": 1, "max_nodes": 2}, **{**ec2_extra, "serving": serving}
        ),
    )

    # when
    _, doc = synth(stack)

    # then
    group = only(doc, "aws_autoscaling_group")
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (1, 2, 1)
    user_data = base64.b64decode(only(doc, "aws_launch_template")["user_data"]).decode()
    assert f'"$registry/{SERVING.repository_name}:2.1.0"' in user_data


def test_given_zero_minimum_nodes_when_a_fleet_is_synthesized_then_nothing_is_kept_running(
    stack, compute_fields, ec2_extra
):
    # given
    Ec2Fleet(stack, "Fleet", Ec2FleetProps(**{**compute_fields, "min_nodes": 0, "max_nodes": 3}, **ec2_extra))

    # when
    _, doc = synth(stack)

    # then
    group = only(doc, "aws_autoscaling_group")
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (0, 3, 0)


# --- props rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"instance_types": ()}, [("instance_types", "at least one instance type is needed", None)]),
        ({"min_nodes": 5, "max_nodes": 2}, [("min_nodes", "must not exceed max_nodes", 5)]),
        ({"min_nodes": -1}, [("min_nodes/max_nodes", "min_nodes >= 0 and max_nodes >= 1", (-1, 10))]),
        (
            {"min_nodes": 0, "max_nodes": 0},
            [("min_nodes/max_nodes", "min_nodes >= 0 and max_nodes >= 1", (0, 0))],
        ),
    ],
    ids=["no-instance-types", "min-above-max", "negative-min", "zero-max"],
)
@pytest.mark.parametrize("kind", ["eks", "ec2"])
def test_given_a_broken_compute_setting_when_props_are_built_then_the_field_and_value_are_named(
    compute_fields, ec2_extra, kind, fields, expected
):
    # given
    merged = {**compute_fields, **fields}

    # when
    with pytest.raises(ConstructPropsError) as caught:
        if kind == "eks":
            EksClusterProps(**merged, **EKS_FIELDS)
        else:
            Ec2FleetProps(**merged, **ec2_extra)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == expected
    assert f"{expected[0][0]}: {expected[0][1]}" in str(caught.value)


@pytest.mark.parametrize("volume", [7, 16385])
def test_given_a_volume_size_out_of_range_when_fleet_props_are_built_then_it_is_named(
    compute_fields, ec2_extra, volume
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        Ec2FleetProps(**compute_fields, **ec2_extra, volume_size_gb=volume)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("volume_size_gb", "must be 8 to 16384", volume)
    ]


def test_given_compute_and_volume_problems_when_fleet_props_are_built_then_one_error_lists_both(
    compute_fields, ec2_extra
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        Ec2FleetProps(**{**compute_fields, "instance_types": ()}, **ec2_extra, volume_size_gb=1)

    # then
    assert [p.location for p in caught.value.problems] == ["instance_types", "volume_size_gb"]


@pytest.mark.parametrize(
    "fields",
    [{"min_nodes": 0, "max_nodes": 1}, {"min_nodes": 3, "max_nodes": 3}, {"instance_types": ("t3.large",)}],
    ids=["zero-to-one", "fixed-size", "one-type"],
)
def test_given_valid_compute_settings_when_props_are_built_then_they_are_kept(
    compute_fields, ec2_extra, fields
):
    # when
    eks = EksClusterProps(**{**compute_fields, **fields}, **EKS_FIELDS)
    ec2 = Ec2FleetProps(**{**compute_fields, **fields}, **ec2_extra)

    # then
    assert {name: getattr(eks, name) for name in fields} == fields
    assert {name: getattr(ec2, name) for name in fields} == fields


@pytest.mark.parametrize("volume", [8, 16384])
def test_given_a_volume_size_at_the_limits_when_fleet_props_are_built_then_it_is_kept(
    compute_fields, ec2_extra, volume
):
    # when
    props = Ec2FleetProps(**compute_fields, **ec2_extra, volume_size_gb=volume)

    # then
    assert props.volume_size_gb == volume
