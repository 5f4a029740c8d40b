"""Bad input and crashes fail a run cleanly: a clear reason, nothing registered, nothing left in the
models bucket, the record marked failed, and an alert a person can act on."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from runs_support import TENANT, model_packages, object_versions

from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.config import PipelineConfig
from pipelines.runs.pipeline import run_pipeline
from pipelines.runs.records import STEPS, RunStatus, StepName, StepStatus
from pipelines.training.executors import (
    LocalExecutor,
    SageMakerExecutor,
    SageMakerExecutorConfig,
    make_executor,
)
from pipelines.training.train import TrainingPaths, run_training_job
from tenantml.sample_data import sample_frame


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _without_target() -> bytes:
    return _parquet(sample_frame().drop(columns="target"))


def _with_timestamps() -> bytes:
    frame = sample_frame()
    frame["exported_at"] = pd.date_range("2025-01-01", periods=len(frame), freq="h")
    return _parquet(frame)


def _all_missing() -> bytes:
    frame = sample_frame()
    frame["mean radius"] = np.nan
    return _parquet(frame)


def _single_class() -> bytes:
    frame = sample_frame()
    frame["target"] = 1
    return _parquet(frame)


@dataclass(frozen=True)
class BadInput:
    key: str
    data: Callable[[], bytes]
    step: StepName
    reason: str
    max_bytes: int | None = None


BAD_INPUTS = {
    "corrupt parquet": BadInput(
        "incoming/corrupt.parquet",
        lambda: b"PAR1" + bytes(range(256)) * 4 + b"PAR1",
        StepName.INGEST,
        "cannot be read as parquet",
    ),
    "empty csv": BadInput("incoming/empty.csv", lambda: b"", StepName.INGEST, "file is empty"),
    "missing target": BadInput(
        "incoming/no_target.parquet",
        _without_target,
        StepName.VALIDATE,
        "column 'target': target_present: column is missing (the spec's target is 'target')",
    ),
    "wrong dtype": BadInput(
        "incoming/timestamps.parquet",
        _with_timestamps,
        StepName.VALIDATE,
        "column 'exported_at': supported_dtype: dtype datetime64",
    ),
    "all-missing column": BadInput(
        "incoming/all_missing.parquet",
        _all_missing,
        StepName.VALIDATE,
        "column 'mean radius': not_all_missing: every value is missing",
    ),
    "single class": BadInput(
        "incoming/one_class.parquet",
        _single_class,
        StepName.VALIDATE,
        "column 'target': min_classes: 1 distinct class(es) (only 1); classification needs at least 2",
    ),
    "over the size limit": BadInput(
        "incoming/big.parquet",
        lambda: _parquet(sample_frame()),
        StepName.INGEST,
        "over the limit of 10000 bytes; raise max_bytes or split the data",
        max_bytes=10_000,
    ),
}


def _assert_failed_cleanly(clients, resources, inbox, record, step: StepName, reason: str) -> dict:
    """The shared contract of every failed run; returns the alert received."""
    # the run is failed at that step with the reason; later steps were skipped
    assert record.status is RunStatus.FAILED
    assert record.failed_step is step
    assert reason in record.error
    statuses = {s.name: s.status for s in record.steps}
    index = STEPS.index(step)
    assert all(statuses[s] is StepStatus.SUCCEEDED for s in STEPS[:index])
    assert statuses[step] is StepStatus.FAILED
    assert all(statuses[s] is StepStatus.SKIPPED for s in STEPS[index + 1 :])
    # run.json in S3 says the same
    stored = json.loads(
        clients.s3.get_object(Bucket=resources.artifacts_bucket, Key=f"runs/{record.run_id}/run.json")[
            "Body"
        ].read()
    )
    assert (stored["status"], stored["failed_step"]) == ("failed", step.value)
    assert reason in stored["error"]
    assert reason in next(s for s in stored["steps"] if s["name"] == step.value)["error"]
    # nothing registered, nothing (not even an old version) left in the models bucket
    assert model_packages(clients.sagemaker, resources.model_package_group) == []
    assert object_versions(clients.s3, resources.models_bucket) == []
    # one alert on the tenant's topic, naming tenant, model, run, step, reason and where to look
    alerts = inbox.messages()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["Subject"] == f"tenantml {TENANT}/cancer: run {record.run_id} failed at {step.value}"
    text = alert["Message"]
    assert (
        f"Pipeline run {record.run_id} of model 'cancer' (tenant {TENANT}) failed in step {step.value}."
        in text
    )
    assert reason in text
    assert f"Run record: s3://{resources.artifacts_bucket}/runs/{record.run_id}/run.json" in text
    assert f"Step log:   s3://{resources.artifacts_bucket}/runs/{record.run_id}/logs/{step.value}.log" in text
    assert alert["MessageAttributes"]["tenantml.step"]["Value"] == step.value
    assert alert["MessageId"] == record.alert_message_id
    return alert


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_fails_the_run_with_a_clear_reason_and_leaves_nothing(
    clients, resources, inbox, spec, config, case
):
    # given a bad file arriving in the data bucket
    clients.s3.put_object(Bucket=resources.data_bucket, Key=case.key, Body=case.data())
    if case.max_bytes is not None:
        config = config.model_copy(update={"max_bytes": case.max_bytes})
    # when the pipeline runs on it
    record = run_pipeline(
        f"s3://{resources.data_bucket}/{case.key}",
        spec,
        resources,
        clients,
        executor=LocalExecutor(),
        config=config,
    )
    # then it failed in the expected step with the expected reason, and left nothing half-done
    alert = _assert_failed_cleanly(clients, resources, inbox, record, case.step, case.reason)
    if case.step is StepName.VALIDATE:
        # and the alert points at the validation report, which lists the failed check
        report_uri = (
            f"s3://{resources.artifacts_bucket}/runs/{record.run_id}/validation/validation_report.html"
        )
        assert f"Report:     {report_uri}" in alert["Message"]
        report = json.loads(
            clients.s3.get_object(
                Bucket=resources.artifacts_bucket,
                Key=f"runs/{record.run_id}/validation/validation_report.json",
            )["Body"].read()
        )
        assert report["passed"] is False
    else:
        assert "Report:" not in alert["Message"]
    # and no training data was staged for a run that never got past validation
    staged = clients.s3.list_objects_v2(
        Bucket=resources.artifacts_bucket, Prefix=f"runs/{record.run_id}/data/"
    )
    assert staged.get("KeyCount", 0) == 0


def _crash_after_partial_output(paths: TrainingPaths) -> None:
    """A training container that dies half-way: the real search runs, then the process is killed."""
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    (paths.model_dir / "model.joblib").write_bytes(b"half-written")
    raise MemoryError("training worker killed: out of memory at 3.9 GiB")


def test_a_crash_inside_in_process_training_fails_the_run_cleanly(clients, resources, inbox, spec, config):
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/cancer.parquet", Body=_parquet(sample_frame())
    )
    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/cancer.parquet",
        spec,
        resources,
        clients,
        executor=LocalExecutor(entry_point=_crash_after_partial_output),
        config=config,
    )
    _assert_failed_cleanly(
        clients,
        resources,
        inbox,
        record,
        StepName.TRAIN,
        "MemoryError: training worker killed: out of memory at 3.9 GiB",
    )
    # the data the job would have read was staged, so the failure can be reproduced
    staged = clients.s3.list_objects_v2(
        Bucket=resources.artifacts_bucket, Prefix=f"runs/{record.run_id}/data/train/"
    )
    assert staged["KeyCount"] == 1


def test_a_crash_inside_an_emulated_sagemaker_job_leaves_no_job_output(
    clients, resources, inbox, spec, config
):
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/cancer.parquet", Body=_parquet(sample_frame())
    )
    executor = SageMakerExecutor(
        clients.sagemaker,
        clients.s3,
        SageMakerExecutorConfig(
            image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-training:1",
            role_arn=resources.training_role_arn,
            output_path=f"s3://{resources.models_bucket}/training-jobs/",
            kms_key_arn=resources.kms_key_arn,
            emulated=True,
        ),
        entry_point=_crash_after_partial_output,
    )
    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/cancer.parquet",
        spec,
        resources,
        clients,
        executor=executor,
        config=config,
    )
    _assert_failed_cleanly(
        clients,
        resources,
        inbox,
        record,
        StepName.TRAIN,
        f"training job {record.training_job_name} failed: MemoryError: training worker killed",
    )


@pytest.mark.parametrize("executor_kind", ["local", "sagemaker"])
def test_a_failure_while_registering_removes_every_artifact_the_run_made(
    clients, resources, inbox, spec, config, executor_kind
):
    # given a tenant whose model package group does not exist (the stack was not deployed completely)
    resources = resources.model_copy(update={"model_package_group": "tenantml-acme-dev-not-deployed"})
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/cancer.parquet", Body=_parquet(sample_frame())
    )
    executor = make_executor(
        executor_kind, clients=clients, resources=resources, image_uri="training:1", emulated=True
    )
    # when a run gets as far as registering
    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/cancer.parquet",
        spec,
        resources,
        clients,
        executor=executor,
        config=config,
    )
    # then the content-addressed archive (and the training job's output) are gone again, listed in the record
    alert = _assert_failed_cleanly(
        clients, resources, inbox, record, StepName.REGISTER, "Model Package Group does not exist"
    )
    models = f"s3://{resources.models_bucket}/"
    expected = [f"{models}models/sha256/"]
    if executor_kind == "sagemaker":
        expected.append(f"{models}training-jobs/{record.training_job_name}/output/model.tar.gz")
    assert len(record.rolled_back) == len(expected)
    assert all(uri.startswith(prefix) for uri, prefix in zip(record.rolled_back, expected, strict=True))
    for uri in record.rolled_back:
        assert f"removed: {uri}" in alert["Message"]
    assert record.model_version is None and record.model_artifact_uri is None


def test_a_failed_run_keeps_the_existing_champion(clients, resources, inbox, spec, config):
    # given a champion
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/a.parquet", Body=_parquet(sample_frame())
    )
    first = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/a.parquet",
        spec,
        resources,
        clients,
        executor=LocalExecutor(),
        config=config,
    )
    assert first.succeeded
    before = object_versions(clients.s3, resources.models_bucket)
    # when a later run crashes in training
    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/a.parquet",
        spec,
        resources,
        clients,
        executor=LocalExecutor(entry_point=_crash_after_partial_output),
        config=config,
    )
    # then the champion, its version and its artifact are untouched
    assert record.status is RunStatus.FAILED
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    assert [v.version for v in registry.list_model_versions()] == [1]
    assert registry.get_version_by_alias("champion").version == 1
    assert object_versions(clients.s3, resources.models_bucket) == before
    assert len(inbox.messages()) == 1


def test_the_real_entry_point_failing_on_its_own_reports_the_training_error(clients, resources, inbox, spec):
    # given a job whose hyperparameters the real entry point rejects (cv_folds below its minimum)
    config = PipelineConfig(n_trials=1, cv_folds=3, importance_repeats=1)
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/a.parquet", Body=_parquet(sample_frame())
    )

    def entry_point(paths: TrainingPaths):
        hyperparameters = paths.hyperparameters_file
        values = json.loads(hyperparameters.read_text())
        hyperparameters.write_text(json.dumps({**values, "cv_folds": "1"}))  # below the allowed minimum
        return run_training_job(paths)

    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/a.parquet",
        spec,
        resources,
        clients,
        executor=LocalExecutor(entry_point=entry_point),
        config=config,
    )
    _assert_failed_cleanly(
        clients,
        resources,
        inbox,
        record,
        StepName.TRAIN,
        "TrainingConfigError: invalid training configuration",
    )
    assert "cv_folds" in record.error
