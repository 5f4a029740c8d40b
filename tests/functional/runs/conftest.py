"""Fixtures for pipeline runs under moto: fake credentials first, then the mock, then the tenant's
resources as its stack creates them (versioned buckets, KMS key, topic, role, model package group)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_fakes import use_fake_aws_credentials
from moto import mock_aws
from runs_support import REGION, AlertInbox, create_tenant_resources

from core.spec import ModelSpec
from pipelines.runs.clients import AwsClients
from pipelines.runs.config import PipelineConfig
from pipelines.runs.resources import TenantResources


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws_credentials(
        monkeypatch, REGION, TENANTML_CODE_REVISION="0123456789abcdef0123456789abcdef01234567"
    )


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """One session with fake credentials for every test: a new session re-reads botocore's endpoint
    and service data (about 0.4 s). Its clients are still created inside each test's mock."""
    return boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=REGION,
    )


@pytest.fixture
def clients(aws: None, boto_session: boto3.session.Session) -> AwsClients:
    return AwsClients.create(region=REGION, session=boto_session)


@pytest.fixture
def resources(aws: None, boto_session: boto3.session.Session) -> TenantResources:
    return create_tenant_resources(boto_session.client)


@pytest.fixture
def inbox(aws: None, resources: TenantResources, boto_session: boto3.session.Session) -> AlertInbox:
    sqs = boto_session.client("sqs")
    url = sqs.create_queue(QueueName="acme-alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto_session.client("sns").subscribe(TopicArn=resources.alerts_topic_arn, Protocol="sqs", Endpoint=arn)
    return AlertInbox(sqs=sqs, url=url)


@pytest.fixture
def spec() -> ModelSpec:
    return ModelSpec(
        name="cancer",
        problem="classification",
        target="target",
        primary_metric="roc_auc",
        minimum_metric=0.9,
        estimator="logistic_regression",
        search_trials=2,
        search_timeout_seconds=60,
    )


@pytest.fixture
def config() -> PipelineConfig:
    """Small and fast: 2 trials, 3 folds, one permutation repeat."""
    return PipelineConfig(n_trials=2, cv_folds=3, importance_repeats=1, importance_rows=200)
