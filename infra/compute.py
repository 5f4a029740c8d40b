"""Compute for training and serving: an EKS cluster for larger tenants, EC2 for small ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, DataSource, Resource, TenantConstruct
from infra.identity import PolicyStatement, ServiceRole, ServiceRoleProps, policy_document
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


#: EKS access policy every access entry gets: the deploy principal creates the namespace (cluster-scoped)
CLUSTER_ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"


def _access_policy(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


@dataclass(frozen=True, kw_only=True)
class EksClusterProps(ComputeProps):
    kubernetes_version: str
    account_id: str
    #: the tenant boundary, for the administrator role this construct creates
    boundary_arn: str
    #: the tenant's image repository: the only repository of the account the nodes may pull from
    image_repository_arn: str
    #: networks outside the VPC that may reach the API endpoint; empty keeps it private
    endpoint_public_access_cidrs: tuple[str, ...] = ()
    #: the principal that applies the Kubernetes stack; None: whoever applies this stack
    deploy_principal_arn: str | None = None
    #: further administrators (role ARNs) besides the administrator role this construct creates
    admin_principal_arns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = self.problems()
        if "0.0.0.0/0" in self.endpoint_public_access_cidrs:
            problems.append(Problem("endpoint_public_access_cidrs", "must name networks, not the internet"))
        if len(set(self.admin_principal_arns)) != len(self.admin_principal_arns):
            problems.append(
                Problem("admin_principal_arns", "one access entry per principal", self.admin_principal_arns)
            )
        if problems:
            raise ConstructPropsError(problems)


class EksCluster(TenantConstruct):
    """A private EKS cluster (all control-plane logs, secrets encrypted, standard support only) with
    managed node groups for training and serving, an OIDC provider for IRSA, and EKS access entries:
    the deploy principal and the administrators are cluster admins, nobody else gets in.

    Every role has a permission boundary: the control plane's is its one AWS managed policy, the
    nodes' lists exactly what the node policies allow plus pulling from the tenant's repository.
    """

    def __init__(self, scope: Construct, construct_id: str, props: EksClusterProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        self.cluster_name = naming.name("eks", "cluster")
        cluster_policy = _aws_managed(props.partition, "AmazonEKSClusterPolicy")
        cluster_role = ServiceRole(
            self,
            "ClusterRole",
            ServiceRoleProps(
                naming=naming,
                component="eks-cluster",
                description="EKS control plane",
                assumed_by=("eks.amazonaws.com",),
                # the boundary is the role's one policy: anything attached later is capped by it
                boundary_arn=cluster_policy,
                managed_policy_arns=(cluster_policy,),
            ),
        )
        node_boundary = self._node_boundary(props)
        self.node_role = ServiceRole(
            self,
            "NodeRole",
            ServiceRoleProps(
                naming=naming,
                component="eks-nodes",
                description="EKS worker nodes",
                assumed_by=("ec2.amazonaws.com",),
                boundary_arn=node_boundary.arn_ref,
                managed_policy_arns=tuple(
                    _aws_managed(props.partition, p)
                    for p in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy")
                ),
            ),
        )
        # not AmazonEC2ContainerRegistryReadOnly: that reads every repository of the account
        self.node_role.grant("PullImages", actions.ECR_PULL, [props.image_repository_arn])
        self.node_role.grant(
            "PullAddOnImages",
            actions.ECR_PULL,
            ["*"],
            StringNotEquals={"aws:ResourceAccount": props.account_id},
        )
        self.node_role.grant("ImageLogin", actions.ECR_AUTH, ["*"])
        props.key.grant_decrypt(self.node_role)
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
        public = bool(props.endpoint_public_access_cidrs)
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
                        "endpoint_public_access": public,
                        "public_access_cidrs": list(props.endpoint_public_access_cidrs) if public else None,
                    }
                ],
                "enabled_cluster_log_types": list(EKS_LOG_TYPES),
                "encryption_config": [
                    {"resources": ["secrets"], "provider": [{"key_arn": props.key.key_arn}]}
                ],
                # access entries only, and none made implicitly for the creator: an implicit entry for
                # the deploy principal would clash with its explicit one below
                "access_config": [
                    {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False}
                ],
                # upgraded at the end of standard support rather than billed for extended support
                "upgrade_policy": [{"support_type": "STANDARD"}],
            },
            # the control plane cannot be created, nor deleted cleanly, without its role's policy
            depends_on=[log_group, *cluster_role.attachments],
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
                # nodes that start before their role's policies exist never join the cluster
                depends_on=self.node_role.attachments,
            )
        self.oidc = Resource(
            self,
            "Oidc",
            "aws_iam_openid_connect_provider",
            {"url": self.cluster.ref("identity[0].oidc[0].issuer"), "client_id_list": ["sts.amazonaws.com"]},
        )
        self.admin_role = ServiceRole(
            self,
            "AdminRole",
            ServiceRoleProps(
                naming=naming,
                component="eks-admin",
                description=f"Administrators of the EKS cluster of {naming.tenant}",
                trusted_accounts=(f"arn:{props.partition}:iam::{props.account_id}:root",),
                boundary_arn=props.boundary_arn,
            ),
        )
        self.admin_role.grant("DescribeCluster", actions.EKS_DESCRIBE, [self.cluster.arn_ref])
        deploy_arn = props.deploy_principal_arn
        if deploy_arn is None:
            caller = DataSource(self, "Caller", "aws_caller_identity")
            # the role behind the session that applies this stack (not the session's own ARN)
            deploy_arn = DataSource(
                self, "DeployPrincipal", "aws_iam_session_context", {"arn": caller.ref("arn")}
            ).ref("issuer_arn")
        principals = {"Deploy": deploy_arn, "Admin": self.admin_role.role_arn}
        principals |= {f"Admin{i}": arn for i, arn in enumerate(props.admin_principal_arns, start=1)}
        self.access_entries: dict[str, Resource] = {}
        for access_id, principal in principals.items():
            entry = Resource(
                self,
                f"{access_id}Access",
                "aws_eks_access_entry",
                {"cluster_name": self.cluster.ref("name"), "principal_arn": principal, "type": "STANDARD"},
            )
            Resource(
                self,
                f"{access_id}AccessPolicy",
                "aws_eks_access_policy_association",
                {
                    "cluster_name": self.cluster.ref("name"),
                    "principal_arn": entry.ref("principal_arn"),
                    "policy_arn": _access_policy(props.partition, CLUSTER_ADMIN_ACCESS_POLICY),
                    "access_scope": [{"type": "cluster"}],
                },
            )
            self.access_entries[access_id] = entry

    def _node_boundary(self, props: EksClusterProps) -> Resource:
        statements = [
            PolicyStatement(sid="WorkerNode", actions=actions.EKS_WORKER_NODE, resources=("*",)),
            PolicyStatement(sid="Cni", actions=actions.EKS_CNI, resources=("*",)),
            PolicyStatement(
                sid="CniTags",
                actions=actions.EKS_CNI_TAG,
                resources=(f"arn:{props.partition}:ec2:*:*:network-interface/*",),
            ),
            PolicyStatement(
                sid="PullImages", actions=actions.ECR_PULL, resources=(props.image_repository_arn,)
            ),
            PolicyStatement(
                sid="PullAddOnImages",
                actions=actions.ECR_PULL,
                resources=("*",),
                conditions={"StringNotEquals": {"aws:ResourceAccount": props.account_id}},
            ),
            PolicyStatement(sid="ImageLogin", actions=actions.ECR_AUTH, resources=("*",)),
            PolicyStatement(sid="TenantKey", actions=actions.KMS_DECRYPT, resources=(props.key.key_arn,)),
        ]
        return Resource(
            self,
            "NodeBoundary",
            "aws_iam_policy",
            {
                "name": props.naming.name("eks-nodes-boundary", "role"),
                "description": f"Permission boundary of the EKS nodes of tenant {props.naming.tenant}",
                "policy": policy_document(statements),
            },
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
