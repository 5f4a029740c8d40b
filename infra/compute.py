"""Compute for serving: an EKS cluster for larger tenants, an EC2 serving fleet for small ones.

Training runs as SageMaker jobs, so no node group or instance waits for it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, DataSource, Resource, Scope, TenantConstruct
from infra.identity import PolicyStatement, ServiceLinkedRole, ServiceRole, ServiceRoleProps, policy_document
from infra.keys import TenantKey
from infra.network import Network
from infra.serving import FEATURES_TABLE_ENV, SERVING_CONFIG_ENV, FollowProps, follow_problems, serving_config

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
#: the latest Amazon Linux 2023 image, resolved by EC2 at launch: no AMI id in the stack
#: what the SSM agent needs for Session Manager (instead of SSH keys and port 22)
SSM_MANAGED_INSTANCE_POLICY = "AmazonSSMManagedInstanceCore"
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
    a managed node group for serving (training runs as SageMaker jobs), an OIDC provider for IRSA, and EKS access entries:
    the deploy principal and the administrators are cluster admins, nobody else gets in.

    Every role has a permission boundary: the control plane's is its one AWS managed policy, the
    nodes' lists exactly what the node policies allow plus pulling from the tenant's repository.
    """

    def __init__(self, scope: Scope, construct_id: str, props: EksClusterProps) -> None:
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
        # serving only: training runs as SageMaker jobs, and a node group nothing runs on idles at full price
        for workload in ("serving",):
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


#: the SageMaker inference contract the serving image follows (``GET /ping``, ``POST /invocations``)
SERVING_PORT = 8080
HEALTH_CHECK_PATH = "/ping"
#: the internal load balancer's listener port
LISTENER_PORT = 80
#: AWS's limit on load balancer and target group names
LB_NAME_LIMIT = 32
#: time for a new instance to install Docker, pull the image and load the champion before the
#: load balancer's health checks count against it
HEALTH_CHECK_GRACE_SECONDS = 300
#: until the tenant's first champion exists the instances' server polls the registry from this
#: interval (doubling up to a minute), answering /ping with 503: out of service, not restarted
CHAMPION_POLL_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class FleetServing:
    """What the fleet's instances serve: the champion of the tenant's registry, from its image."""

    repository_name: str
    #: the tag of the tenant's one image (immutable), which the instances run
    image_tag: str
    model_package_group: str
    stream_name: str
    serving_format: str = "sklearn"
    alias: str = "champion"
    workers: int = 2
    #: the feature store's online table (tenants with feature views): the server looks features up in it
    features_table: str | None = None
    #: the instances follow the alias as it moves (a canary bake per instance); None: each loads it
    #: once, at boot
    follow: FollowProps | None = None


@dataclass(frozen=True, kw_only=True)
class Ec2FleetProps(ComputeProps):
    instance_role: ServiceRole
    #: the tenant's Auto Scaling service-linked role, which the key policy lets use the key
    service_linked_role: ServiceLinkedRole
    serving: FleetServing
    #: provider default_tags do not reach instances an auto scaling group launches
    instance_tags: Mapping[str, str] = field(default_factory=dict)
    volume_size_gb: int = 50

    def __post_init__(self) -> None:
        problems = self.problems()
        if not 8 <= self.volume_size_gb <= 16384:
            problems.append(Problem("volume_size_gb", "must be 8 to 16384", self.volume_size_gb))
        if not 1 <= self.serving.workers <= 32:
            problems.append(Problem("serving.workers", "must be 1 to 32", self.serving.workers))
        problems += follow_problems(self.serving.follow, self.serving.workers, "serving.workers")
        if problems:
            raise ConstructPropsError(problems)


