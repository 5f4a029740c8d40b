"""Kubernetes resources (EKS serving): planned and recorded, never applied locally.

moto's EKS keeps a cluster's control-plane record but runs no Kubernetes API server, so there
is nothing to send a Deployment or a Service to. The emulator checks their references like any
other resource, records each one in the state with the reason it was skipped, and shows it in
plans as skipped; a re-apply of an unchanged stack is then a no-op, and destroy forgets them.
"""

from __future__ import annotations

from tenantml.emulator.resources.base import Attributes, Config, Handler, HandlerContext

NO_CLUSTER = "no Kubernetes cluster in the emulator"

TYPES = (
    "kubernetes_namespace_v1",
    "kubernetes_service_account_v1",
    "kubernetes_deployment_v1",
    "kubernetes_service_v1",
    "kubernetes_horizontal_pod_autoscaler_v2",
    "kubernetes_pod_disruption_budget_v1",
)


def _metadata(config: Config) -> dict:
    metadata = config.get("metadata") or [{}]
    return dict(metadata[0] if isinstance(metadata, list) else metadata)


def record(ctx: HandlerContext, config: Config) -> Attributes:
    metadata = _metadata(config)
    name = metadata.get("name", "")
    namespace = metadata.get("namespace")
    # the provider's id is <namespace>/<name> for namespaced objects, <name> otherwise
    return {
        "id": f"{namespace}/{name}" if namespace else name,
        "metadata": [{**metadata, "uid": "", "resource_version": "", "generation": 0}],
        "skipped": NO_CLUSTER,
    }


def update(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    return record(ctx, new)


def forget(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    """Nothing was created, so nothing is deleted."""


HANDLERS = [
    Handler(
        resource_type,
        create=record,
        update=update,
        delete=forget,
        exports=frozenset({"metadata", "skipped"}),
        skip_reason=NO_CLUSTER,
    )
    for resource_type in TYPES
]

__all__ = ["HANDLERS", "NO_CLUSTER", "TYPES"]
