"""``TenantKubernetesStack``: an EKS tenant's serving workload, in its own stack (``<tenant>-kubernetes``).

The Kubernetes provider needs the cluster's endpoint and CA bundle when it is configured, so a cluster
created in the same apply cannot configure it. This stack is applied after the tenant stack and reads
everything it needs from AWS through data sources: the cluster, a token for it, the serving pods' IRSA
role and the image repository. Its state is separate from the tenant's (key ``<tenant>-kubernetes``).

Reaching the API: the cluster endpoint is private unless the spec lists
``compute.endpoint_public_access_cidrs``; whoever applies this stack runs inside the tenant VPC (a
self-hosted CI runner) or from one of those networks, as the deploy principal (an EKS access entry).
"""

from __future__ import annotations

from core.naming import Naming
from core.platform import PlatformSpec, state_bucket_name, state_key, state_key_alias, tenant_account
from core.spec import TenantSpec
from core.stack_names import kubernetes_stack_name
from infra.cdk import Construct
from infra.core import DataSource, TenantConstruct, TenantStack
from infra.kubernetes import (
    WORKLOAD_LABEL,
    EksServing,
    EksServingProps,
    KubernetesProvider,
    eks_cluster_auth,
    existing_cluster,
)
from infra.serving import FollowProps
from infra.state import StateBackendProps, configure_state_backend
from stacks.tenant_platform import AwsProvider


def needs_kubernetes_stack(spec: TenantSpec) -> bool:
    return spec.compute.kind == "eks" and spec.serving.platform == "eks"


class TenantKubernetesStack(TenantStack):
    def __init__(self, scope: Construct, spec: TenantSpec, *, platform: PlatformSpec | None = None) -> None:
        name = kubernetes_stack_name(spec.name)
        super().__init__(scope, name)
        platform = platform or PlatformSpec()
        naming = Naming(
            tenant=spec.name,
            environment=spec.environment.value,
            region=spec.region,
            account_id=spec.account_id,
        )
        AwsProvider(self, spec)
        state_account = tenant_account(spec, platform)
        configure_state_backend(
            self,
            StateBackendProps(
                tenant=name,
                enabled=spec.state.enabled,
                # the tenant's bucket, under a key of its own: the workload stack is applied after the cluster
                bucket=state_bucket_name(state_account, platform.state.region) if state_account else None,
                key=state_key(platform.state.key_prefix, name),
                region=platform.state.region,
                kms_key_alias=state_key_alias(state_account) if state_account else None,
            ),
        )
        found = TenantConstruct(self, "Existing")
        cluster = existing_cluster(found, naming.name("eks", "cluster"))
        auth = eks_cluster_auth(found, cluster.ref("name"))
        KubernetesProvider(
            self,
            host=cluster.ref("endpoint"),
            ca_certificate_base64=cluster.ref("certificate_authority[0].data"),
            token=auth.ref("token"),
        )
        role = DataSource(found, "ServingRole", "aws_iam_role", {"name": naming.name("serving-pods", "role")})
        images = DataSource(found, "Images", "aws_ecr_repository", {"name": naming.name("images")})
        EksServing(
            self,
            "Serving",
            EksServingProps(
                naming=naming,
                model_name=spec.model.name,
                image_uri=f"{images.ref('repository_url')}:{spec.image_tag}",
                model_package_group=naming.name(spec.model.name, "model_package_group"),
                serving_format=spec.model.serving_format,
                stream_name=naming.name("inference", "stream"),
                role_arn=role.ref("arn"),
                min_replicas=spec.serving.min_replicas,
                max_replicas=spec.serving.max_replicas,
                target_cpu_percent=spec.serving.target_cpu_percent,
                workers=spec.serving.workers,
                node_selector={WORKLOAD_LABEL: "serving"},
                features_table=naming.name("features") if spec.features.views else None,
                follow=FollowProps.from_spec(spec),
            ),
        )
