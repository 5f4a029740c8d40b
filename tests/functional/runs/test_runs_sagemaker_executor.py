"""The SageMaker executor under moto: the CreateTrainingJob request, and the artifact the emulated
container leaves exactly where the job says."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from core.errors import TrainingJobFailedError
from pipelines.runs.config import PipelineConfig
from pipelines.training.executors import (
    LocalExecutor,
    SageMakerExecutor,
    SageMakerExecutorConfig,
    TrainingRequest,
    make_executor,
    training_job_name,
)
from pipelines.training.train import TrainingConfig, load_model
from tenantml.sample_data import sample_frame

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-training:2025.06"


@pytest.fixture
def request_for(clients, resources, spec, tmp_path: Path):
    """A training request whose channel is staged in S3 and on disk, as a run stages it."""
    frame = sample_frame().iloc[:400]
    train_dir = tmp_path / "channel"
    train_dir.mkdir()
    frame.to_parquet(train_dir / "part-00000.parquet", index=False)
    prefix = "runs/r-1/data/train/"
    clients.s3.upload_file(
        str(train_dir / "part-00000.parquet"), resources.artifacts_bucket, f"{prefix}part-00000.parquet"
    )
    config = PipelineConfig(n_trials=2, cv_folds=3).training_config(spec)

    def make(run_id: str = "20250602T060000Z-0123456789ab") -> TrainingRequest:
        return TrainingRequest(
            run_id=run_id,
            tenant="acme",
            config=config,
            train_dir=train_dir,
            train_s3_prefix=f"s3://{resources.artifacts_bucket}/{prefix}",
            work_dir=tmp_path / run_id,
        )

    return make


def _executor(clients, resources, *, emulated: bool, **kwargs) -> SageMakerExecutor:
    return SageMakerExecutor(
        clients.sagemaker,
        clients.s3,
        SageMakerExecutorConfig(
            image_uri=IMAGE,
            role_arn=resources.training_role_arn,
            output_path=f"s3://{resources.models_bucket}/training-jobs/",
            kms_key_arn=resources.kms_key_arn,
            emulated=emulated,
        ),
        **kwargs,
    )


def test_the_job_request_names_image_role_channel_hyperparameters_output_and_key(
    clients, resources, request_for
):
    request = request_for()
    # when the executor submits and (emulated) runs the job
    result = _executor(clients, resources, emulated=True).train(request)

    # then the job SageMaker recorded is the request we meant
    job = clients.sagemaker.describe_training_job(TrainingJobName=request.job_name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == resources.training_role_arn
    [channel] = job["InputDataConfig"]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": f"s3://{resources.artifacts_bucket}/runs/r-1/data/train/",
        "S3DataDistributionType": "FullyReplicated",
    }
    assert job["HyperParameters"] == request.config.to_hyperparameters()
    assert all(isinstance(v, str) for v in job["HyperParameters"].values())
    assert TrainingConfig.from_hyperparameters(job["HyperParameters"]) == request.config
    assert job["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{resources.models_bucket}/training-jobs/",
        "KmsKeyId": resources.kms_key_arn,
    }
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == resources.kms_key_arn
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 60 + 900  # search timeout + overhead
    tags = {
        t["Key"]: t["Value"] for t in clients.sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    }
    assert tags["tenantml:tenant"] == "acme" and tags["tenantml:run-id"] == request.run_id

    # and the model archive is exactly where the job says, encrypted with the tenant's key
    expected = f"s3://{resources.models_bucket}/training-jobs/{request.job_name}/output/model.tar.gz"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == expected == result.job_output_uri
    key = expected.removeprefix(f"s3://{resources.models_bucket}/")
    head = clients.s3.head_object(Bucket=resources.models_bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == resources.kms_key_arn
    archive = clients.s3.get_object(Bucket=resources.models_bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["model.joblib", "model_metadata.json"]
    # and the model was trained on the channel the job names, by the real entry point
    trained = load_model(result.model_dir)
    assert trained.metadata.training_rows == 400 and trained.metadata.n_trials == 2
    assert [Path(p.uri).name for p in trained.metadata.data.parts] == ["part-00000.parquet"]
    frame = sample_frame().iloc[400:]
    assert (trained.pipeline.predict(frame.drop(columns="target")) == frame["target"]).mean() > 0.9


def test_on_real_sagemaker_semantics_a_completed_job_without_an_archive_is_an_error(
    clients, resources, request_for
):
    # given the emulator (moto), which reports jobs Completed without running them, and emulated=False
    request = request_for()
    with pytest.raises(TrainingJobFailedError) as raised:
        _executor(clients, resources, emulated=False).train(request)
    # then the error says what happened and what to do
    assert f"training job {request.job_name}: the job reports Completed but wrote no model archive" in str(
        raised.value
    )
    assert "set emulated=True" in str(raised.value)


def test_a_failing_container_fails_the_job_with_its_reason_and_uploads_nothing(
    clients, resources, request_for
):
    def entry_point(paths):
        raise ValueError("Input contains NaN")

    request = request_for()
    with pytest.raises(TrainingJobFailedError) as raised:
        _executor(clients, resources, emulated=True, entry_point=entry_point).train(request)

    assert raised.value.reason == "ValueError: Input contains NaN"
    assert raised.value.job_name == request.job_name
    assert (
        request.work_dir / "container" / "output" / "failure"
    ).read_text() == "ValueError: Input contains NaN"
    assert clients.s3.list_objects_v2(Bucket=resources.models_bucket).get("KeyCount", 0) == 0


def test_make_executor_builds_each_kind_from_the_tenant_resources(clients, resources):
    assert isinstance(make_executor("local"), LocalExecutor)
    sagemaker = make_executor(
        "sagemaker", clients=clients, resources=resources, image_uri=IMAGE, emulated=True
    )
    assert isinstance(sagemaker, SageMakerExecutor)
    assert sagemaker.config.output_path == f"s3://{resources.models_bucket}/training-jobs/"
    assert sagemaker.config.role_arn == resources.training_role_arn and sagemaker.config.emulated
    with pytest.raises(ValueError, match="needs a training image URI"):
        make_executor("sagemaker", clients=clients, resources=resources)


def test_job_names_are_valid_for_sagemaker_and_unique_per_run():
    long = training_job_name("a" * 20, "m" * 31, "20250602T060000Z-0123456789ab")
    assert len(long) <= 63 and long.endswith("T060000Z0123456789ab")
    assert (
        training_job_name("acme", "cancer", "20250602T060000Z-0123456789ab")
        == "acme-cancer-T060000Z0123456789ab"
    )
    assert training_job_name("acme", "cancer", "run-1") != training_job_name("acme", "cancer", "run-2")
