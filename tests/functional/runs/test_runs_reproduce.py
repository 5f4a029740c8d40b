"""Reproducing registered versions under moto: two runs on the same data register the same artifact
digest, and a version's lineage becomes the execution input's ``reproduce`` block (or an error
saying why it cannot be re-run). The re-run itself goes through the state machine: see
``tests/functional/runs/test_runs_cli.py`` (``models reproduce`` in the emulator)."""

from __future__ import annotations

import pytest
from registered_version import register_version

from core.errors import ReproductionError, TrainingConfigError
from pipelines.registry.lineage import Lineage
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.execution_input import pipeline_input
from pipelines.runs.records import RunStatus
from pipelines.runs.reproduce import data_object, reproduction_request
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

    # when version 1's re-run is requested
    request = reproduction_request(first)
    # then it carries the recorded digest, data and settings, and makes a valid execution input
    assert request["sha256"] == first.lineage.artifact_sha256 and request["version"] == 1
    assert request["data_sha256"] == first.lineage.data_sha256
    assert request["holdout_fraction"] == "0.2" and "holdout_fraction" not in request["hyperparameters"]
    assert request["hyperparameters"]["seed"] == "0"
    bucket, key, version_id = data_object(first)
    assert (bucket, key, version_id) == (resources.data_bucket, "incoming/cancer.parquet", arrival.version_id)
    body = pipeline_input(
        run_id="reproduce-v1",
        tenant="acme",
        model=spec.name,
        trigger="reproduce",
        bucket=bucket,
        key=key,
        version_id=version_id,
        reproduce=request,
    )
    assert body["reproduce"] == request


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
        reproduction_request(registry.get_model_version(1))
    assert str(caught.value) == (
        f"version 1 of model package group {resources.model_package_group!r}: lineage.settings is empty "
        "(registered before run settings were recorded), so it cannot be re-run; retrain it to get a "
        "reproducible version"
    )
    assert caught.value.exit_code == 2

    # given settings the training job does not know
    registry.create_model_version(
        model_data_url=lineage.artifact_uri,
        image_uri="serving:1",
        lineage=lineage.model_copy(update={"settings": {"n_trees": "5", "holdout_fraction": "0.2"}}),
    )
    # then they are named, before any run starts
    with pytest.raises(TrainingConfigError) as bad:
        reproduction_request(registry.get_model_version(2))
    assert "version 2 of model package group" in str(bad.value)
    assert "lineage.settings: n_trees" in str(bad.value)
