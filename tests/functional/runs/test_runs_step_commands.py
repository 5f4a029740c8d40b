"""The image's step commands under moto, each as its processing job runs it: ``/opt/ml`` is a temporary
directory (``TENANTML_OPT_ML``), inputs are placed at the definition's local paths, outputs are read
from its output paths, the settings come from the job environment the state machine sets."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from runs_support import model_packages, object_versions

from core.sagemaker_paths import OPT_ML_ENV, opt_ml
from core.spec import ModelSpec
from pipelines.container import main
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHAMPION
from pipelines.runs.records import RunStatus, StepName, StepStatus, read_run_record
from pipelines.training.train import TrainingConfig
from tenantml.sample_data import upload_sample_dataset

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-acme-dev-images:1.0.0"
RUN_ID = "run-0123456789abcdef"


class Jobs:
    """Runs step commands as jobs of one run; each job gets a fresh ``/opt/ml``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, resources: Any, spec: ModelSpec) -> None:
        self.root, self.monkeypatch, self.resources, self.spec = root, monkeypatch, resources, spec
        self.count = 0
        env = {
            "TENANTML_RUN_ID": RUN_ID,
            "TENANTML_TENANT": resources.tenant,
            "TENANTML_ARTIFACTS_BUCKET": resources.artifacts_bucket,
            "TENANTML_MODELS_BUCKET": resources.models_bucket,
            "TENANTML_MODEL_PACKAGE_GROUP": resources.model_package_group,
            "TENANTML_KMS_KEY_ARN": resources.kms_key_arn,
            "TENANTML_IMAGE_URI": IMAGE,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    def execution(
        self, data_key: str, *, trigger: str = "data-arrival", version_id: str | None = None
    ) -> dict:
        return {
            "run_id": RUN_ID,
            "tenant": self.resources.tenant,
            "model": self.spec.name,
            "trigger": trigger,
            "data": {"bucket": self.resources.data_bucket, "key": data_key, "version_id": version_id},
            "cause": None,
            "settings": {"model_spec": self.spec.model_dump(mode="json"), "retraining_window_hours": 24},
        }

    def run(self, command: str, inputs: dict[str, Path | dict]) -> tuple[int, Path]:
        """``inputs``: container path -> a directory or file to place there, or a JSON document."""
        self.count += 1
        job = self.root / f"job-{self.count}-{command}"
        self.monkeypatch.setenv(OPT_ML_ENV, str(job))
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
        return main([command]), job


def _model_archive(model_dir: Path, archive: Path) -> Path:
    """What SageMaker does with /opt/ml/model at the end of a training job."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def _train(jobs: Jobs, train_dir: Path) -> Path:
    """The Train state's training job: hyperparameters, the train channel from prepare, the model out."""
    job = jobs.root / "job-train"
    jobs.monkeypatch.setenv(OPT_ML_ENV, str(job))
    hyper = TrainingConfig.from_spec(jobs.spec, n_trials=2, cv_folds=3).to_hyperparameters()
    config = opt_ml("/opt/ml/input/config")
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyper))
    shutil.copytree(train_dir, opt_ml("/opt/ml/input/data/train"))
    assert main(["train"]) == 0
    return _model_archive(opt_ml("/opt/ml/model"), jobs.root / "train-output" / "model.tar.gz")


