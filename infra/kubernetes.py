"""Serving on EKS: the Kubernetes provider bound to the tenant cluster, and the serving workload.

The IRSA role of the serving pods (:func:`serving_pods_role`) lives in the tenant stack beside the
cluster, where the grants are made; the workload lives in the tenant's Kubernetes stack, applied after
the cluster exists, and gets the role's ARN. The workload is a namespace per tenant, a service account
bound to that role (the role trusts the cluster's OIDC provider for exactly that service account), a Deployment of the
serving image (the SageMaker inference contract: ``GET /ping``, ``POST /invocations``, port 8080),
a ClusterIP Service on port 80, a CPU HorizontalPodAutoscaler and a PodDisruptionBudget.
Resources are written generically like every other (``infra.core``); their arguments are checked
against ``infra/provider_schema/kubernetes.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra.cdk import Construct, TerraformProvider, TerraformProviderGeneratorMetadata
from infra.core import DataSource, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole, ServiceRoleProps
from infra.serving import (
    CONTAINER_PORT,
    FEATURES_TABLE_ENV,
    SERVING_CONFIG_ENV,
    FollowProps,
    follow_problems,
    serving_config,
)

KUBERNETES_PROVIDER_SOURCE = "hashicorp/kubernetes"
#: what a following pod's liveness probe asks: its router's state, 200 while the process serves
LIVENESS_PATH = "/follow"
#: at least the provider release the committed schema (infra/provider_schema/kubernetes.json) comes from
KUBERNETES_PROVIDER_VERSION = "~> 3.4"
SERVICE_PORT = 80
#: the node label the EKS construct puts on its serving node group
WORKLOAD_LABEL = "tenantml.io/workload"
#: an unprivileged uid/gid; the image runs nothing that needs root
RUN_AS = 10001
STS_AUDIENCE = "sts.amazonaws.com"


class KubernetesProvider(TerraformProvider):
    """The ``kubernetes`` provider, authenticated to the tenant's EKS cluster with a short-lived token
    from ``data.aws_eks_cluster_auth`` (no kubeconfig on the machine that applies)."""

    def __init__(self, scope: Construct, *, host: str, ca_certificate_base64: str, token: str) -> None:
        super().__init__(
            scope,
            "kubernetes",
            terraform_resource_type="kubernetes",
            terraform_provider_source=KUBERNETES_PROVIDER_SOURCE,
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                provider_name="kubernetes", provider_version_constraint=KUBERNETES_PROVIDER_VERSION
            ),
        )
        self._attributes: dict[str, Any] = {
            "host": host,
            # EKS hands out the CA bundle base64-encoded; the provider wants PEM
            "cluster_ca_certificate": f"${{base64decode({ca_certificate_base64.removeprefix('${').removesuffix('}')})}}",
            "token": token,
        }

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self._attributes


@dataclass(frozen=True)
class ServingNames:
    """The Kubernetes names of a tenant's serving workload, known before anything exists."""

    namespace: str
    service_account: str
    app_name: str

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def service_host(self) -> str:
        return f"{self.app_name}.{self.namespace}.svc.cluster.local"


def serving_names(naming: Naming, model_name: str) -> ServingNames:
    return ServingNames(naming.prefix, naming.name("serving"), naming.name(model_name))


def serving_pods_role(
    scope: Scope,
    construct_id: str,
    *,
    naming: Naming,
    names: ServingNames,
    oidc_provider_arn: str,
    oidc_issuer_host: str,
    boundary_arn: str,
) -> ServiceRole:
    """The IRSA role of the serving pods: trusted by the cluster's OIDC provider for one service account.

    ``oidc_issuer_host`` is the issuer without ``https://`` (the IAM condition-key prefix)."""
    holder = TenantConstruct(scope, construct_id)
    return ServiceRole(
        holder,
        "Role",
        ServiceRoleProps(
            naming=naming,
            component="serving-pods",
            description=f"tenantml serving pods of {naming.tenant} (IRSA)",
            boundary_arn=boundary_arn,
            federated={
                oidc_provider_arn: {
                    "StringEquals": {
                        f"{oidc_issuer_host}:sub": names.subject,
                        f"{oidc_issuer_host}:aud": STS_AUDIENCE,
                    }
                }
            },
        ),
    )


