"""Fixtures for moto-backed pipeline flows: fake credentials first, then the mock, then clients."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_fakes import use_fake_aws_credentials
from moto import mock_aws

from core.spec import ModelSpec

REGION = "eu-west-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws_credentials(monkeypatch, REGION)


@pytest.fixture
def region() -> str:
    return REGION


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None):
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def sagemaker(aws: None):
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def bucket(s3) -> str:
    """A versioned bucket, as the tenant stack creates them."""
    name = "acme-dev-data"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def classification_spec() -> ModelSpec:
    return ModelSpec(
        name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.9,
        estimator="logistic_regression",
        search_trials=3,
        search_timeout_seconds=60,
        promotion_margin=0.001,
    )
