"""One tenant model through the whole lifecycle, wired the way the pipeline runner will wire it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from core.errors import ModelVersionNotFoundError
from pipelines.data.datasets import load_dataset, split_holdout
from pipelines.data.validation import validate_dataset
from pipelines.evaluation.evaluate import evaluate_model
from pipelines.evaluation.gate import decide_promotion
from pipelines.monitoring.baseline import Baseline, compute_baseline
from pipelines.registry.artifacts import (
    download_artifact,
    pack_model_dir,
    unpack_model_archive,
    upload_artifact,
)
from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, code_revision, new_run_id
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.training.train import TrainingConfig, load_model, save_model, train_model

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"


def _run(s3, registry, bucket, spec, uri, work: Path, *, estimator_params=None):
    """Load, validate, train, evaluate against the champion, register; return (version, decision)."""
    dataset = load_dataset(uri, s3=s3)
    validate_dataset(dataset.frame, spec, dataset=uri)
    train, holdout = split_holdout(dataset.frame, spec, seed=0)
    config = TrainingConfig.from_spec(spec, cv_folds=3)
    trained = train_model(train, config, data=dataset.provenance, initial_params=estimator_params or ())
    model_dir = save_model(trained, work / "model")
    baseline = compute_baseline(
        train, spec, predictions=trained.pipeline.predict(train.drop(columns=spec.target))
    )
    (model_dir / "baseline.json").write_text(baseline.to_json())
    stored = upload_artifact(s3, bucket, pack_model_dir(model_dir, work / "model.tar.gz"))

    candidate = evaluate_model(trained.pipeline, holdout, spec, work / "evaluation", importance_repeats=1)
    champion_metrics = None
    try:
        champion_version = registry.get_version_by_alias(CHAMPION)
    except ModelVersionNotFoundError:
        champion_version = None
    if champion_version is not None:
        archive = download_artifact(s3, champion_version.model_data_url, work / "champion.tar.gz")
        champion_model = load_model(unpack_model_archive(archive, work / "champion")).pipeline
        champion_eval = evaluate_model(champion_model, holdout, spec, importance_repeats=1)
        assert champion_eval.holdout_sha256 == candidate.holdout_sha256
        champion_metrics = champion_eval.metrics
    decision = decide_promotion(candidate.metrics, champion_metrics, spec)

    lineage = Lineage(
        run_id=new_run_id(),
        data_uri=dataset.provenance.uri,
        data_version_id=dataset.provenance.version_id,
        data_sha256=dataset.provenance.sha256,
        code_revision=code_revision(),
        parameters=trained.metadata.best_params,
        metrics=candidate.metrics,
        library_versions=trained.metadata.library_versions,
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
    )
    version = registry.create_model_version(
        model_data_url=stored.uri,
        image_uri=IMAGE,
        lineage=lineage,
        approval_status=decision.approval_status,
        description="; ".join(decision.reasons),
    )
    registry.set_alias(CHAMPION if decision.approved else CHALLENGER, version.version)
    return registry.get_model_version(version.version), decision


@pytest.fixture
def registry(sagemaker) -> SageMakerModelRegistry:
    registry = SageMakerModelRegistry(sagemaker, "acme-dev-cancer")
    registry.ensure_group()
    return registry


def _put(s3, bucket: str, key: str, frame) -> str:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{bucket}/{key}"


def test_first_model_becomes_champion_and_a_weaker_one_waits(
    s3, bucket, registry, cancer, classification_spec, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("TENANTML_CODE_REVISION", "abc123")
    # given tenant data in S3 / when the first pipeline run completes
    uri = _put(s3, bucket, "raw/train.parquet", cancer)
    first, decision = _run(s3, registry, bucket, classification_spec, uri, tmp_path / "run1")
    # then it cleared the minimum, was approved and became champion, with full lineage
    assert decision.approved
    assert first.approval_status is ApprovalStatus.APPROVED
    assert registry.get_version_by_alias(CHAMPION).version == first.version == 1
    data_version = s3.head_object(Bucket=bucket, Key="raw/train.parquet")["VersionId"]
    assert first.lineage.data_version_id == data_version
    assert first.lineage.code_revision == "abc123"
    assert first.lineage.metrics["roc_auc"] > 0.9
    # and its archive, fetched from S3, holds the model, metadata and baseline at the root
    archive = download_artifact(s3, first.model_data_url, tmp_path / "check.tar.gz")
    unpacked = unpack_model_archive(archive, tmp_path / "check")
    assert sorted(p.name for p in unpacked.iterdir()) == [
        "baseline.json",
        "model.joblib",
        "model_metadata.json",
    ]
    assert Baseline.from_json((unpacked / "baseline.json").read_text()).prediction_distribution is not None

    # when a second run on noisier data produces a weaker candidate
    noisy = cancer.copy()
    flip = noisy.sample(frac=0.25, random_state=1).index
    noisy.loc[flip, "target"] = 1 - noisy.loc[flip, "target"]
    uri = _put(s3, bucket, "raw/train.parquet", noisy)
    second, decision = _run(s3, registry, bucket, classification_spec, uri, tmp_path / "run2")
    # then it is held for a human as challenger and the champion stays
    assert not decision.approved
    assert second.approval_status is ApprovalStatus.PENDING
    assert registry.get_version_by_alias(CHAMPION).version == 1
    assert registry.get_version_by_alias(CHALLENGER).version == 2
    assert second.lineage.data_version_id != first.lineage.data_version_id
    assert "does not beat the champion" in second.description
