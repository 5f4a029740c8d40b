"""Fixtures for the feature store's offline side: fake credentials, the mock, then a versioned data bucket."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_fakes import use_fake_aws_credentials
from feature_support import BUCKET, REGION
from moto import mock_aws


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    use_fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