def _registry_host(region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"dkr.ecr.{region}.{suffix}"


def serving_user_data(region: str, serving: FleetServing) -> str:
    """The instance's boot script: run the tenant's serving image on port 8080, restarted by Docker
    if it dies. Before a champion exists the server waits for one (polling the registry alias,
    ``/ping`` 503, so the load balancer keeps the instance out of service); it never exits for it.
    With ``serving.follow`` it then follows the alias as it moves (a canary bake, rollback).

    Plain text with no Terraform references (names only; the account comes from STS on the
    instance), so the stack can base64-encode it itself and a spec value never reaches a template."""
    config = serving_config(
        serving_format=serving.serving_format,
        stream_name=serving.stream_name,
        region=region,
        source={
            "kind": "registry",
            "group": serving.model_package_group,
            "alias": serving.alias,
            "region": region,
        },
        # a follower waits for the first champion itself (follow.poll_seconds)
        alias_poll_seconds=None if serving.follow is not None else CHAMPION_POLL_SECONDS,
        follow=serving.follow,
    )
    image = f'"$registry/{serving.repository_name}:{serving.image_tag}"'
    return "\n".join(
        [
            "#!/bin/bash",
            f"# tenantml: serve the {serving.alias} of {serving.model_package_group} on port {SERVING_PORT}",
            "set -euo pipefail",
            "dnf install -y docker",
            "systemctl enable --now docker",
            f'registry="$(aws sts get-caller-identity --query Account --output text).{_registry_host(region)}"',
            f'aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin "$registry"',
            "install -d -m 0700 /etc/tenantml",
            # --env-file takes each line literally: the JSON needs no shell quoting
            "cat > /etc/tenantml/serving.env <<'ENV'",
            f"{SERVING_CONFIG_ENV}={config}",
            f"AWS_REGION={region}",
            f"AWS_DEFAULT_REGION={region}",
            *([f"{FEATURES_TABLE_ENV}={serving.features_table}"] if serving.features_table else []),
            "ENV",
            (
                f"docker run --detach --name tenantml-serving --restart unless-stopped"
                f" --publish {SERVING_PORT}:{SERVING_PORT} --env-file /etc/tenantml/serving.env"
                f" --read-only --tmpfs /tmp {image}"
                f" serve --port {SERVING_PORT} --workers {serving.workers}"
            ),
            "",
        ]
    )


def _lb_name(naming: Naming, component: str) -> dict[str, str]:
    """A load balancer or target group name (32 characters at most); a longer one becomes a prefix."""
    name = f"{naming.prefix}-{component}"
    return {"name": name} if len(name) <= LB_NAME_LIMIT else {"name_prefix": "tm-"}


class Ec2Fleet(TenantConstruct):
    """The tenant's champion model served from its image by an auto scaling group behind an internal
    Application Load Balancer.

    Instances run in private subnets with a launch template (IMDSv2 only, encrypted disks) whose user
    data starts the serving container; the only inbound traffic is the load balancer's, on port 8080,
    and the group replaces an instance whose ``/ping`` fails (ELB health checks). Access for people is
    SSM Session Manager: no SSH key, no port 22. Without an image tag there is nothing to serve, so
    the group keeps no instance: nothing idles by design.
    """

    def __init__(self, scope: Scope, construct_id: str, props: Ec2FleetProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        serving = props.serving
        # Session Manager instead of SSH: the agent on Amazon Linux 2023 registers with these permissions
        Resource(
            self,
            "SessionManager",
            "aws_iam_role_policy_attachment",
            {
                "role": props.instance_role.role_name_ref,
                "policy_arn": _aws_managed(props.partition, SSM_MANAGED_INSTANCE_POLICY),
            },
        )
        profile = Resource(
            self,
            "InstanceProfile",
            "aws_iam_instance_profile",
            {"name": naming.name("instance", "role"), "role": props.instance_role.role_name_ref},
        )
        balancer_group = Resource(
            self,
            "BalancerSecurityGroup",
            "aws_security_group",
            {
                "name": naming.name("serving-lb"),
                "description": "tenantml serving load balancer: HTTP from inside the VPC",
                "vpc_id": props.network.vpc_id,
            },
        )
        group = Resource(
            self,
            "SecurityGroup",
            "aws_security_group",
            {
                "name": naming.name("instances"),
                "description": "tenantml instances: the serving port from the load balancer only",
                "vpc_id": props.network.vpc_id,
            },
        )
        Resource(
            self,
            "BalancerIn",
            "aws_vpc_security_group_ingress_rule",
            {
                "security_group_id": balancer_group.id_ref,
                "description": "model requests from inside the VPC",
                "ip_protocol": "tcp",
                "from_port": LISTENER_PORT,
                "to_port": LISTENER_PORT,
                "cidr_ipv4": props.network.vpc.ref("cidr_block"),
            },
        )
        Resource(
            self,
            "BalancerToInstances",
            "aws_vpc_security_group_egress_rule",
            {
                "security_group_id": balancer_group.id_ref,
                "description": "requests and health checks to the serving port",
                "ip_protocol": "tcp",
                "from_port": SERVING_PORT,
                "to_port": SERVING_PORT,
                "referenced_security_group_id": group.id_ref,
            },
        )
        Resource(
            self,
            "ServingIn",
            "aws_vpc_security_group_ingress_rule",
            {
                "security_group_id": group.id_ref,
                "description": "requests and health checks from the load balancer",
                "ip_protocol": "tcp",
                "from_port": SERVING_PORT,
                "to_port": SERVING_PORT,
                "referenced_security_group_id": balancer_group.id_ref,
            },
        )
        Resource(
            self,
            "HttpsOut",
            "aws_vpc_security_group_egress_rule",
            {
                "security_group_id": group.id_ref,
                "description": "HTTPS to AWS APIs (ECR, S3, SageMaker, Kinesis, SSM) and package mirrors",
                "ip_protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_ipv4": "0.0.0.0/0",
            },
        )
        self.balancer = Resource(
            self,
            "Balancer",
            "aws_lb",
            {
                **_lb_name(naming, "serving"),
                "internal": True,
                "load_balancer_type": "application",
                "subnets": props.network.private_subnet_ids,
                "security_groups": [balancer_group.id_ref],
                "drop_invalid_header_fields": True,
            },
        )
        self.target_group = Resource(
            self,
            "Targets",
            "aws_lb_target_group",
            {
                **_lb_name(naming, "serving"),
                "port": SERVING_PORT,
                "protocol": "HTTP",
                "target_type": "instance",
                "vpc_id": props.network.vpc_id,
                "deregistration_delay": "30",
                "health_check": [
                    {
                        "enabled": True,
                        "path": HEALTH_CHECK_PATH,
                        "port": "traffic-port",
                        "protocol": "HTTP",
                        "matcher": "200",
                        "interval": 15,
                        "timeout": 5,
                        "healthy_threshold": 2,
                        "unhealthy_threshold": 3,
                    }
                ],
            },
        )
        self.listener = Resource(
            self,
            "Listener",
            "aws_lb_listener",
            {
                "load_balancer_arn": self.balancer.arn_ref,
                "port": LISTENER_PORT,
                "protocol": "HTTP",
                "default_action": [{"type": "forward", "target_group_arn": self.target_group.arn_ref}],
            },
        )
        self.template_name = naming.name("instances")
        self.template = Resource(
            self,
            PRIMARY_ID,
            "aws_launch_template",
            {
                "name": self.template_name,
                "description": "tenantml serving instances",
                "image_id": AL2023_AMI,
                "instance_type": props.instance_types[0],
                "update_default_version": True,
                "iam_instance_profile": [{"arn": profile.arn_ref}],
                "vpc_security_group_ids": [group.id_ref],
                "user_data": base64.b64encode(serving_user_data(naming.region, serving).encode()).decode(),
                "metadata_options": [
                    {
                        "http_endpoint": "enabled",
                        "http_tokens": "required",
                        # 2: the serving container reaches the instance role through IMDSv2 (one more hop)
                        "http_put_response_hop_limit": 2,
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
                "service_linked_role_arn": props.service_linked_role.role_arn,
                "target_group_arns": [self.target_group.arn_ref],
                # EC2 status checks replace a broken instance; /ping decides only whether the load
                # balancer routes to it. With ELB checks the group would replace every instance that
                # waits for the first champion (or serves one that fails to load) after the grace
                # period, a boot loop that can never end better: a new instance waits just the same
                "health_check_type": "EC2",
                "health_check_grace_period": HEALTH_CHECK_GRACE_SECONDS,
                # the first apply has no champion (and maybe no image) yet: do not wait for healthy
                # targets; the instances wait for the pipeline to register one
                "wait_for_capacity_timeout": "0",
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

    @property
    def endpoint_url(self) -> str:
        """The internal load balancer's URL (reachable from inside the VPC)."""
        return f"http://{self.balancer.ref('dns_name')}"
