"""Names the stacks and the pipelines must agree on, kept apart from both.

Stacks define alarms on these metrics; the monitor Lambda and the model server publish them.
This module imports nothing, so Lambda bundles can ship it without the CDK.
"""

from __future__ import annotations

#: CloudWatch namespace of every custom metric the platform writes (drift, latency, errors)
METRICS_NAMESPACE = "TenantML"
#: the artifacts bucket's folder of monitoring snapshots, written by the monitor and read by the
#: alarm Lambda (which must not import ``pipelines.monitoring.monitor``: scipy and pandas before its alert)
MONITORING_PREFIX = "monitoring"