@pytest.fixture
def jobs(aws, resources, spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Jobs:
    return Jobs(tmp_path, monkeypatch, resources, spec)


def test_prepare_train_evaluate_register_make_a_version_naming_the_image_and_cleanup_removes_it(
    jobs: Jobs, resources, boto_session
) -> None:
    # given: the sample dataset dropped under incoming/
    s3, sagemaker = boto_session.client("s3"), boto_session.client("sagemaker")
    upload_sample_dataset(s3, resources.data_bucket, key="incoming/sample.parquet")
    version_id = s3.head_object(Bucket=resources.data_bucket, Key="incoming/sample.parquet")["VersionId"]
    execution = jobs.execution("incoming/sample.parquet", version_id=version_id)
    run_input = {"/opt/ml/processing/input/run": execution}

    # when: prepare
    code, prepare_job = jobs.run("prepare", run_input)
    # then: train/holdout splits and the validation report at the definition's output paths
    assert code == 0, (prepare_job / "output" / "failure").read_text()
    out = prepare_job / "processing" / "output"
    assert (out / "train" / "part-00000.parquet").is_file() and (
        out / "holdout" / "part-00000.parquet"
    ).is_file()
    assert {p.name for p in (out / "report").iterdir()} == {
        "validation_report.json",
        "validation_report.html",
        "baseline.json",
    }
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.status is RunStatus.RUNNING and record.data_version_id == version_id
    assert [record.step(s).status for s in (StepName.INGEST, StepName.VALIDATE, StepName.TRAIN)] == [
        StepStatus.SUCCEEDED,
        StepStatus.SUCCEEDED,
        StepStatus.RUNNING,
    ]

    # when: the training job on the prepared channel, then evaluate
    model_archive = _train(jobs, out / "train")
    code, evaluate_job = jobs.run(
        "evaluate",
        {
            **run_input,
            "/opt/ml/processing/input/model": model_archive,
            "/opt/ml/processing/input/train": out / "train",
            "/opt/ml/processing/input/holdout": out / "holdout",
        },
    )
    assert code == 0, (evaluate_job / "output" / "failure").read_text()
    decision_dir = evaluate_job / "processing" / "output" / "decision"
    decision = json.loads((decision_dir / "decision.json").read_text())
    # then: approved (no champion yet, the minimum is met), with the gate's reasons and the comparison
    assert decision["status"] == "approved" and decision["reasons"]
    assert (
        evaluate_job / "processing" / "output" / "evaluation" / "comparison" / "evaluation_report.html"
    ).is_file()
    baseline = s3.get_object(Bucket=resources.artifacts_bucket, Key=f"runs/{RUN_ID}/baseline.json")
    assert json.loads(baseline["Body"].read())["prediction_distribution"]

    # when: register
    code, register_job = jobs.run(
        "register",
        {
            **run_input,
            "/opt/ml/processing/input/model": model_archive,
            "/opt/ml/processing/input/decision": decision_dir,
        },
    )
    assert code == 0, (register_job / "output" / "failure").read_text()
    # then: one version naming the tenant's image, champion, its artifact's sha256 that of the stored object
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.status is RunStatus.SUCCEEDED and record.alias == CHAMPION
    assert all(step.status is StepStatus.SUCCEEDED for step in record.steps)
    version = open_registry(sagemaker, resources.model_package_group).get_version_by_alias(CHAMPION)
    assert version.image_uri == IMAGE
    bucket, key = version.model_data_url.removeprefix("s3://").split("/", 1)
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert (
        hashlib.sha256(stored).hexdigest() == version.lineage.artifact_sha256 == record.model_artifact_sha256
    )
    assert version.lineage.run_id == RUN_ID and version.lineage.data_version_id == version_id
    with tarfile.open(fileobj=__import__("io").BytesIO(stored)) as tar:
        assert "baseline.json" in tar.getnames()

    # when: a later state fails (say Notify) and the failure path runs cleanup
    s3.put_object(
        Bucket=resources.models_bucket, Key=f"training-jobs/{RUN_ID}/job/output/model.tar.gz", Body=b"x"
    )
    s3.put_object(
        Bucket=resources.artifacts_bucket,
        Key=f"runs/{RUN_ID}/failure.json",
        Body=json.dumps(
            {"run_id": RUN_ID, "failed_step": "Notify", "failure": {"Error": "SNS.X", "Cause": "down"}}
        ),
    )
    code, _ = jobs.run("cleanup", run_input)
    # then: the run is failed, and nothing it put into the models bucket or the registry is left
    assert code == 0
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.status is RunStatus.FAILED and record.failed_state == "Notify"
    assert record.failed_step is StepName.REGISTER and "down" in record.error
    assert record.model_version is None and record.alias is None
    assert object_versions(s3, resources.models_bucket) == []
    assert model_packages(sagemaker, resources.model_package_group) == [] or all(
        p["ModelApprovalStatus"] == "Rejected"
        for p in model_packages(sagemaker, resources.model_package_group)
    )


def test_prepare_on_bad_data_fails_the_job_with_the_reason_and_cleanup_marks_the_run_failed(
    jobs: Jobs, resources, boto_session
) -> None:
    # given: a dataset without the target column
    s3 = boto_session.client("s3")
    s3.put_object(Bucket=resources.data_bucket, Key="incoming/bad.csv", Body=b"a,b\n1,2\n3,4\n")
    run_input = {"/opt/ml/processing/input/run": jobs.execution("incoming/bad.csv")}

    # when
    code, job = jobs.run("prepare", run_input)

    # then: exit 1, the failure file is the job's FailureReason, the record names the failed step
    assert code == 1
    reason = (job / "output" / "failure").read_text()
    assert "target" in reason
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.step(StepName.VALIDATE).status is StepStatus.FAILED
    assert record.artifacts["validation_report_html"].endswith("prepare/validation_report.html")
    s3.head_object(Bucket=resources.artifacts_bucket, Key=f"runs/{RUN_ID}/prepare/validation_report.html")

    # when: the failure path (RecordFailure wrote failure.json) runs cleanup
    s3.put_object(
        Bucket=resources.artifacts_bucket,
        Key=f"runs/{RUN_ID}/failure.json",
        Body=json.dumps(
            {"failed_step": "Prepare", "failure": {"Error": "States.TaskFailed", "Cause": reason}}
        ),
    )
    assert jobs.run("cleanup", run_input)[0] == 0
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.status is RunStatus.FAILED and record.failed_step is StepName.VALIDATE
    assert record.failed_state == "Prepare" and "target" in record.error
    assert [record.step(s).status for s in (StepName.TRAIN, StepName.REGISTER)] == [StepStatus.SKIPPED] * 2


def test_a_step_without_its_run_input_fails_naming_the_file(jobs: Jobs, resources, boto_session) -> None:
    code, job = jobs.run("evaluate", {})
    assert code == 1
    assert "/opt/ml/processing/input/run/execution.json" in (job / "output" / "failure").read_text()


def test_cleanup_of_a_run_killed_before_it_wrote_a_record_still_records_the_failure(
    jobs: Jobs, resources, boto_session
) -> None:
    # given: Train was killed; no step command wrote anything but the failure path's failure.json
    s3 = boto_session.client("s3")
    s3.put_object(
        Bucket=resources.artifacts_bucket,
        Key=f"runs/{RUN_ID}/failure.json",
        Body=json.dumps(
            {"failed_step": "Train", "failure": {"Error": "States.TaskFailed", "Cause": "killed"}}
        ),
    )
    code, _ = jobs.run("cleanup", {"/opt/ml/processing/input/run": jobs.execution("incoming/x.csv")})
    assert code == 0
    record = read_run_record(s3, resources.artifacts_bucket, RUN_ID)
    assert record.status is RunStatus.FAILED and record.failed_state == "Train"
    assert record.failed_step is StepName.TRAIN
    assert "killed" in record.error
