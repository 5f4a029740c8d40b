"""Monitor: turns inference-log batches from Kinesis into drift and health metrics."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from pipelines.monitoring.monitor import MonitorClients, MonitorSettings, monitor_batch

logger = Logger()

_clients: MonitorClients | None = None


def _get_clients(settings: MonitorSettings) -> MonitorClients:
    """Created on first use (never at import), then reused by warm invocations."""
    global _clients
    if _clients is None:
        _clients = MonitorClients.create(settings, region=os.environ.get("AWS_REGION"))
    return _clients


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = MonitorSettings.from_env(os.environ)
    result = monitor_batch(event.get("Records", []), settings, _get_clients(settings))
    logger.info(
        "inference log batch",
        extra={
            "received": result.received,
            "processed": result.processed,
            "malformed": result.malformed,
            "duplicates": result.duplicates,
            "unmonitored": result.unmonitored,
            "failed": len(result.failures),
            "drift_scores": {v: m.drift_score for v, m in result.metrics.items()},
        },
    )
    # partial batch response: Lambda retries only the records named here
    return {"batchItemFailures": result.batch_item_failures()}
