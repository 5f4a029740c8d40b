"""Inference log records as they travel on the tenant's Kinesis stream."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError


class InferenceRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    model_version: str
    features: dict[str, float | int | str | None]
    prediction: float | int | str
    latency_ms: float
    error: bool = False
    timestamp: float


@dataclass
class DecodedBatch:
    records: list[InferenceRecord] = field(default_factory=list)
    #: sequence numbers of records that could not be decoded (reported as partial failures)
    failures: list[str] = field(default_factory=list)


def decode_kinesis_batch(raw_records: Iterable[Mapping[str, Any]]) -> DecodedBatch:
    batch = DecodedBatch()
    for raw in raw_records:
        kinesis = raw.get("kinesis", {})
        try:
            payload = orjson.loads(base64.b64decode(kinesis["data"], validate=True))
            batch.records.append(InferenceRecord.model_validate(payload))
        except (KeyError, binascii.Error, orjson.JSONDecodeError, ValidationError):
            batch.failures.append(str(kinesis.get("sequenceNumber", raw.get("eventID", "unknown"))))
    return batch
