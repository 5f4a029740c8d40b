"""``tenantml deploy`` end to end in one process: the command fetches two registered versions from
the (moto) registry and S3, serves them on loopback, bakes the challenger behind the router with
replayed rows, and exits 0 when it promoted and 1 when it rolled back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import typer
from typer.testing import CliRunner

from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.interface import CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from tenantml.cli.serving import register

REGION = "eu-west-1"  # the rollout fixtures' (conftest.py)
GROUP = "tenantml-acme-dev-default"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"
MODELS_BUCKET = "tenantml-acme-dev-models"
TENANT_YAML = """\
name: acme
environment: dev
region: eu-west-1
owners: [ml@example.com]
image_tag: "1.0.0"
compute: {kind: ec2, instance_types: [m6i.large]}
model:
  name: default
  problem: classification
  target: target
  primary_metric: roc_auc
  minimum_metric: 0.9
  estimator: logistic_regression
"""
#: the exit code the README documents for "rolled back"
ROLLED_BACK = 1


@pytest.fixture
def tenant(aws, topic, model_dir: Path, tmp_path: Path) -> dict:
    """Versions 1 (champion) and 2 of one real model, approved, with artifacts in S3, and the
    tenant's spec and outputs files."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=MODELS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    stored = upload_artifact(s3, MODELS_BUCKET, pack_model_dir(model_dir, tmp_path / "model.tar.gz"))
    registry = SageMakerModelRegistry(boto3.client("sagemaker", region_name=REGION), GROUP)
    registry.ensure_group()
    for _ in range(2):
        registry.create_model_version(
            model_data_url=stored.uri,
            image_uri=IMAGE,
            lineage=Lineage(
                run_id=new_run_id(),
                data_uri="s3://acme/raw/train.parquet",
                data_sha256="0" * 64,
                artifact_uri=stored.uri,
                artifact_sha256=stored.sha256,
            ),
            approval_status=ApprovalStatus.APPROVED,
        )
    registry.set_alias(CHAMPION, 1)
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(TENANT_YAML)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"model_package_group_name": GROUP, "alerts_topic_arn": topic.arn}))
    return {"registry": registry, "tenants": tenants, "outputs": outputs}


@pytest.fixture
def deploy(tenant: dict, trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable:
    app = typer.Typer()
    register(app)
    replay = tmp_path / "rows.csv"
    replay.write_text("\n".join(",".join(repr(v) for v in row) for row in trained[1]))
    monkeypatch.setenv("COLUMNS", "250")

    def invoke(*args: str, with_replay: bool = True):
        common = ["deploy", "--tenant", "acme", "--version", "2", "--tenants", str(tenant["tenants"])]
        common += ["--outputs", str(tenant["outputs"]), "--bake-seconds", "1", "--min-requests", "5"]
        if with_replay:
            common += ["--replay", str(replay)]
        return CliRunner().invoke(app, [*common, *args])

    return invoke


def test_all_at_once_rolls_back_when_a_guardrail_fails(deploy, tenant, topic):
    # when version 2 goes out all at once with a p99 limit no real server meets
    result = deploy("--strategy", "all-at-once", "--max-p99-ms", "0.001")
    # then it baked, breached the limit and rolled back: the champion is unchanged, an alert went out
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == ROLLED_BACK, result.output
    assert "rolled_back: p99 latency" in result.output and "above the 0.001 ms limit" in result.output
    assert tenant["registry"].get_version_by_alias(CHAMPION).version == 1
    assert [m["Subject"] for m in topic.messages()] == [
        "tenantml acme/default: version 2 rolled back (p99_ms)"
    ]


def test_all_at_once_with_passing_guardrails_promotes_and_prints_a_summary(deploy, tenant):
    result = deploy("--strategy", "all-at-once", "--max-p99-ms", "5000")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "promoted: the bake passed every threshold (challenger:" in result.output
    assert "error rate 0.00%" in result.output and " ms)" in result.output
    assert tenant["registry"].get_version_by_alias(CHAMPION).version == 2


def test_a_bake_without_traffic_rolls_back_with_a_readable_summary(deploy, tenant):
    # given no replayed rows, the challenger sees no request: no latency to report
    result = deploy("--strategy", "canary", with_replay=False)
    # then the summary says so instead of crashing on the missing p99
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == ROLLED_BACK, result.output
    assert "rolled_back: only 0 challenger request(s)" in result.output
    assert "0 requests, error rate 0.00%, p99 n/a" in result.output
    assert tenant["registry"].get_version_by_alias(CHAMPION).version == 1


def test_a_version_that_is_not_approved_is_refused_before_the_bake(deploy, tenant):
    tenant["registry"].update_approval_status(2, ApprovalStatus.PENDING)
    result = deploy("--strategy", "canary")
    assert result.exit_code == 2, result.output
    assert (
        "version 2 of model package group 'tenantml-acme-dev-default' is PendingManualApproval; "
        in result.output
    )
    assert "only an approved version can become champion" in result.output and "baking" not in result.output
    assert tenant["registry"].get_version_by_alias(CHAMPION).version == 1