@dataclass(frozen=True, kw_only=True)
class EksServingProps:
    naming: Naming
    model_name: str
    image_uri: str
    model_package_group: str
    #: the registry alias the pods serve (the champion, promoted by the pipelines)
    alias: str = "champion"
    serving_format: str = "sklearn"
    stream_name: str
    #: the IRSA role the service account is bound to (made by :func:`serving_pods_role`)
    role_arn: str
    min_replicas: int = 2
    max_replicas: int = 4
    target_cpu_percent: int = 70
    workers: int = 2
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    cpu_limit: str = "2"
    memory_limit: str = "2Gi"
    node_selector: Mapping[str, str] | None = None
    #: the feature store's online table (tenants with feature views): the server looks features up in it
    features_table: str | None = None
    #: the pods follow the alias as it moves (a canary bake per pod); None: each loads it once, at start
    follow: FollowProps | None = None

    def __post_init__(self) -> None:
        problems = follow_problems(self.follow, self.workers)
        if not 1 <= self.min_replicas <= self.max_replicas:
            problems.append(
                Problem(
                    "min_replicas",
                    "must be at least 1 and at most max_replicas",
                    (self.min_replicas, self.max_replicas),
                )
            )
        if not 10 <= self.target_cpu_percent <= 100:
            problems.append(Problem("target_cpu_percent", "must be 10 to 100", self.target_cpu_percent))
        if not 1 <= self.workers <= 32:
            problems.append(Problem("workers", "must be 1 to 32", self.workers))
        if ":" not in self.image_uri.rsplit("/", 1)[-1]:
            problems.append(Problem("image_uri", "must name a tag (<repository>:<tag>)", self.image_uri))
        if problems:
            raise ConstructPropsError(problems)


