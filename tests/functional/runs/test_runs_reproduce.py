"""Reproducing registered versions under moto: two runs on the same data register the same artifact
digest, a version re-run from its lineage packs to its registered digest, and a changed setting
does not."""

from __future__ import annotations

import pytest
from registered_version import register_version

from core.errors import ReproductionError, TrainingConfigError
from pipelines.registry.lineage import Lineage
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.records import RunStatus
from pipelines.runs.reproduce import reproduce_version
from tenantml.sample_data import sample_parquet_bytes


def _arrival(s3, bucket: str) -> DataArrival:
    data = sample_parquet_bytes()
    response = s3.put_object(Bucket=bucket, Key="incoming/cancer.parquet", Body=data)
    return DataArrival(
        bucket=bucket,
        key="incoming/cancer.parquet",
        version_id=response["VersionId"],
        size=len(data),
        etag=response["ETag"].strip('"'),
    )


def test_registered_versions_reproduce_to_their_digest_and_a_changed_setting_does_not(
    clients, resources, spec, tmp_path
):
    # given two runs of the pipeline on the same data, seed and settings
    arrival = _arrival(clients.s3, resources.data_bucket)
    records = [
        register_version(resources, spec, arrival, tmp_path / f"run-{i}", run_id=f"run-{i}") for i in range(2)
    ]
    assert [r.status for r in records] == [RunStatus.SUCCEEDED] * 2, [r.error for r in records]
    # then both registered versions name the same artifact, byte for byte
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    first, second = (registry.get_model_version(r.model_version) for r in records)
    assert first.lineage.run_id != second.lineage.run_id
    assert first.lineage.artifact_sha256 == second.lineage.artifact_sha256 == records[0].model_artifact_sha256
    assert first.lineage.settings["seed"] == "0" and first.lineage.settings["holdout_fraction"] == "0.2"

    # when version 1 is re-run from its lineage
    result = reproduce_version(registry, 1, spec=spec, s3=clients.s3)
    # then it packs to the registered digest
    assert result.matches, result.differing_files
    assert result.reproduced_sha256 == result.registered_sha256 == first.lineage.artifact_sha256
    assert result.differing_files == []
    assert result.recorded_code_revision == result.current_code_revision

    # when one setting changes / then the digest does, and the differing members are named
    changed = reproduce_version(registry, 1, spec=spec, s3=clients.s3, overrides={"seed": "1"})
    assert not changed.matches and changed.settings["seed"] == "1"
    assert changed.registered_sha256 == first.lineage.artifact_sha256
    assert "model.joblib" in changed.differing_files and "baseline.json" in changed.differing_files


def test_a_version_that_cannot_be_re_run_says_why(clients, resources, spec):
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    lineage = Lineage(
        run_id="old-run",
        data_uri=f"s3://{resources.data_bucket}/incoming/cancer.parquet",
        data_sha256="1" * 64,
        artifact_uri=f"s3://{resources.models_bucket}/models/sha256/{'0' * 64}/model.tar.gz",
        artifact_sha256="0" * 64,
    )
    registry.create_model_version(model_data_url=lineage.artifact_uri, image_uri="serving:1", lineage=lineage)
    with pytest.raises(ReproductionError) as caught:
        reproduce_version(registry, 1, spec=spec, s3=clients.s3)
    assert str(caught.value) == (
        f"version 1 of model package group {resources.model_package_group!r}: lineage.settings is empty "
        "(registered before run settings were recorded), so it cannot be re-run; retrain it to get a "
        "reproducible version"
    )
    assert caught.value.exit_code == 2

    # given settings that name data which is not what was trained on
    registry.create_model_version(
        model_data_url=lineage.artifact_uri,
        image_uri="serving:1",
        lineage=lineage.model_copy(
            update={
                "settings": {
                    "problem": "classification",
                    "target": "target",
                    "primary_metric": "roc_auc",
                    "estimator": "logistic_regression",
                    "holdout_fraction": "0.2",
                }
            }
        ),
    )
    _arrival(clients.s3, resources.data_bucket)
    with pytest.raises(ReproductionError, match=r"has sha256 [0-9a-f]{64}, not the 1{64} it was trained on"):
        reproduce_version(registry, 2, spec=spec, s3=clients.s3)
    # and an override the training job does not know is named, before any data is read
    with pytest.raises(TrainingConfigError) as bad:
        reproduce_version(registry, 2, spec=spec, s3=clients.s3, overrides={"n_trees": "5"})
    assert "version 2 of model package group" in str(bad.value) and "lineage.settings: n_trees" in str(
        bad.value
    )
