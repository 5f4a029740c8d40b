"""Views, rows and helpers shared by the offline feature store tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.feature_layout import OFFLINE_PREFIX
from core.feature_spec import FeatureViewSpec
from pipelines.features.ingest import IngestResult, ingest_landed

REGION = "eu-west-1"
BUCKET = "acme-dev-data"
NOW = datetime(2024, 6, 1, tzinfo=UTC)

#: one entity, a corrected-row column, a one-day TTL
CUSTOMER = FeatureViewSpec(
    name="customer",
    entities=[{"name": "customer_id"}],
    features=[
        {"name": "spend", "type": "float64"},
        {"name": "orders", "type": "int64"},
        {"name": "vip", "type": "bool"},
        {"name": "segment", "type": "string"},
    ],
    created_timestamp="created_at",
    ttl_hours=24,
)
#: an int64 entity, its own timestamp column name, no created time, a two-hour TTL
MERCHANT = FeatureViewSpec(
    name="merchant",
    entities=[{"name": "merchant_id", "type": "int64"}],
    features=[{"name": "risk", "type": "float64"}],
    timestamp="observed_at",
    ttl_hours=2,
)


def at(text: str) -> datetime:
    """``"2024-05-01T10:00"`` -> that time in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parquet_bytes(rows: dict[str, list[Any]], schema: pa.Schema | None = None) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows, schema=schema), buffer)
    return buffer.getvalue()


def customer_rows(rows: list[tuple[str, float, datetime, datetime]]) -> dict[str, list[Any]]:
    """(customer_id, spend, event time, created time) -> the view's columns (other features derived)."""
    return {
        "customer_id": [r[0] for r in rows],
        "spend": [r[1] for r in rows],
        "orders": [int(r[1]) for r in rows],
        "vip": [r[1] > 100 for r in rows],
        "segment": [f"s{int(r[1])}" for r in rows],
        "event_timestamp": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
        "created_at": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
    }


def land(s3: Any, key: str, body: bytes | str, view: FeatureViewSpec, *, now: datetime = NOW) -> IngestResult:
    """Put ``body`` at ``features/<view>/<key>`` and ingest it."""
    landed = f"features/{view.name}/{key}"
    s3.put_object(Bucket=BUCKET, Key=landed, Body=body.encode() if isinstance(body, str) else body)
    return ingest_landed(s3, BUCKET, landed, view, now=now)


def offline_keys(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=OFFLINE_PREFIX)
    return sorted(item["Key"] for item in listed.get("Contents", []))
