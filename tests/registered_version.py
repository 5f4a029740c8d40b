"""A registered model version made the way the pipeline state machine makes one, for tests that only
need a version to exist (monitoring, reproduce, the CLI under IAM enforcement).

:func:`register_version` runs the image's step commands in this process, in the order and with the
inputs the state machine's jobs get: ``prepare`` (processing job), ``train`` (training job, its
``model.tar.gz`` packed as SageMaker packs ``/opt/ml/model``), ``evaluate`` and ``register``. Each
job gets a fresh ``/opt/ml`` under ``work`` and the job environment the definition sets; the
process environment is restored afterwards. The AWS endpoint is whatever boto3 resolves from the
environment (moto's ``mock_aws``, or ``endpoint_url`` and ``credentials`` for the emulator).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.sagemaker_paths import OPT_ML_ENV, opt_ml
from core.spec import ModelSpec
from pipelines.container import main
from pipelines.data.uris import parse_s3_uri
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.config import PipelineConfig
from pipelines.runs.records import RunRecord, read_run_record

DEFAULT_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-test-images:1.0.0"


@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _place(job: Path, inputs: Mapping[str, Path | dict]) -> None:
    for container_path, source in inputs.items():
        target = opt_ml(container_path)
        if isinstance(source, dict):
            target.mkdir(parents=True, exist_ok=True)
            (target / "execution.json").write_text(json.dumps(source))
        elif source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / source.name)


def _job(work: Path, name: str, command: str, inputs: Mapping[str, Path | dict]) -> Path:
    job = work / f"job-{name}"
    os.environ[OPT_ML_ENV] = str(job)
    _place(job, inputs)
    if main([command]) != 0:
        failure = job / "output" / "failure"
        raise AssertionError(f"{command} failed: {failure.read_text() if failure.is_file() else '?'}")
    return job


def register_version(
    resources: Any,
    spec: ModelSpec,
    data: DataArrival | str,
    work: Path,
    *,
    run_id: str,
    image_uri: str = DEFAULT_IMAGE,
    endpoint_url: str | None = None,
    credentials: Any = None,
) -> RunRecord:
    """Run prepare, train, evaluate and register for ``data`` (an arrival or an ``s3://`` URI); return the run record (raises with the
    job's failure reason if a step fails). ``spec``'s search budget is the training job's."""
    config = PipelineConfig()
    if isinstance(data, str):
        bucket, key = parse_s3_uri(data)
        data = DataArrival(bucket=bucket, key=key)
    execution = {
        "run_id": run_id,
        "tenant": resources.tenant,
        "model": spec.name,
        "trigger": "data-arrival",
        "data": {"bucket": data.bucket, "key": data.key, "version_id": data.version_id},
        "cause": None,
        "settings": {"model_spec": spec.model_dump(mode="json"), "retraining_window_hours": 24},
    }
    env: dict[str, str | None] = {
        "TENANTML_RUN_ID": run_id,
        "TENANTML_TENANT": resources.tenant,
        "TENANTML_ARTIFACTS_BUCKET": resources.artifacts_bucket,
        "TENANTML_MODELS_BUCKET": resources.models_bucket,
        "TENANTML_MODEL_PACKAGE_GROUP": resources.model_package_group,
        "TENANTML_KMS_KEY_ARN": resources.kms_key_arn,
        "TENANTML_IMAGE_URI": image_uri,
        "AWS_REGION": resources.region,
        OPT_ML_ENV: None,
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    if credentials is not None:
        env |= {
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_SESSION_TOKEN": credentials.token,
            "AWS_SECURITY_TOKEN": credentials.token,  # botocore's older name, read when the other is unset
        }
    run_input = {"/opt/ml/processing/input/run": execution}
    with _environment(env):
        prepared = _job(work, "prepare", "prepare", run_input) / "processing" / "output"
        # the Train state's training job: the hyperparameters the definition passes, the train channel
        train_job = work / "job-train"
        os.environ[OPT_ML_ENV] = str(train_job)
        config_dir = opt_ml("/opt/ml/input/config")
        config_dir.mkdir(parents=True)
        hyper = config.training_config(spec).to_hyperparameters()
        (config_dir / "hyperparameters.json").write_text(json.dumps(hyper))
        shutil.copytree(prepared / "train", opt_ml("/opt/ml/input/data/train"))
        assert main(["train"]) == 0, "the training job failed"
        archive = work / "train-output" / "model.tar.gz"
        archive.parent.mkdir(parents=True)
        with tarfile.open(archive, "w:gz") as tar:  # what SageMaker does with /opt/ml/model
            for path in sorted(opt_ml("/opt/ml/model").iterdir()):
                tar.add(path, arcname=path.name)
        evaluated = _job(
            work,
            "evaluate",
            "evaluate",
            {
                **run_input,
                "/opt/ml/processing/input/model": archive,
                "/opt/ml/processing/input/train": prepared / "train",
                "/opt/ml/processing/input/holdout": prepared / "holdout",
            },
        )
        _job(
            work,
            "register",
            "register",
            {
                **run_input,
                "/opt/ml/processing/input/model": archive,
                "/opt/ml/processing/input/decision": evaluated / "processing" / "output" / "decision",
            },
        )
        import boto3

        s3 = boto3.session.Session(region_name=resources.region).client("s3")
        return read_run_record(s3, resources.artifacts_bucket, run_id)


__all__ = ["DEFAULT_IMAGE", "register_version"]
