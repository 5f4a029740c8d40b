"""Fixtures for the feature store under moto: fake credentials, the mock, then what the stack
creates: the versioned data bucket (offline side) and the online table (online side)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_aws_credentials
from feature_support import BUCKET, REGION
from features_support import NOW, TABLE, create_table
from moto import mock_aws

from pipelines.features.online import OnlineStore


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    use_fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


@pytest.fixture
def store(dynamodb: Any) -> OnlineStore:
    return OnlineStore(dynamodb, TABLE, backoff_base=0.001, clock=NOW.timestamp)
