"""BatchWriteItem's UnprocessedItems: moto never throttles, so a proxy in front of the emulator's
moto server answers as a throttled table does (part of each batch processed, the rest handed back
as UnprocessedItems); the client, the wire protocol and the table are real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_aws_credentials
from features_support import NOW, REGION, TABLE, VIEW, ThrottlingProxy, create_table, entity_items, rows

from core.errors import FeatureStoreError
from pipelines.features.online import OnlineStore
from tenantml.emulator import server as emulator


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with emulator.running(0) as server:
        yield server.endpoint


@pytest.fixture
def direct(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    use_fake_aws_credentials(monkeypatch, REGION)
    emulator.reset(moto_endpoint)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    create_table(client)
    return client


def _through(proxy: ThrottlingProxy) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=proxy.endpoint)


def test_items_left_unprocessed_are_sent_again_until_all_are_written(moto_endpoint: str, direct: Any) -> None:
    # given: a table that takes 10 of each batch of 25
    with ThrottlingProxy(moto_endpoint, process=10) as proxy:
        store = OnlineStore(_through(proxy), TABLE, backoff_base=0.001, clock=NOW.timestamp)

        # when
        written = store.write(VIEW, rows(list(range(60))))

    # then: every row is in the table, after more batch writes than 60 / 25
    assert written == 60
    assert len(entity_items(direct)) == 60
    assert proxy.batch_writes >= 6


def test_a_table_that_never_takes_the_items_ends_in_a_clear_error(moto_endpoint: str, direct: Any) -> None:
    with ThrottlingProxy(moto_endpoint, process=0) as proxy:
        store = OnlineStore(_through(proxy), TABLE, max_attempts=3, backoff_base=0.001, clock=NOW.timestamp)

        with pytest.raises(FeatureStoreError) as caught:
            store.write(VIEW, rows([1, 2, 3]))

    assert str(caught.value).startswith(
        f"DynamoDB table {TABLE!r} left 3 item(s) unprocessed after 3 attempts (throttled"
    )
    assert proxy.batch_writes == 3
    assert entity_items(direct) == []  # the watermark item holds written_max_us, set before writing
