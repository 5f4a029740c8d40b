"""Compute for training and serving: an EKS cluster for larger tenants, EC2 for small ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra.core import PRIMARY_ID, Resource, TenantConstruct
from infra.identity import ServiceRole, ServiceRoleProps
from infra.keys import TenantKey
from infra.network import Network

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
#: the latest Amazon Linux 2023 image, resolved by EC2 at launch: no AMI id in the stack
AL2023_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _aws_managed(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


@dataclass(frozen=True, kw_only=True)
class ComputeProps:
    naming: Naming
    key: TenantKey
    network: Network
    partition: str
    instance_types: tuple[str, ...]
    min_nodes: int
    max_nodes: int
    log_retention_days: int = 30

    def problems(self) -> list[Problem]:
        found = []
        if not self.instance_types:
            found.append(Problem("instance_types", "at least one instance type is needed"))
        if self.min_nodes < 0 or self.max_nodes < 1:
            found.append(
                Problem(
                    "min_nodes/max_nodes",
                    "min_nodes >= 0 and max_nodes >= 1",
                    (self.min_nodes, self.max_nodes),
                )
            )
        if self.min_nodes > self.max_nodes:
            found.append(Problem("min_nodes", "must not exceed max_nodes", self.min_nodes))
        return found


@dataclass(frozen=True, kw_only=True)
class EksClusterProps(ComputeProps):
    kubernetes_version: str

    def __post_init__(self) -> None:
        if problems := self.problems():
            raise ConstructPropsError(problems)


class EksCluster(TenantConstruct):
    """A private EKS cluster (no public endpoint, all control-plane logs, secrets encrypted)
    with managed node groups for training and serving and an OIDC provider for IRSA."""

    def __init__(self, scope: Construct, construct_id: str, props: EksClusterProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        self.cluster_name = naming.name("eks", "cluster")
        cluster_role = ServiceRole(
            self,
            "ClusterRole",
            ServiceRoleProps(
                naming=naming,
                component="eks-cluster",
                description="EKS control plane",
                assumed_by=("eks.amazonaws.com",),
                boundary_arn=None,
                managed_policy_arns=(_aws_managed(props.partition, "AmazonEKSClusterPolicy"),),
            ),
        )
        self.node_role = ServiceRole(
            self,
            "NodeRole",
            ServiceRoleProps(
                naming=naming,
                component="eks-nodes",
                description="EKS worker nodes",
                assumed_by=("ec2.amazonaws.com",),
                boundary_arn=None,
                managed_policy_arns=tuple(
                    _aws_managed(props.partition, p)
                    for p in (
                        "AmazonEKSWorkerNodePolicy",
                        "AmazonEKS_CNI_Policy",
                        "AmazonEC2ContainerRegistryReadOnly",
                    )
                ),
            ),
        )
        log_group = Resource(
            self,
            "ControlPlaneLogs",
            "aws_cloudwatch_log_group",
            {
                "name": f"/aws/eks/{self.cluster_name}/cluster",
                "retention_in_days": props.log_retention_days,
                "kms_key_id": props.key.key_arn,
            },
        )
        self.cluster = Resource(
            self,
            PRIMARY_ID,
            "aws_eks_cluster",
            {
                "name": self.cluster_name,
                "role_arn": cluster_role.role_arn,
                "version": props.kubernetes_version,
                "vpc_config": [
                    {
                        "subnet_ids": props.network.private_subnet_ids,
                        "endpoint_private_access": True,
                        "endpoint_public_access": False,
                    }
                ],
                "enabled_cluster_log_types": list(EKS_LOG_TYPES),
                "encryption_config": [
                    {"resources": ["secrets"], "provider": [{"key_arn": props.key.key_arn}]}
                ],
                "access_config": [{"authentication_mode": "API"}],
            },
            depends_on=[log_group],
        )
        self.node_groups: dict[str, Resource] = {}
        for workload in ("training", "serving"):
            self.node_groups[workload] = Resource(
                self,
                f"{workload.title()}Nodes",
                "aws_eks_node_group",
                {
                    "cluster_name": self.cluster.ref("name"),
                    "node_group_name": naming.name(f"{workload}-nodes"),
                    "node_role_arn": self.node_role.role_arn,
                    "subnet_ids": props.network.private_subnet_ids,
                    "instance_types": list(props.instance_types),
                    "scaling_config": [
                        {
                            "min_size": props.min_nodes,
                            "desired_size": max(props.min_nodes, 1),
                            "max_size": props.max_nodes,
                        }
                    ],
                    "update_config": [{"max_unavailable": 1}],
                    "labels": {"tenantml.io/workload": workload},
                },
            )
        self.oidc = Resource(
            self,
            "Oidc",
            "aws_iam_openid_connect_provider",
            {"url": self.cluster.ref("identity[0].oidc[0].issuer"), "client_id_list": ["sts.amazonaws.com"]},
        )

    @property
    def cluster_arn(self) -> str:
        return self.cluster.arn_ref

    @property
    def oidc_provider_arn(self) -> str:
        return self.oidc.arn_ref


@dataclass(frozen=True, kw_only=True)
class Ec2FleetProps(ComputeProps):
    instance_role: ServiceRole
    #: provider default_tags do not reach instances an auto scaling group launches
    instance_tags: Mapping[str, str] = field(default_factory=dict)
    volume_size_gb: int = 50

    def __post_init__(self) -> None:
        problems = self.problems()
        if not 8 <= self.volume_size_gb <= 16384:
            problems.append(Problem("volume_size_gb", "must be 8 to 16384", self.volume_size_gb))
        if problems:
            raise ConstructPropsError(problems)


class Ec2Fleet(TenantConstruct):
    """A launch template (IMDSv2 only, encrypted disks, no inbound access) and an auto scaling
    group in private subnets, running as the tenant's pipeline role through an instance profile."""

    def __init__(self, scope: Construct, construct_id: str, props: Ec2FleetProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        profile = Resource(
            self,
            "InstanceProfile",
            "aws_iam_instance_profile",
            {"name": naming.name("instance", "role"), "role": props.instance_role.role_name_ref},
        )
        group = Resource(
            self,
            "SecurityGroup",
            "aws_security_group",
            {
                "name": naming.name("instances"),
                "description": "tenantml instances: no inbound access",
                "vpc_id": props.network.vpc_id,
            },
        )
        Resource(
            self,
            "HttpsOut",
            "aws_vpc_security_group_egress_rule",
            {
                "security_group_id": group.id_ref,
                "description": "HTTPS to AWS APIs and package registries",
                "ip_protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_ipv4": "0.0.0.0/0",
            },
        )
        self.template_name = naming.name("instances")
        self.template = Resource(
            self,
            PRIMARY_ID,
            "aws_launch_template",
            {
                "name": self.template_name,
                "description": "tenantml training and serving instances",
                "image_id": AL2023_AMI,
                "instance_type": props.instance_types[0],
                "update_default_version": True,
                "iam_instance_profile": [{"arn": profile.arn_ref}],
                "vpc_security_group_ids": [group.id_ref],
                "metadata_options": [
                    {
                        "http_endpoint": "enabled",
                        "http_tokens": "required",
                        "http_put_response_hop_limit": 1,
                    }
                ],
                "block_device_mappings": [
                    {
                        "device_name": "/dev/xvda",
                        "ebs": [
                            {
                                "volume_size": props.volume_size_gb,
                                "volume_type": "gp3",
                                "encrypted": "true",
                                "kms_key_id": props.key.key_arn,
                                "delete_on_termination": "true",
                            }
                        ],
                    }
                ],
                "monitoring": [{"enabled": True}],
                "tag_specifications": [
                    {"resource_type": kind, "tags": dict(props.instance_tags)}
                    for kind in ("instance", "volume")
                ]
                if props.instance_tags
                else None,
            },
        )
        self.group = Resource(
            self,
            "Group",
            "aws_autoscaling_group",
            {
                "name": naming.name("instances"),
                "min_size": props.min_nodes,
                "max_size": props.max_nodes,
                "desired_capacity": props.min_nodes,
                "vpc_zone_identifier": props.network.private_subnet_ids,
                "launch_template": [{"id": self.template.id_ref, "version": "$Latest"}],
                "health_check_type": "EC2",
                # default_tags never reach a group or its instances: tag blocks, propagated (TM-ASG-001)
                "tag": [
                    {"key": key, "value": value, "propagate_at_launch": True}
                    for key, value in sorted(props.instance_tags.items())
                ]
                or None,
            },
        )

    @property
    def launch_template_id(self) -> str:
        return self.template.id_ref