class EksServing(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: EksServingProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        naming = props.naming
        names = serving_names(naming, props.model_name)
        self.namespace = names.namespace
        self.service_account = names.service_account
        self.app_name = names.app_name
        labels = {
            "app.kubernetes.io/name": self.app_name,
            "app.kubernetes.io/part-of": "tenantml",
            "tenantml.io/tenant": naming.tenant,
        }
        self.namespace_resource = Resource(
            self,
            "Namespace",
            "kubernetes_namespace_v1",
            {"metadata": [{"name": self.namespace, "labels": {"tenantml.io/tenant": naming.tenant}}]},
        )
        namespace_ref = self.namespace_resource.ref("metadata[0].name")
        self.account = Resource(
            self,
            "ServiceAccount",
            "kubernetes_service_account_v1",
            {
                "metadata": [
                    {
                        "name": self.service_account,
                        "namespace": namespace_ref,
                        "annotations": {"eks.amazonaws.com/role-arn": props.role_arn},
                        "labels": labels,
                    }
                ]
            },
        )
        self.deployment = Resource(
            self,
            "Deployment",
            "kubernetes_deployment_v1",
            {
                "metadata": [{"name": self.app_name, "namespace": namespace_ref, "labels": labels}],
                "spec": [
                    {
                        # the autoscaler owns the replica count from here on
                        "replicas": str(props.min_replicas),
                        "selector": [{"match_labels": {"app.kubernetes.io/name": self.app_name}}],
                        "strategy": [
                            {
                                "type": "RollingUpdate",
                                "rolling_update": [{"max_surge": "25%", "max_unavailable": "0"}],
                            }
                        ],
                        "template": [
                            {
                                "metadata": [{"labels": labels}],
                                "spec": [self._pod_spec(props)],
                            }
                        ],
                    }
                ],
                # a new image or champion may not be there yet when the stack is applied (the image is
                # pushed and the champion promoted after the first apply): the pods retry until they
                # are, and the apply does not wait for them
                "wait_for_rollout": False,
                "lifecycle": {"ignore_changes": ["spec[0].replicas"]},
            },
        )
        self.service = Resource(
            self,
            "Service",
            "kubernetes_service_v1",
            {
                "metadata": [{"name": self.app_name, "namespace": namespace_ref, "labels": labels}],
                "spec": [
                    {
                        "type": "ClusterIP",
                        "selector": {"app.kubernetes.io/name": self.app_name},
                        "port": [
                            {"name": "http", "port": SERVICE_PORT, "target_port": "http", "protocol": "TCP"}
                        ],
                    }
                ],
            },
        )
        self.autoscaler = Resource(
            self,
            "Autoscaler",
            "kubernetes_horizontal_pod_autoscaler_v2",
            {
                "metadata": [{"name": self.app_name, "namespace": namespace_ref, "labels": labels}],
                "spec": [
                    {
                        "min_replicas": props.min_replicas,
                        "max_replicas": props.max_replicas,
                        "scale_target_ref": [
                            {
                                "api_version": "apps/v1",
                                "kind": "Deployment",
                                "name": self.deployment.ref("metadata[0].name"),
                            }
                        ],
                        "metric": [
                            {
                                "type": "Resource",
                                "resource": [
                                    {
                                        "name": "cpu",
                                        "target": [
                                            {
                                                "type": "Utilization",
                                                "average_utilization": props.target_cpu_percent,
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
        )
        self.disruption_budget = Resource(
            self,
            "DisruptionBudget",
            "kubernetes_pod_disruption_budget_v1",
            {
                "metadata": [{"name": self.app_name, "namespace": namespace_ref, "labels": labels}],
                "spec": [
                    {
                        # a node drain never takes the last serving pod
                        "max_unavailable": "1" if props.min_replicas > 1 else "0",
                        "selector": [{"match_labels": {"app.kubernetes.io/name": self.app_name}}],
                    }
                ],
            },
        )

    def _pod_spec(self, props: EksServingProps) -> dict[str, Any]:
        naming = props.naming
        config = serving_config(
            serving_format=props.serving_format,
            stream_name=props.stream_name,
            region=naming.region,
            source={
                "kind": "registry",
                "group": props.model_package_group,
                "alias": props.alias,
                "region": naming.region,
            },
            follow=props.follow,
        )
        probe = {"http_get": [{"path": "/ping", "port": "http"}], "period_seconds": 10, "timeout_seconds": 2}
        # a follower's /ping is 503 while it waits for its first champion: alive, only not ready, so
        # liveness asks its router (/follow answers while the process does), not the model
        alive = {**probe, "http_get": [{"path": LIVENESS_PATH if props.follow else "/ping", "port": "http"}]}
        return {
            "service_account_name": self.account.ref("metadata[0].name"),
            "automount_service_account_token": True,
            "node_selector": dict(props.node_selector) if props.node_selector else None,
            "security_context": [
                {
                    "run_as_non_root": True,
                    "run_as_user": str(RUN_AS),
                    "run_as_group": str(RUN_AS),
                    "fs_group": str(RUN_AS),
                    "seccomp_profile": [{"type": "RuntimeDefault"}],
                }
            ],
            "container": [
                {
                    "name": "server",
                    "image": props.image_uri,
                    "args": ["serve", "--port", str(CONTAINER_PORT), "--workers", str(props.workers)],
                    "port": [{"name": "http", "container_port": CONTAINER_PORT, "protocol": "TCP"}],
                    "env": [
                        {"name": SERVING_CONFIG_ENV, "value": config},
                        {"name": "TENANTML_MODEL_PACKAGE_GROUP", "value": props.model_package_group},
                        {"name": "TENANTML_MODEL_ALIAS", "value": props.alias},
                        {"name": "TENANTML_STREAM_NAME", "value": props.stream_name},
                        *(
                            [{"name": FEATURES_TABLE_ENV, "value": props.features_table}]
                            if props.features_table
                            else []
                        ),
                        {"name": "AWS_REGION", "value": naming.region},
                        {"name": "AWS_DEFAULT_REGION", "value": naming.region},
                        # archives are unpacked here; the root filesystem is read-only
                        {"name": "TMPDIR", "value": "/tmp"},
                    ],
                    "readiness_probe": [{**probe, "initial_delay_seconds": 5, "failure_threshold": 3}],
                    "liveness_probe": [{**alive, "initial_delay_seconds": 30, "failure_threshold": 3}],
                    "resources": [
                        {
                            "requests": {"cpu": props.cpu_request, "memory": props.memory_request},
                            "limits": {"cpu": props.cpu_limit, "memory": props.memory_limit},
                        }
                    ],
                    "security_context": [
                        {
                            "allow_privilege_escalation": False,
                            "read_only_root_filesystem": True,
                            "run_as_non_root": True,
                            "capabilities": [{"drop": ["ALL"]}],
                        }
                    ],
                    "volume_mount": [{"name": "tmp", "mount_path": "/tmp"}],
                }
            ],
            "volume": [{"name": "tmp", "empty_dir": [{"size_limit": "1Gi"}]}],
        }


def eks_cluster_auth(scope: TenantConstruct, cluster_name: str) -> DataSource:
    """A short-lived token for the cluster (read at plan time, never stored in state)."""
    return DataSource(scope, "ClusterAuth", "aws_eks_cluster_auth", {"name": cluster_name})


def existing_cluster(scope: TenantConstruct, cluster_name: str) -> DataSource:
    """The tenant's cluster, made by the tenant stack: endpoint, CA bundle and OIDC issuer."""
    return DataSource(scope, "Cluster", "aws_eks_cluster", {"name": cluster_name})
