"""SageMaker jobs and Step Functions state machines, run for real by the emulator (as their roles)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from wait_support import wait_until

from tenantml.emulator import iam_enforcement, jobs
from tenantml.emulator.images import push_local_image
from tenantml.emulator.session import ADMIN_USER_NAME, AwsSession

REGION = "eu-west-1"
BUCKET = "tenantml-jobs-test"
REPOSITORY = "tenantml-jobs-test"
TAG = "1.0.0"
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}}


@pytest.fixture
def runner(aws: AwsSession) -> Iterator[jobs.JobRunner]:
    installed = jobs.install(aws.endpoint, max_concurrent=2)
    try:
        yield installed
    finally:
        jobs.uninstall(timeout=10)


@pytest.fixture
def world(aws: AwsSession, runner: jobs.JobRunner) -> dict[str, str]:
    """A bucket, the image pushed under TAG, and an SNS topic; returns their names and the image URI."""
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    ecr = aws.client("ecr")
    repository = ecr.create_repository(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
    push_local_image(ecr, REPOSITORY, TAG)
    return {"image": f"{repository['repository']['repositoryUri']}:{TAG}"}


def _role(aws: AwsSession, name: str, service: str, actions: list[str]) -> str:
    """A role trusted by ``service`` (the administrator stands in for it) allowed ``actions`` on everything."""
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{aws.account_id}:user/{ADMIN_USER_NAME}"},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


JOB_ACTIONS = ["s3:*", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "logs:*"]


def _parquet(rows: int = 120) -> bytes:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    frame["label"] = (frame["a"] + frame["b"] > 0).astype(int)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


HYPERPARAMETERS = {
    "problem": "classification",
    "target": "label",
    "primary_metric": "roc_auc",
    "estimator": "logistic_regression",
    "n_trials": "2",
    "cv_folds": "2",
    "timeout_seconds": "60",
}


def _training_job(name: str, image: str, role: str, **overrides: object) -> dict:
    request: dict = {
        "TrainingJobName": name,
        "RoleArn": role,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": HYPERPARAMETERS,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/train/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/jobs"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    request.update(overrides)
    return request


def _processing_job(name: str, image: str, role: str, arguments: list[str], **overrides: object) -> dict:
    request: dict = {
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": {
            "ImageUri": image,
            "ContainerEntrypoint": ["python", "-m", "pipelines.container"],
            "ContainerArguments": arguments,
        },
        "ProcessingResources": CLUSTER,
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    request.update(overrides)
    return request


def _ended(sagemaker: object, kind: str, name: str) -> dict:
    describe = getattr(sagemaker, f"describe_{kind}_job")
    status_key = "TrainingJobStatus" if kind == "training" else "ProcessingJobStatus"
    name_key = "TrainingJobName" if kind == "training" else "ProcessingJobName"
    return wait_until(
        lambda: (d := describe(**{name_key: name}))[status_key] not in ("InProgress", "Stopping") and d,
        timeout=120,
        interval=0.2,
        message=f"{kind} job {name} never ended",
    )


def _log_messages(aws: AwsSession, group: str, job_name: str) -> list[str]:
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job_name}/algo-1-")
    return [
        event["message"]
        for stream in streams["logStreams"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    ]


# --- training jobs ----------------------------------------------------------------------------


def test_a_training_job_trains_a_real_model_as_its_role_and_uploads_model_tar_gz(
    aws: AwsSession, world: dict[str, str]
) -> None:
    # given: a Parquet train channel and a role that may read it and write the output
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet())
    role = _role(aws, "training-role", "sagemaker.amazonaws.com", JOB_ACTIONS)

    # when: the job is created (the call returns at once, as on AWS)
    sagemaker.create_training_job(**_training_job("train-ok-1", world["image"], role))
    seen = {sagemaker.describe_training_job(TrainingJobName="train-ok-1")["TrainingJobStatus"]}
    job = _ended(sagemaker, "training", "train-ok-1")
    seen.add(job["TrainingJobStatus"])

    # then: it went InProgress -> Completed through SageMaker's secondary statuses
    assert seen == {"InProgress", "Completed"}, job.get("FailureReason")
    transitions = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert transitions == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["TrainingStartTime"] <= job["TrainingEndTime"]
    # the model is at the documented key and holds what train wrote into /opt/ml/model
    key = "jobs/train-ok-1/output/model.tar.gz"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/{key}"
    archive = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert {"model.joblib", "model_metadata.json"} <= set(tar.getnames())
    # and its output is in CloudWatch Logs, in SageMaker's group and stream
    messages = _log_messages(aws, "/aws/sagemaker/TrainingJobs", "train-ok-1")
    assert any("model saved to" in m for m in messages), messages


def test_a_training_job_whose_role_cannot_read_its_channel_fails_with_access_denied(
    aws: AwsSession, world: dict[str, str]
) -> None:
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet())
    role = _role(aws, "no-read-role", "sagemaker.amazonaws.com", ["s3:ListBucket", "ecr:BatchGetImage"])
    previous = iam_enforcement.set_enforced(True)
    try:
        sagemaker.create_training_job(**_training_job("train-denied-1", world["image"], role))
        job = _ended(sagemaker, "training", "train-denied-1")
    finally:
        iam_enforcement.set_enforced(previous)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError:")
    assert "AccessDenied" in job["FailureReason"] and "GetObject" in job["FailureReason"]
    assert "ModelArtifacts" not in job


def test_a_training_job_over_its_max_runtime_is_stopped_with_the_reason(
    aws: AwsSession, world: dict[str, str]
) -> None:
    # a search far longer than the job may run: 1000 trials, up to 600 s
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet(2000))
    role = _role(aws, "slow-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    slow = {**HYPERPARAMETERS, "estimator": "random_forest", "n_trials": "1000", "timeout_seconds": "600"}
    request = _training_job(
        "train-slow-1",
        world["image"],
        role,
        HyperParameters=slow,
        StoppingCondition={"MaxRuntimeInSeconds": 3},
    )
    sagemaker.create_training_job(**request)
    job = _ended(sagemaker, "training", "train-slow-1")
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "MaxRuntimeInSeconds (3 s)" in job["FailureReason"]


def test_a_job_whose_image_tag_was_never_pushed_fails_naming_the_image(
    aws: AwsSession, world: dict[str, str]
) -> None:
    sagemaker = aws.client("sagemaker")
    role = _role(aws, "image-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    missing = world["image"].replace(f":{TAG}", ":9.9.9")
    sagemaker.create_training_job(**_training_job("train-noimage-1", missing, role))
    job = _ended(sagemaker, "training", "train-noimage-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("CannotStartContainerError")
    assert missing in job["FailureReason"]


def test_an_image_tag_is_immutable_once_pushed(
    aws: AwsSession, world: dict[str, str], tmp_path: object
) -> None:
    ecr = aws.client("ecr")
    same = push_local_image(ecr, REPOSITORY, TAG)  # the same checkout again: a no-op, as docker push
    assert same == ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"][0]["imageDigest"]
    changed = tmp_path / "checkout"  # type: ignore[operator]
    (changed / "core").mkdir(parents=True)
    (changed / "core" / "x.py").write_text("changed = True\n")
    with pytest.raises(ClientError) as err:
        push_local_image(ecr, REPOSITORY, TAG, root=changed)
    # ECR answers ImageTagAlreadyExistsException; moto 5.2.5 names it ImageAlreadyExistsException
    assert err.value.response["Error"]["Code"] == "ImageAlreadyExistsException"
    assert TAG in err.value.response["Error"]["Message"]


def test_a_job_name_cannot_be_used_twice(aws: AwsSession, world: dict[str, str]) -> None:
    sagemaker = aws.client("sagemaker")
    role = _role(aws, "twice-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    sagemaker.create_processing_job(**_processing_job("twice-1", world["image"], role, ["bogus"]))
    with pytest.raises(ClientError) as err:
        sagemaker.create_processing_job(**_processing_job("twice-1", world["image"], role, ["bogus"]))
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in err.value.response["Error"]["Message"]


# --- processing jobs --------------------------------------------------------------------------


def test_a_processing_job_moves_its_inputs_and_outputs(aws: AwsSession, world: dict[str, str]) -> None:
    # given: the train command run as a processing job, its inputs placed where train reads them and
    # its model directory as the job's output (only the tenantml entry point runs in the emulator)
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet())
    s3.put_object(Bucket=BUCKET, Key="config/hyperparameters.json", Body=json.dumps(HYPERPARAMETERS).encode())
    role = _role(aws, "processing-role", "sagemaker.amazonaws.com", JOB_ACTIONS)

    def s3_input(name: str, prefix: str, local: str) -> dict:
        source = {"S3Uri": f"s3://{BUCKET}/{prefix}", "LocalPath": local, "S3DataType": "S3Prefix"}
        return {"InputName": name, "S3Input": {**source, "S3InputMode": "File"}}

    output = {
        "S3Uri": f"s3://{BUCKET}/processed/model",
        "LocalPath": "/opt/ml/model",
        "S3UploadMode": "EndOfJob",
    }
    request = _processing_job(
        "process-ok-1",
        world["image"],
        role,
        ["train"],
        ProcessingInputs=[
            s3_input("data", "data/train/", "/opt/ml/input/data/train"),
            s3_input("config", "config/", "/opt/ml/input/config"),
        ],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "model", "S3Output": output}]},
        Environment={"TENANTML_LOG_LEVEL": "INFO"},
    )

    # when
    sagemaker.create_processing_job(**request)
    job = _ended(sagemaker, "processing", "process-ok-1")

    # then: the output directory was uploaded under its S3Uri, file by file
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["Environment"] == {"TENANTML_LOG_LEVEL": "INFO"}  # kept, where moto drops it
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="processed/model/")
    assert {item["Key"] for item in listed["Contents"]} == {
        "processed/model/model.joblib",
        "processed/model/model_metadata.json",
    }
    assert _log_messages(aws, "/aws/sagemaker/ProcessingJobs", "process-ok-1")


def test_a_processing_job_may_run_only_the_image_entry_point(aws: AwsSession, world: dict[str, str]) -> None:
    sagemaker = aws.client("sagemaker")
    role = _role(aws, "entry-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    request = _processing_job("process-sh-1", world["image"], role, ["-c", "echo hi"])
    request["AppSpecification"]["ContainerEntrypoint"] = ["sh"]
    sagemaker.create_processing_job(**request)
    job = _ended(sagemaker, "processing", "process-sh-1")
    assert job["ProcessingJobStatus"] == "Failed"
    assert "the emulator runs only the tenantml image's entry point" in job["FailureReason"]


def test_stop_processing_job_stops_it(aws: AwsSession, world: dict[str, str]) -> None:
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet(2000))
    role = _role(aws, "stop-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    slow = {**HYPERPARAMETERS, "estimator": "random_forest", "n_trials": "1000", "timeout_seconds": "600"}
    sagemaker.create_training_job(**_training_job("train-stop-1", world["image"], role, HyperParameters=slow))
    wait_until(
        lambda: (
            sagemaker.describe_training_job(TrainingJobName="train-stop-1")["SecondaryStatus"] == "Training"
        ),
        timeout=60,
    )
    sagemaker.stop_training_job(TrainingJobName="train-stop-1")
    job = _ended(sagemaker, "training", "train-stop-1")
    assert job["TrainingJobStatus"] == "Stopped"


# --- warm and cold job processes --------------------------------------------------------------


def _model_bytes(s3: object, job: dict) -> bytes:
    bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as archive:
        return archive.extractfile("model.joblib").read()


def test_a_job_forked_from_the_zygote_trains_the_same_model_as_one_started_cold(
    aws: AwsSession, world: dict[str, str], runner: jobs.JobRunner
) -> None:
    # given: the same training data, hyperparameters and role for two jobs
    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet())
    role = _role(aws, "warm-role", "sagemaker.amazonaws.com", JOB_ACTIONS)

    # when: one runs from the warm zygote, the other (a job setting a thread count the preloaded
    # libraries read at import) starts cold
    sagemaker.create_training_job(**_training_job("train-warm-1", world["image"], role))
    warm = _ended(sagemaker, "training", "train-warm-1")
    sagemaker.create_training_job(
        **_training_job("train-cold-1", world["image"], role, Environment={"OMP_NUM_THREADS": "1"})
    )
    cold = _ended(sagemaker, "training", "train-cold-1")

    # then: each started the way it should, and the model bytes are the same
    assert warm["TrainingJobStatus"] == cold["TrainingJobStatus"] == "Completed", (warm, cold)
    assert runner.find("training", aws.account_id, REGION, "train-warm-1").warm is True
    assert runner.find("training", aws.account_id, REGION, "train-cold-1").warm is False
    assert _model_bytes(s3, warm) == _model_bytes(s3, cold)
