"""Monitor: consumes inference-log batches from Kinesis."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from pipelines.inference_log import decode_kinesis_batch

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = decode_kinesis_batch(event.get("Records", []))
    logger.info("inference log batch", extra={"records": len(batch.records), "malformed": len(batch.failures)})
    # partial batch response: Lambda retries only the records named here
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in batch.failures]}
