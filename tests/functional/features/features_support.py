"""What the feature store tests share: a view, rows built as the offline store hands them over,
the online table created as the stack creates it, and a throttling proxy in front of moto."""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pyarrow as pa

from core.feature_layout import WATERMARK_PREFIX
from core.feature_spec import FeatureViewSpec

REGION = "eu-west-1"
TABLE = "tenantml-acme-dev-features"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

VIEW = FeatureViewSpec.model_validate(
    {
        "name": "customer_activity",
        "entities": [{"name": "customer_id", "type": "int64"}],
        "features": [
            {"name": "sessions_7d", "type": "int64", "default": 0},
            {"name": "spend_30d", "type": "float64", "default": 0.0},
            {"name": "segment", "type": "string"},
            {"name": "is_active", "type": "bool"},
        ],
        "ttl_hours": 24,
    }
)

ROW_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("sessions_7d", pa.int64()),
        ("spend_30d", pa.float64()),
        ("segment", pa.string()),
        ("is_active", pa.bool_()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
    ]
)


def create_table(dynamodb: Any, name: str = TABLE) -> str:
    """The online table as the stack declares it: ``pk`` string hash key, on demand."""
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def rows(
    ids: list[int], *, at: datetime = NOW - timedelta(hours=1), sessions: int = 3, **overrides: Any
) -> pa.Table:
    """One row per customer id, all at event time ``at``; ``overrides`` replace whole columns."""
    n = len(ids)
    columns: dict[str, Any] = {
        "customer_id": ids,
        "sessions_7d": [sessions + i for i in range(n)],
        "spend_30d": [10.5 * i + 0.1 for i in range(n)],
        "segment": [f"seg-{i % 3}" for i in range(n)],
        "is_active": [i % 2 == 0 for i in range(n)],
        "event_timestamp": [at] * n,
    }
    columns.update(overrides)
    return pa.table(columns, schema=ROW_SCHEMA)


def scan(dynamodb: Any, table: str = TABLE) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: item["pk"]["S"])
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def entity_items(dynamodb: Any, table: str = TABLE) -> list[dict[str, Any]]:
    """The table's items less the views' watermark items (which writes keep too)."""
    return [item for item in scan(dynamodb, table) if not item["pk"]["S"].startswith(WATERMARK_PREFIX)]


class CallCounter:
    """Counts the API calls a real boto3 client makes (botocore's ``before-parameter-build`` event) and the
    size of each batch."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.batch_sizes: dict[str, list[int]] = {"BatchWriteItem": [], "BatchGetItem": []}
        client.meta.events.register("before-parameter-build.dynamodb", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name in self.batch_sizes:
            requests = params["RequestItems"]
            size = sum(len(v["Keys"]) if isinstance(v, dict) else len(v) for v in requests.values())
            self.batch_sizes[model.name].append(size)


class ThrottlingProxy:
    """An HTTP proxy in front of a moto server that acts as a throttled DynamoDB table does:
    of each BatchWriteItem it forwards only the first ``process`` put requests and answers the
    rest as ``UnprocessedItems``. Everything else passes through untouched."""

    def __init__(self, upstream: str, *, process: int) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.process = process
        self.batch_writes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                target = self.headers.get("x-amz-target", "")
                unprocessed: dict[str, list[Any]] = {}
                if target.endswith(".BatchWriteItem"):
                    proxy.batch_writes += 1
                    request = json.loads(body)
                    kept: dict[str, list[Any]] = {}
                    for table, items in request["RequestItems"].items():
                        kept[table] = items[: proxy.process]
                        if items[proxy.process :]:
                            unprocessed[table] = items[proxy.process :]
                    kept = {t: v for t, v in kept.items() if v}
                    if not kept:
                        self._answer(200, {"UnprocessedItems": unprocessed})
                        return
                    body = json.dumps({**request, "RequestItems": kept}).encode()
                connection = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if unprocessed and response.status == 200:
                    answer = json.loads(data)
                    answer["UnprocessedItems"] = unprocessed
                    self._answer(200, answer)
                    return
                self._raw(response.status, data)

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                self._raw(status, json.dumps(payload).encode())

            def _raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                # botocore checks DynamoDB's body checksum
                self.send_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
