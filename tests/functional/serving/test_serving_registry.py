"""Serving registry versions: by alias or number, verified against the lineage's sha256 first."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import httpx
import pytest
from typer import Typer
from typer.testing import CliRunner

from core.errors import ModelNotServableError
from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.interface import CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import RegistrySource, load

REGION = "eu-west-1"
GROUP = "tenantml-acme-dev-default"
BUCKET = "tenantml-acme-dev-models"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"


@pytest.fixture
def clients(aws: str):
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws)
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3, sagemaker


@pytest.fixture
def registered(clients, model_dir: Path, logistic, tmp_path: Path) -> SageMakerModelRegistry:
    """Two versions registered as the pipeline does; version 2 holds the champion alias."""
    s3, sagemaker = clients
    registry = SageMakerModelRegistry(sagemaker, GROUP)
    registry.ensure_group()
    stored = upload_artifact(s3, BUCKET, pack_model_dir(model_dir, tmp_path / "model.tar.gz"))
    for _ in range(2):
        lineage = Lineage(
            run_id=new_run_id(),
            data_uri="s3://acme/raw/train.parquet",
            data_sha256="0" * 64,
            parameters=logistic.metadata.best_params,
            metrics={"roc_auc": 0.99},
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
        )
        version = registry.create_model_version(
            model_data_url=stored.uri,
            image_uri=IMAGE,
            lineage=lineage,
            approval_status=ApprovalStatus.APPROVED,
        )
    registry.set_alias(CHAMPION, version.version)
    return registry


def _tamper(s3, registry: SageMakerModelRegistry, version: int) -> None:
    """Overwrite a version's archive in S3 with different bytes (a valid, different model archive)."""
    url = registry.get_model_version(version).model_data_url
    key = url.removeprefix(f"s3://{BUCKET}/")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body + b"\0")


def test_a_version_is_served_by_alias_and_by_number(registered, clients, aws, tmp_path):
    s3, sagemaker = clients
    by_alias = load(
        RegistrySource(group=GROUP, alias=CHAMPION), work_dir=tmp_path / "a", sagemaker=sagemaker, s3=s3
    )
    by_number = load(
        RegistrySource(group=GROUP, version=1), work_dir=tmp_path / "b", sagemaker=sagemaker, s3=s3
    )
    assert by_alias.version == "2" and by_number.version == "1"
    assert by_alias.sha256 == registered.get_model_version(2).lineage.artifact_sha256
    assert by_alias.predictor.mode == "planned"


def test_a_version_failing_its_checksum_never_loads(registered, clients, tmp_path):
    s3, sagemaker = clients
    _tamper(s3, registered, 2)
    with pytest.raises(ModelNotServableError) as err:
        load(RegistrySource(group=GROUP, alias=CHAMPION), work_dir=tmp_path, sagemaker=sagemaker, s3=s3)
    message = str(err.value)
    assert "version 2 of model package group 'tenantml-acme-dev-default'" in message
    assert "fails its checksum and will not be served" in message
    # nothing was unpacked, let alone unpickled
    assert not list(tmp_path.rglob("model.joblib"))


def test_the_server_never_reports_ready_for_a_tampered_version(
    registered, clients, aws, start_server, monkeypatch
):
    s3, _ = clients
    _tamper(s3, registered, 2)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    server = start_server(
        ServerConfig(source=RegistrySource(group=GROUP, alias=CHAMPION, region=REGION, endpoint_url=aws))
    )
    app_server = server.server.config.app.state.server
    assert app_server.loaded.wait(30)
    ping = httpx.get(f"{server.url}/ping")
    assert ping.status_code == 503
    assert ping.json()["status"] == "failed" and "fails its checksum" in ping.json()["error"]
    response = httpx.post(f"{server.url}/invocations", content=b"1", headers={"content-type": "text/csv"})
    assert response.status_code == 503 and response.json()["error"] == "model_failed"


def test_a_version_without_lineage_is_refused(clients, model_dir, tmp_path):
    s3, sagemaker = clients
    registry = SageMakerModelRegistry(sagemaker, GROUP)
    registry.ensure_group()
    stored = upload_artifact(s3, BUCKET, pack_model_dir(model_dir, tmp_path / "model.tar.gz"))
    sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": stored.uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    with pytest.raises(ModelNotServableError, match="has no tenantml lineage"):
        load(RegistrySource(group=GROUP, version=1), work_dir=tmp_path / "w", sagemaker=sagemaker, s3=s3)


def test_cli_serve_fails_before_starting_when_the_checksum_fails(registered, clients, aws, tmp_path):
    from tenantml.cli.serving import register

    s3, _ = clients
    _tamper(s3, registered, 2)
    up = tmp_path / "up.json"
    up.write_text(
        json.dumps(
            {
                "emulator": {"endpoint": aws, "region": REGION},
                "tenants": {
                    "acme": {
                        "outputs": {
                            "model_package_group_name": GROUP,
                            "stream_name": "s",
                            "serving_role_arn": "arn:aws:iam::123456789012:role/tenantml-acme-dev-serving-role",
                        }
                    }
                },
            }
        )
    )
    app = Typer()
    register(app)
    result = CliRunner().invoke(app, ["serve", "--tenant", "acme", "--outputs", str(up), "--port", "1"])
    assert result.exit_code == 1
    assert "fails its checksum and will not be served" in result.output
