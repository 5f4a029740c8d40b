"""Fixtures for moto-backed pipeline flows: fake credentials first, then the mock, then clients."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from sklearn.datasets import load_breast_cancer

from tenantml.spec import ModelSpec

REGION = "eu-west-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and nothing from the machine's AWS config or an emulator endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)


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


@pytest.fixture(scope="session")
def _cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture
def cancer(_cancer: pd.DataFrame) -> pd.DataFrame:
    return _cancer.copy()


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
