"""The Terraform stacks of a tenant: ``<tenant>`` always, and ``<tenant>-kubernetes`` for EKS serving.

The Kubernetes workload has its own stack because the Kubernetes provider can only be configured from a
cluster that already exists: it is applied after the tenant stack and reads the cluster through data sources.
"""

from __future__ import annotations

KUBERNETES_STACK_SUFFIX = "-kubernetes"
BOOTSTRAP_PREFIX = "bootstrap-"


def bootstrap_stack_name(account_id: str) -> str:
    """``bootstrap-<account>``: longer than a tenant name may be, so it never names a tenant's stack."""
    return f"{BOOTSTRAP_PREFIX}{account_id}"


def kubernetes_stack_name(tenant: str) -> str:
    return f"{tenant}{KUBERNETES_STACK_SUFFIX}"


def tenant_of_stack(stack: str) -> str:
    """The tenant a stack belongs to (tenant names may not end in the suffix, so this is unambiguous)."""
    return stack.removesuffix(KUBERNETES_STACK_SUFFIX)
