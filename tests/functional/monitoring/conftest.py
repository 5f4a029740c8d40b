"""Fixtures for moto-backed monitoring flows: fake credentials, then the mock, then clients.

The tenant's artifacts bucket holds the baseline of registry version 1, computed with
``compute_baseline`` on scikit-learn's breast cancer data and stored where a run stores it.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pandas as pd
import pytest
from aws_fakes import use_fake_aws_credentials
from monitoring_support import ARTIFACTS, GROUP, MODEL, REGION, RUN_ID, TENANT
from moto import mock_aws
from sklearn.datasets import load_breast_cancer

from core.spec import ModelSpec, ProblemType
from pipelines.monitoring.baseline import Baseline, compute_baseline
from pipelines.monitoring.monitor import MonitorClients, MonitorSettings
from pipelines.monitoring.publishing import baseline_key, clear_baseline_cache
from pipelines.registry.lineage import Lineage
from pipelines.registry.sagemaker import SageMakerModelRegistry

SPEC = ModelSpec(
    name=MODEL,
    problem=ProblemType.CLASSIFICATION,
    target="target",
    primary_metric="roc_auc",
    minimum_metric=0.5,
    drift_threshold=0.25,
)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws_credentials(monkeypatch, REGION)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    clear_baseline_cache()
    with mock_aws():
        yield
    clear_baseline_cache()


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def baseline(cancer: pd.DataFrame) -> Baseline:
    return compute_baseline(cancer, SPEC, predictions=cancer["target"].to_numpy())


@pytest.fixture
def clients(aws: None, baseline: Baseline) -> MonitorClients:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=ARTIFACTS, Key=baseline_key(RUN_ID), Body=baseline.to_json().encode())
    registry = SageMakerModelRegistry(boto3.client("sagemaker", region_name=REGION), GROUP)
    registry.ensure_group()
    lineage = Lineage(
        run_id=RUN_ID,
        data_uri="s3://acme-dev-data/incoming/cancer.csv",
        data_sha256="a" * 64,
        artifact_uri="s3://acme-dev-models/models/sha256/" + "b" * 64 + "/model.tar.gz",
        artifact_sha256="b" * 64,
    )
    registry.create_model_version(
        model_data_url=lineage.artifact_uri,
        image_uri=f"123456789012.dkr.ecr.{REGION}.amazonaws.com/serving:1",
        lineage=lineage,
    )
    return MonitorClients(s3=s3, cloudwatch=boto3.client("cloudwatch", region_name=REGION), registry=registry)


@pytest.fixture
def settings() -> MonitorSettings:
    return MonitorSettings(
        tenant=TENANT,
        artifacts_bucket=ARTIFACTS,
        model_name=MODEL,
        model_package_group=GROUP,
        drift_threshold=SPEC.drift_threshold,
        drift_min_rows=50,
    )  # the tests' windows are small
