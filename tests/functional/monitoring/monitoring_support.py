"""Event builders and constants shared by the monitoring functional tests."""

from __future__ import annotations

import base64

import orjson
import pandas as pd

REGION = "eu-west-1"
TENANT = "acme"
MODEL = "cancer"
ARTIFACTS = "acme-dev-artifacts"
GROUP = "acme-dev-cancer"
RUN_ID = "20261125T000000Z-abc123"


def kinesis_event(
    payloads: list[dict | bytes],
    *,
    first_sequence: int = 49_600_000_000_000_000_000,
    shard: str = "shardId-000000000000",
) -> list[dict]:
    """Lambda Kinesis event records; bytes are sent as they are (to make malformed records)."""
    out = []
    for i, payload in enumerate(payloads):
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        sequence = str(first_sequence + i)
        out.append(
            {
                "eventSource": "aws:kinesis",
                "eventID": f"{shard}:{sequence}",
                "awsRegion": REGION,
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "m",
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1.0,
                },
            }
        )
    return out


def inference_payloads(
    frame: pd.DataFrame,
    *,
    version: str = "1",
    timestamp: float,
    latency_ms: float = 20.0,
    error_every: int = 0,
) -> list[dict]:
    features = frame.drop(columns=["target"], errors="ignore").to_dict(orient="records")
    return [
        {
            "request_id": f"req-{i}",
            "model_version": version,
            "features": row,
            "prediction": i % 2,
            "latency_ms": latency_ms + i % 7,
            "error": bool(error_every and i % error_every == 0),
            "timestamp": timestamp + i / 1000,
        }
        for i, row in enumerate(features)
    ]
