"""Names the stacks and the pipelines must agree on, kept apart from both.

Stacks define alarms on these metrics; the monitor Lambda and the model server publish them.
This module imports nothing, so Lambda bundles can ship it without the CDK.
"""

from __future__ import annotations

#: root of the CloudWatch namespaces of every custom metric the platform writes (drift, latency, errors)
METRICS_NAMESPACE = "TenantML"


def metrics_namespace(tenant: str) -> str:
    """The tenant's own CloudWatch namespace, ``TenantML/<tenant>``: every publisher and alarm uses it.

    ``cloudwatch:PutMetricData`` has no resource-level permissions and IAM offers a condition key on
    the namespace but none on dimension values, so a shared namespace with a ``Tenant`` dimension
    would let one tenant publish into another's alarm metrics; one namespace per tenant is what the
    tenant's roles can be held to (``cloudwatch:namespace`` condition)."""
    return f"{METRICS_NAMESPACE}/{tenant}"


def is_platform_namespace(namespace: str) -> bool:
    """A namespace the platform's own publishers write (any tenant's)."""
    return namespace == METRICS_NAMESPACE or namespace.startswith(f"{METRICS_NAMESPACE}/")


#: the artifacts bucket's folder of monitoring snapshots, written by the monitor and read by the
#: alarm Lambda (which must not import ``pipelines.monitoring.monitor``: scipy and pandas before its alert)
MONITORING_PREFIX = "monitoring"


#: the data bucket's folder where ground-truth labels for logged requests are delivered (CSV or
#: Parquet, ``request_id`` + the model's target column; docs/monitoring.md#labels)
LABELS_PREFIX = "labels/"

#: the data bucket's folder for batch inference (``tenantml predict``, a batch transform job): the serving
#: role reads its input and writes its predictions there, and nowhere else in the data bucket
BATCH_PREFIX = "batch/"


#: the tenant's primary metric measured on labelled live traffic, and the labelled rows it was measured on;
#: dimensions Tenant, Model and Metric (the primary metric's name, so values of a metric the spec no
#: longer names never mix into the alarm), and the same with ModelVersion
LIVE_QUALITY_METRIC = "LiveQuality"
LABELLED_ROWS_METRIC = "LabelledRows"


def live_quality_dimensions(tenant: str, model: str, metric: str) -> dict[str, str]:
    """The dimensions the live-quality alarm reads and the monitor publishes (besides ModelVersion)."""
    return {"Tenant": tenant, "Model": model, "Metric": metric}
