"""Where the training step runs: in this process, or as a SageMaker training job.

Both executors run the same entry point, :func:`pipelines.training.train.run_training_job`, over the
same SageMaker container layout (hyperparameters file, ``train`` channel, model directory), and
both hand back an unpacked model directory, so the rest of a pipeline run does not care which
one trained the model.

- :class:`LocalExecutor` lays the paths out in a scratch directory and calls the entry point.
- :class:`SageMakerExecutor` submits ``CreateTrainingJob`` through boto3 and waits for it. The
  AWS emulator (moto) accepts the job and reports it ``Completed`` at once without running
  anything; with ``emulated=True`` the executor plays the training container itself: it
  downloads the channel the job names, writes the job's hyperparameters, runs the entry point
  and uploads ``model.tar.gz`` exactly where the job says (``ModelArtifacts.S3ModelArtifacts``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from botocore.exceptions import ClientError, WaiterError
from pydantic import BaseModel, ConfigDict, Field

from core.errors import TrainingJobFailedError
from pipelines.data.uris import parse_s3_uri, s3_uri
from pipelines.registry.artifacts import MODEL_ARCHIVE_NAME, pack_model_dir, unpack_model_archive
from pipelines.training.train import (
    HYPERPARAMETERS_FILENAME,
    ModelMetadata,
    TrainingConfig,
    TrainingPaths,
    load_model,
    run_training_job,
)

log = logging.getLogger(__name__)

#: the training container's entry point: reads ``TrainingPaths``, writes the model directory
EntryPoint = Callable[[TrainingPaths], Any]
ExecutorKind = Literal["local", "sagemaker"]

TRAIN_CHANNEL = "train"
#: SageMaker's cap on MaxRuntimeInSeconds (28 days)
_MAX_RUNTIME = 28 * 24 * 3600
_JOB_NAME_LIMIT = 63


@dataclass(frozen=True)
class TrainingRequest:
    """One training job: what to train and where its data is."""

    run_id: str
    tenant: str
    config: TrainingConfig
    #: the ``train`` channel on local disk (the in-process executor reads it directly)
    train_dir: Path
    #: the same files in S3, as a prefix ending in ``/`` (a SageMaker job reads these)
    train_s3_prefix: str
    #: scratch space for this job; the executor may write anything under it
    work_dir: Path

    @property
    def job_name(self) -> str:
        return training_job_name(self.tenant, self.config.model_name, self.run_id)


@dataclass(frozen=True)
class TrainingResult:
    """A finished job: the unpacked model directory, and where the job left its archive."""

    model_dir: Path
    metadata: ModelMetadata
    executor: str
    job_name: str
    job_arn: str | None = None
    #: ``model.tar.gz`` as the job wrote it (SageMaker executor only)
    job_output_uri: str | None = None


@runtime_checkable
class Executor(Protocol):
    """Runs the training entry point somewhere and returns the trained model directory.

    Raises :class:`~core.errors.TrainingJobFailedError` when the job fails, with the
    failure reason the job reported.
    """

    name: str

    def train(self, request: TrainingRequest) -> TrainingResult: ...


def training_job_name(tenant: str, model_name: str, run_id: str) -> str:
    """A SageMaker-valid job name (``[a-zA-Z0-9-]``, at most 63 characters) unique per run."""
    suffix = re.sub(r"[^a-zA-Z0-9]", "", run_id)[-20:]
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", f"{tenant}-{model_name}").strip("-")
    stem = stem[: _JOB_NAME_LIMIT - len(suffix) - 1].strip("-")
    return f"{stem}-{suffix}" if stem else suffix


def write_hyperparameters(config_dir: Path, hyperparameters: dict[str, str]) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / HYPERPARAMETERS_FILENAME
    path.write_text(json.dumps(hyperparameters, indent=2, sort_keys=True), encoding="utf-8")
    return path


def run_entry_point(entry_point: EntryPoint, paths: TrainingPaths, job_name: str) -> None:
    """Run the training entry point as a container would; a failure leaves ``output/failure``
    (as SageMaker's FailureReason) and raises :class:`TrainingJobFailedError` with the reason."""
    try:
        entry_point(paths)
    except Exception as err:  # a training container may die of anything; the job fails with its reason
        reason = f"{type(err).__name__}: {err}"
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        (paths.output_dir / "failure").write_text(reason[:4096], encoding="utf-8")
        raise TrainingJobFailedError(
            f"training job {job_name} failed: {reason}", job_name=job_name, reason=reason
        ) from err


class LocalExecutor:
    """Runs the training entry point in this process, with SageMaker's paths under ``work_dir``."""

    name = "local"

    def __init__(self, entry_point: EntryPoint = run_training_job) -> None:
        self._entry_point = entry_point

    def train(self, request: TrainingRequest) -> TrainingResult:
        root = request.work_dir / "opt" / "ml"
        paths = TrainingPaths(
            config_dir=root / "input" / "config",
            train_channel=request.train_dir,
            model_dir=root / "model",
            output_dir=root / "output",
        )
        write_hyperparameters(paths.config_dir, request.config.to_hyperparameters())
        log.info("training job %s: running the entry point in-process", request.job_name)
        run_entry_point(self._entry_point, paths, request.job_name)
        trained = load_model(paths.model_dir)
        return TrainingResult(
            model_dir=paths.model_dir,
            metadata=trained.metadata,
            executor=self.name,
            job_name=request.job_name,
        )


class SageMakerExecutorConfig(BaseModel):
    """How training jobs are submitted. ``emulated`` is set by a caller pointed at the local emulator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image_uri: str = Field(min_length=1)
    role_arn: str = Field(min_length=1)
    #: ``s3://<models bucket>/training-jobs/``; each job writes ``<this>/<job name>/output/model.tar.gz``
    output_path: str = Field(pattern=r"^s3://[^/]+/.*/$")
    kms_key_arn: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1, le=1)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    #: the container's command; the image must contain this project
    entrypoint: tuple[str, ...] = ("python", "-m", "pipelines.training.train")
    #: added to the search timeout for loading data, the final fit and saving
    runtime_overhead_seconds: int = Field(default=900, ge=60)
    poll_seconds: int = Field(default=30, ge=1)
    network_isolation: bool = True
    emulated: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


class SageMakerExecutor:
    """Submits ``CreateTrainingJob`` and waits for it; see the module docstring for ``emulated``."""

    name = "sagemaker"

    def __init__(
        self,
        sagemaker: Any,
        s3: Any,
        config: SageMakerExecutorConfig,
        *,
        entry_point: EntryPoint = run_training_job,
    ) -> None:
        self._sm = sagemaker
        self._s3 = s3
        self.config = config
        self._entry_point = entry_point

    def training_job_request(self, request: TrainingRequest) -> dict[str, Any]:
        """The ``CreateTrainingJob`` arguments for ``request``."""
        cfg = self.config
        runtime = min(math.ceil(request.config.timeout_seconds) + cfg.runtime_overhead_seconds, _MAX_RUNTIME)
        algorithm: dict[str, Any] = {"TrainingImage": cfg.image_uri, "TrainingInputMode": "File"}
        if cfg.entrypoint:
            algorithm["ContainerEntrypoint"] = list(cfg.entrypoint)
            algorithm["ContainerArguments"] = ["train"]
        output: dict[str, Any] = {"S3OutputPath": cfg.output_path}
        resources: dict[str, Any] = {
            "InstanceType": cfg.instance_type,
            "InstanceCount": cfg.instance_count,
            "VolumeSizeInGB": cfg.volume_size_gb,
        }
        if cfg.kms_key_arn:
            output["KmsKeyId"] = cfg.kms_key_arn
            resources["VolumeKmsKeyId"] = cfg.kms_key_arn
        tags = {
            **cfg.tags,
            "tenantml:tenant": request.tenant,
            "tenantml:model": request.config.model_name,
            "tenantml:run-id": request.run_id,
        }
        return {
            "TrainingJobName": request.job_name,
            "AlgorithmSpecification": algorithm,
            "RoleArn": cfg.role_arn,
            "HyperParameters": request.config.to_hyperparameters(),
            "InputDataConfig": [
                {
                    "ChannelName": TRAIN_CHANNEL,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": request.train_s3_prefix,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "InputMode": "File",
                }
            ],
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
            "EnableNetworkIsolation": cfg.network_isolation,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }

    def train(self, request: TrainingRequest) -> TrainingResult:
        kwargs = self.training_job_request(request)
        job_name = kwargs["TrainingJobName"]
        arn = self._sm.create_training_job(**kwargs)["TrainingJobArn"]
        log.info("training job %s submitted (%s)", job_name, arn)
        if self.config.emulated:
            self._play_container(job_name, request.work_dir / "container")
        job = self._wait(job_name, kwargs["StoppingCondition"]["MaxRuntimeInSeconds"])
        output_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
        try:
            model_dir = self._fetch_model(job_name, output_uri, request.work_dir)
            trained = load_model(model_dir)
        except Exception:
            if self.config.emulated:  # this process uploaded it; do not leave it behind
                delete_object_versions(self._s3, *parse_s3_uri(output_uri))
            raise
        return TrainingResult(
            model_dir=model_dir,
            metadata=trained.metadata,
            executor=self.name,
            job_name=job_name,
            job_arn=arn,
            job_output_uri=output_uri,
        )

    def _wait(self, job_name: str, max_runtime: int) -> dict[str, Any]:
        if not self.config.emulated:
            attempts = max(1, math.ceil((max_runtime + 600) / self.config.poll_seconds))
            waiter = self._sm.get_waiter("training_job_completed_or_stopped")
            try:
                waiter.wait(
                    TrainingJobName=job_name,
                    WaiterConfig={"Delay": self.config.poll_seconds, "MaxAttempts": attempts},
                )
            except WaiterError as err:
                # the waiter gives up on "Failed" too; the description below says why, or that it
                # is still running after the longest it may run
                log.warning("training job %s: waiter stopped: %s", job_name, err)
        job = self._sm.describe_training_job(TrainingJobName=job_name)
        status = job["TrainingJobStatus"]
        if status != "Completed":
            reason = job.get("FailureReason") or f"job is {status} after the waiter gave up"
            raise TrainingJobFailedError(
                f"training job {job_name} {status.lower()}: {reason}", job_name=job_name, reason=reason
            )
        log.info("training job %s completed", job_name)
        return job

    def _play_container(self, job_name: str, root: Path) -> None:
        """Do what the training container would: the job as recorded by the emulator is the input."""
        job = self._sm.describe_training_job(TrainingJobName=job_name)
        paths = TrainingPaths(
            config_dir=root / "input" / "config",
            train_channel=root / "input" / "data" / TRAIN_CHANNEL,
            model_dir=root / "model",
            output_dir=root / "output",
        )
        write_hyperparameters(paths.config_dir, dict(job.get("HyperParameters") or {}))
        for channel in job["InputDataConfig"]:
            prefix = channel["DataSource"]["S3DataSource"]["S3Uri"]
            count = download_prefix(self._s3, prefix, root / "input" / "data" / channel["ChannelName"])
            log.info(
                "emulated job %s: channel %s has %d file(s) from %s",
                job_name,
                channel["ChannelName"],
                count,
                prefix,
            )
        run_entry_point(self._entry_point, paths, job_name)
        archive = pack_model_dir(paths.model_dir, root / MODEL_ARCHIVE_NAME)
        bucket, key = parse_s3_uri(job["ModelArtifacts"]["S3ModelArtifacts"])
        extra: dict[str, Any] = {}
        kms_key = job.get("OutputDataConfig", {}).get("KmsKeyId")
        if kms_key:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
        with archive.open("rb") as body:
            self._s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        log.info("emulated job %s: model archive uploaded to %s", job_name, s3_uri(bucket, key))

    def _fetch_model(self, job_name: str, uri: str, work_dir: Path) -> Path:
        bucket, key = parse_s3_uri(uri)
        archive = work_dir / "job-output" / MODEL_ARCHIVE_NAME
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._s3.download_file(bucket, key, str(archive))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey"}:
                raise
            reason = (
                f"the job reports Completed but wrote no model archive at {uri}; on the local emulator, "
                "which runs no training jobs, set emulated=True on the executor config"
            )
            raise TrainingJobFailedError(
                f"training job {job_name}: {reason}", job_name=job_name, reason=reason
            ) from err
        return unpack_model_archive(archive, work_dir / "job-output" / "model")


def make_executor(
    kind: ExecutorKind,
    *,
    clients: Any = None,
    resources: Any = None,
    image_uri: str | None = None,
    emulated: bool = False,
    entry_point: EntryPoint = run_training_job,
) -> Executor:
    """An executor by name. ``sagemaker`` needs ``clients`` (with ``sagemaker`` and ``s3``),
    the tenant ``resources`` (role, models bucket, KMS key) and a training image URI."""
    if kind == "local":
        return LocalExecutor(entry_point)
    if kind != "sagemaker":
        raise ValueError(f"unknown executor {kind!r}; use 'local' or 'sagemaker'")
    image = image_uri or getattr(resources, "training_image_uri", None)
    if not image:
        raise ValueError(
            "the sagemaker executor needs a training image URI (an ECR image containing this project); "
            "set TENANTML_TRAINING_IMAGE_URI or pass --training-image"
        )
    config = SageMakerExecutorConfig(
        image_uri=image,
        role_arn=resources.training_role_arn,
        output_path=f"s3://{resources.models_bucket}/training-jobs/",
        kms_key_arn=resources.kms_key_arn,
        emulated=emulated,
    )
    return SageMakerExecutor(clients.sagemaker, clients.s3, config, entry_point=entry_point)


def download_prefix(s3: Any, prefix_uri: str, destination: Path) -> int:
    """Download every object under an S3 prefix into ``destination``, keeping relative paths."""
    bucket, prefix = parse_s3_uri(prefix_uri)
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/")
            if not relative or relative.endswith("/"):
                continue
            target = (destination / relative).resolve()
            if not target.is_relative_to(destination.resolve()):
                raise ValueError(f"S3 key {item['Key']!r} escapes the channel directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            count += 1
    return count


def delete_object_versions(s3: Any, bucket: str, key: str) -> int:
    """Delete every version and delete marker of exactly ``key``, so nothing is left, not even
    a noncurrent version in a versioned bucket; return how many were deleted."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if item["Key"] != key:
                continue
            s3.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
            deleted += 1
    return deleted


__all__ = [
    "EntryPoint",
    "Executor",
    "ExecutorKind",
    "LocalExecutor",
    "SageMakerExecutor",
    "SageMakerExecutorConfig",
    "TrainingRequest",
    "TrainingResult",
    "delete_object_versions",
    "download_prefix",
    "make_executor",
    "run_entry_point",
    "training_job_name",
    "write_hyperparameters",
]
