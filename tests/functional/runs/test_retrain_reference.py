"""What a retrain starts from: the data the champion was trained on, never merely the newest file
under ``incoming/`` (which may be a corrupt upload whose own run failed)."""

from __future__ import annotations

from registered_version import register_version

from pipelines.registry.interface import CHAMPION
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.retraining_data import champion_reference
from tenantml.sample_data import sample_parquet_bytes


def test_a_retrain_starts_from_the_champions_pinned_data_not_a_newer_corrupt_file(
    clients, resources, spec, tmp_path
):
    # given a champion trained on one version of the sample dataset
    good = clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/cancer.parquet", Body=sample_parquet_bytes()
    )
    record = register_version(
        resources,
        spec,
        DataArrival(
            bucket=resources.data_bucket, key="incoming/cancer.parquet", version_id=good["VersionId"]
        ),
        tmp_path / "run",
        run_id="run-good",
    )
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    registry.set_alias(CHAMPION, record.model_version)
    # and, later, a corrupt upload and a new version of the good file's key
    broken = clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/broken.parquet", Body=b"PAR1 junk"
    )
    clients.s3.put_object(Bucket=resources.data_bucket, Key="incoming/cancer.parquet", Body=b"overwritten")
    newest = DataArrival(
        bucket=resources.data_bucket, key="incoming/broken.parquet", version_id=broken["VersionId"]
    )

    # when the retrain's reference is chosen
    reference = champion_reference(registry, newest)

    # then it is the champion's data, pinned to the version it was trained on
    assert (reference.bucket, reference.key, reference.version_id) == (
        resources.data_bucket,
        "incoming/cancer.parquet",
        good["VersionId"],
    )


def test_without_a_champion_the_retrain_uses_the_data_it_was_given(clients, resources):
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    clients.sagemaker.create_model_package_group(ModelPackageGroupName=resources.model_package_group)
    given = DataArrival(bucket=resources.data_bucket, key="incoming/only.parquet", version_id="v1")
    assert champion_reference(registry, given) == given
