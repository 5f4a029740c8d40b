"""Serving a model trained on feature views: requests with only entity keys, features looked up in
the online store (moto's DynamoDB on the emulator's server), a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from model_support import quick_logistic
from wait_support import wait_until

from core.feature_spec import FeatureViewSpec
from pipelines.features.online import OnlineStore
from pipelines.serving.config import FeatureLookupConfig, InferenceLogConfig, ServerConfig
from pipelines.serving.loader import DirectorySource
from pipelines.serving.runner import ThreadedServer
from pipelines.training.train import save_model

REGION = "eu-west-1"
TABLE = "tenantml-acme-dev-features"
ACTIVITY = FeatureViewSpec.model_validate(
    {
        "name": "customer_activity",
        "entities": [{"name": "customer_id", "type": "int64"}],
        "features": [
            {"name": "sessions_7d", "type": "int64", "default": 0},
            {"name": "spend_30d", "type": "float64", "default": 0.0},
            {"name": "is_active", "type": "bool"},  # not a model input: never read into a request
        ],
        "ttl_hours": 24,
    }
)
PROFILE = FeatureViewSpec.model_validate(
    {
        "name": "customer_profile",
        "entities": [{"name": "customer_id", "type": "int64"}],
        "features": [{"name": "segment", "type": "string"}],  # no default: a missing entity is a 404
        "ttl_hours": 24,
    }
)
#: entity id -> (sessions_7d, spend_30d, segment)
CUSTOMERS = {1: (15, 61.5, "gold"), 2: (2, 40.25, "bronze"), 3: (11, 55.0, "silver")}


@pytest.fixture(scope="module")
def view_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logistic regression on sessions_7d, spend_30d (activity view), segment (profile view) and
    amount (request only)."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "sessions_7d": rng.integers(0, 20, n),
            "spend_30d": rng.normal(50, 10, n),
            "segment": rng.choice(["gold", "silver", "bronze"], n),
            "amount": rng.normal(100, 30, n),
        }
    )
    frame["target"] = ((frame.sessions_7d > 10) | (frame.amount > 120)).astype(int)
    trained = quick_logistic(frame)
    return save_model(trained, tmp_path_factory.mktemp("views") / "model")


@pytest.fixture
def dynamodb(aws: str) -> Any:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws)
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    at = datetime.now(UTC) - timedelta(hours=1)
    ids = list(CUSTOMERS)
    store = OnlineStore(client, TABLE)
    store.write(
        ACTIVITY,
        pa.table(
            {
                "customer_id": ids,
                "sessions_7d": [CUSTOMERS[i][0] for i in ids],
                "spend_30d": [CUSTOMERS[i][1] for i in ids],
                "is_active": [True] * len(ids),
                "event_timestamp": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    store.write(
        PROFILE,
        pa.table(
            {
                "customer_id": ids,
                "segment": [CUSTOMERS[i][2] for i in ids],
                "event_timestamp": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    return client


def _config(model_dir: Path, endpoint: str, stream: str | None = None, **lookup: Any) -> ServerConfig:
    return ServerConfig(
        source=DirectorySource(path=model_dir, version="3"),
        inference_log=(
            InferenceLogConfig(stream_name=stream, region=REGION, endpoint_url=endpoint, flush_interval=0.05)
            if stream
            else None
        ),
        features=FeatureLookupConfig(
            table_name=TABLE, views=[ACTIVITY, PROFILE], region=REGION, endpoint_url=endpoint, **lookup
        ),
    )


@pytest.fixture
def serve(
    view_model_dir: Path, aws: str, dynamodb: Any, start_server: Callable[..., ThreadedServer], wait_ready
) -> Callable[..., ThreadedServer]:
    def start(stream: str | None = None, **lookup: Any) -> ThreadedServer:
        server = start_server(_config(view_model_dir, aws, stream, **lookup))
        wait_ready(server)
        return server

    return start


def _post(server: ThreadedServer, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        f"{server.url}/invocations", content=content, headers={"Content-Type": content_type}, timeout=30
    )


def _full(customer: int, amount: float) -> dict[str, Any]:
    sessions, spend, segment = CUSTOMERS[customer]
    return {"sessions_7d": sessions, "spend_30d": spend, "segment": segment, "amount": amount}


def _app_server(server: ThreadedServer) -> Any:
    return server.server.config.app.state.server  # type: ignore[attr-defined]


def test_entity_keys_alone_predict_what_the_full_features_predict(serve) -> None:
    # given
    server = serve()
    full = _post(server, {"instances": [_full(1, 80.0), _full(2, 130.0)]})

    # when: the same rows as keys only, as JSON records, CSV with a header and headerless rows
    records = _post(
        server, {"instances": [{"customer_id": 1, "amount": 80.0}, {"customer_id": "2", "amount": 130.0}]}
    )
    csv_header = _post(server, b"customer_id,amount\n1,80.0\n2,130.0\n", "text/csv")
    csv_rows = _post(server, b"1,80.0\n2,130.0\n", "text/csv")
    json_rows = _post(server, [[1, 80.0], [2, 130.0]])

    # then
    assert full.status_code == 200, full.text
    for response in (records, csv_header, csv_rows, json_rows):
        assert response.status_code == 200, response.text
        assert response.json() == full.json()


def test_features_in_the_request_win_over_looked_up_ones(serve) -> None:
    server = serve()
    override = {**_full(1, 80.0), "sessions_7d": 0}

    expected = _post(server, {"instances": [override]})
    got = _post(server, {"instances": [{"customer_id": 1, "amount": 80.0, "sessions_7d": 0}]})

    assert got.status_code == 200, got.text
    assert got.json() == expected.json()
    assert got.json() != _post(server, {"instances": [_full(1, 80.0)]}).json()


def test_an_unknown_entity_gets_the_declared_defaults_or_a_404_naming_entity_and_view(serve) -> None:
    server = serve()

    # when: entity 99 has no row in either view; the request carries the profile's segment itself
    defaulted = _post(server, {"instances": [{"customer_id": 99, "amount": 80.0, "segment": "gold"}]})
    expected = _post(
        server, {"instances": [{"sessions_7d": 0, "spend_30d": 0.0, "segment": "gold", "amount": 80.0}]}
    )
    # and when it does not, the profile view has no default
    missing = _post(
        server, {"instances": [{"customer_id": 1, "amount": 1.0}, {"customer_id": 99, "amount": 80.0}]}
    )

    # then
    assert defaulted.status_code == 200, defaulted.text
    assert defaulted.json() == expected.json()
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "feature_not_found",
        "message": "record 2: no live features for customer_id=99 in view 'customer_profile' "
        "(not materialized, or past its TTL); the view declares no default for segment",
    }


def test_bad_keys_are_400s_naming_the_entity_and_a_missing_table_is_503(
    serve, view_model_dir: Path, aws: str, start_server, wait_ready
) -> None:
    server = serve()

    not_int = _post(server, {"instances": [{"customer_id": "abc", "amount": 1.0}]})
    no_key = _post(server, {"instances": [{"amount": 1.0}]})
    unknown = _post(server, {"instances": [{"customer_id": 1, "amount": 1.0, "colour": "red"}]})

    assert not_int.status_code == 400
    assert (
        "view 'customer_activity', entity 'customer_id': must be an integer (got 'abc')"
        in not_int.json()["message"]
    )
    assert no_key.status_code == 400 and "entity 'customer_id': is missing" in no_key.json()["message"]
    assert unknown.status_code == 400 and "unknown field(s) 'colour'" in unknown.json()["message"]

    # given: a server pointed at a table that does not exist
    config = _config(view_model_dir, aws).model_copy(
        update={"features": _config(view_model_dir, aws).features.model_copy(update={"table_name": "gone"})}  # type: ignore[union-attr]
    )
    broken = start_server(config)
    wait_ready(broken)
    unavailable = _post(broken, {"instances": [{"customer_id": 1, "amount": 1.0}]})
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "feature_store_unavailable"
    assert "'gone' does not exist" in unavailable.json()["message"]


def test_the_inference_log_holds_the_looked_up_values_the_model_saw(serve, stream: str, read_records) -> None:
    server = serve(stream=stream)

    response = _post(server, {"instances": [{"customer_id": 3, "amount": 42.0}]})
    assert response.status_code == 200, response.text
    _app_server(server).inference_logger.flush()

    records = wait_until(lambda: read_records(stream), message="no inference record arrived")
    assert records[0].rows() == [
        {"sessions_7d": 11.0, "spend_30d": 55.0, "amount": 42.0, "segment": "silver"}
    ]


def test_a_cached_entity_is_served_without_reading_dynamodb_until_the_cache_entry_expires(
    serve, dynamodb: Any
) -> None:
    # given: a server with a 1 s cache, counting the BatchGetItem calls of its own client
    server = serve(cache_ttl_seconds=1.0)
    reads: list[int] = []
    store = _app_server(server).lookup.store
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem", lambda **kwargs: reads.append(1)
    )
    first = _post(server, {"instances": [{"customer_id": 1, "amount": 80.0}]})

    # when: the entity's items are deleted from the table, and it is asked for again at once
    for view in ("customer_activity", "customer_profile"):
        dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": f"{view}#customer_id=1"}})
    cached = _post(server, {"instances": [{"customer_id": 1, "amount": 80.0}]})

    # then: the second answer came from the cache (one read for both views of the first request)
    assert first.status_code == cached.status_code == 200
    assert cached.json() == first.json()
    assert len(reads) == 1

    # and once the entry expires, the table is read again and the entity is gone
    time.sleep(1.1)
    expired = _post(server, {"instances": [{"customer_id": 1, "amount": 80.0}]})
    assert expired.status_code == 404 and len(reads) == 2
    assert _app_server(server).lookup.snapshot()["cache_hits"] == 2


def test_a_request_with_every_feature_is_answered_as_without_feature_views(
    serve, view_model_dir: Path, start_server, wait_ready
) -> None:
    with_views = serve()
    plain = start_server(ServerConfig(source=DirectorySource(path=view_model_dir, version="3")))
    wait_ready(plain)
    bodies = [
        ({"instances": [_full(1, 80.0)]}, "application/json"),
        (b"15,61.5,gold,80.0\n", "text/csv"),
        (b"sessions_7d,spend_30d,segment,amount\n15,61.5,gold,80.0\n", "text/csv"),
        ({"instances": [{"spend_30d": 2.0, "segment": "gold", "amount": 1.0}]}, "application/json"),
        ({"instances": [{"sessions_7d": 1, "spend_30d": 2.0, "segment": "gold"}]}, "application/json"),
    ]

    for body, content_type in bodies[:3]:
        a, b = _post(with_views, body, content_type), _post(plain, body, content_type)
        assert (a.status_code, a.json()) == (b.status_code, b.json()) and a.status_code == 200
    # a record missing a feature, without a key, is still refused (it names the missing key)
    missing = _post(with_views, *bodies[3])
    assert missing.status_code == 400 and "entity 'customer_id': is missing" in missing.json()["message"]
    # and one missing a feature no view provides is refused as it is without views
    no_amount = _post(with_views, *bodies[4])
    assert no_amount.status_code == 400 and "missing field(s) 'amount'" in no_amount.json()["message"]
    assert _app_server(with_views).lookup.snapshot().get("store_reads", 0) == 0


def test_one_request_for_150_entities_reads_in_batches_of_100(serve, dynamodb: Any) -> None:
    server = serve()
    sizes: list[int] = []
    _app_server(server).lookup.store.client.meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem",
        lambda params, **kwargs: sizes.append(sum(len(v["Keys"]) for v in params["RequestItems"].values())),
    )

    response = _post(
        server,
        {"instances": [{"customer_id": 1000 + i, "amount": 1.0, "segment": "gold"} for i in range(150)]},
    )

    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 150
    assert sizes == [100, 50]
