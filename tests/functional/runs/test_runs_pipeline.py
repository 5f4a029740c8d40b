"""A whole run under moto: data in the tenant's bucket -> a registered, evaluated model version."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pandas as pd
import pytest
from runs_support import TENANT, model_packages, object_versions

from core.errors import PipelineRunError
from pipelines.monitoring.baseline import Baseline
from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.pipeline import run_pipeline
from pipelines.runs.records import STEPS, RunStatus, StepStatus, read_run_record
from pipelines.training.executors import LocalExecutor
from tenantml.sample_data import sample_frame, sample_parquet_bytes


def _upload(s3, bucket: str, key: str, data: bytes) -> DataArrival:
    response = s3.put_object(Bucket=bucket, Key=key, Body=data)
    return DataArrival(
        bucket=bucket,
        key=key,
        version_id=response["VersionId"],
        size=len(data),
        etag=response["ETag"].strip('"'),
    )


def _keys(s3, bucket: str, prefix: str) -> set[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"].removeprefix(prefix) for item in listing.get("Contents", [])}


def _body(s3, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_first_run_registers_an_approved_champion_with_lineage_and_reports(clients, resources, spec, config):
    # given the sample dataset arriving in the tenant's data bucket
    data = sample_parquet_bytes()
    arrival = _upload(clients.s3, resources.data_bucket, "incoming/cancer.parquet", data)
    events = []

    # when the pipeline runs on that arrival
    record = run_pipeline(
        arrival, spec, resources, clients, executor=LocalExecutor(), config=config, progress=events.append
    )

    # then it succeeded step by step, in order, and told the progress callback about each step
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert [s.status for s in record.steps] == [StepStatus.SUCCEEDED] * len(STEPS)
    assert all(s.seconds is not None and s.seconds >= 0 for s in record.steps)
    assert [(e.step, e.status) for e in events] == [
        (step, status) for step in STEPS for status in (StepStatus.RUNNING, StepStatus.SUCCEEDED)
    ]
    # and version 1 is approved and holds the champion alias
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    version = registry.get_version_by_alias(CHAMPION)
    assert (record.model_version, record.alias) == (1, CHAMPION)
    assert version.version == 1 and version.approval_status is ApprovalStatus.APPROVED
    # with full lineage: exactly the object version that arrived, its bytes' sha256, the code revision
    lineage = version.lineage
    assert lineage.run_id == record.run_id
    assert lineage.data_uri == f"s3://{resources.data_bucket}/incoming/cancer.parquet"
    assert lineage.data_version_id == arrival.version_id
    assert lineage.data_sha256 == hashlib.sha256(data).hexdigest()
    assert lineage.code_revision == "0123456789abcdef0123456789abcdef01234567"
    assert lineage.parameters["estimator"] == "logistic_regression" and "C" in lineage.parameters
    assert (
        lineage.metrics["roc_auc"] == pytest.approx(record.metrics["roc_auc"])
        and lineage.metrics["roc_auc"] > 0.9
    )
    assert {"python", "scikit-learn", "numpy", "pandas"} <= lineage.library_versions.keys()
    # and the artifact in the models bucket is addressed by its own content
    archive = _body(clients.s3, version.model_data_url)
    digest = hashlib.sha256(archive).hexdigest()
    assert version.model_data_url == f"s3://{resources.models_bucket}/models/sha256/{digest}/model.tar.gz"
    assert lineage.artifact_sha256 == digest
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["baseline.json", "model.joblib", "model_metadata.json"]
        baseline = Baseline.from_json(tar.extractfile("baseline.json").read())
    assert baseline.prediction_distribution is not None and baseline.rows == 455

    # and everything the run wrote is under runs/<run_id>/ in the artifacts bucket
    prefix = f"runs/{record.run_id}/"
    written = _keys(clients.s3, resources.artifacts_bucket, prefix)
    assert {
        "run.json",
        "validation/validation_report.json",
        "validation/validation_report.html",
        "baseline.json",
        "gate.json",
        "data/train/part-00000.parquet",
        "data/holdout/part-00000.parquet",
        "evaluation/candidate/evaluation_report.html",
        "evaluation/candidate/evaluation.json",
        "evaluation/candidate/roc_curve.png",
        "evaluation/candidate/confusion_matrix.png",
        *(f"logs/{step.value}.log" for step in STEPS),
    } <= written
    png = _body(clients.s3, record.artifacts["plot_roc_curve"])
    assert png.startswith(b"\x89PNG")
    assert "<html" in _body(clients.s3, record.artifacts["evaluation_report"]).decode().lower()
    assert json.loads(_body(clients.s3, record.artifacts["validation_report_json"]))["passed"] is True
    stored_baseline = Baseline.from_json(_body(clients.s3, record.artifacts["baseline"]))
    assert stored_baseline.features.keys() == set(sample_frame().columns) - {"target"}
    assert "best cv roc_auc" in _body(clients.s3, record.step("train").log_uri).decode()
    # and the stored record is the returned one
    stored = read_run_record(clients.s3, resources.artifacts_bucket, record.run_id)
    assert stored.status is RunStatus.SUCCEEDED and stored.tenant == TENANT
    assert stored.model_version == 1 and stored.data_version_id == arrival.version_id
    assert stored.step("train").summary["trials"] == 2
    assert record.raise_for_status() is record


def test_a_weaker_candidate_is_compared_with_the_champion_and_waits_as_challenger(
    clients, resources, spec, config
):
    # given a champion trained on the clean sample
    executor = LocalExecutor()
    first = run_pipeline(
        _upload(clients.s3, resources.data_bucket, "incoming/cancer.parquet", sample_parquet_bytes()),
        spec,
        resources,
        clients,
        executor=executor,
        config=config,
    )
    assert first.alias == CHAMPION

    # when a run on a new version with a quarter of the labels flipped produces a weaker model
    noisy = sample_frame()
    flip = noisy.sample(frac=0.25, random_state=1).index
    noisy.loc[flip, "target"] = 1 - noisy.loc[flip, "target"]
    buffer = io.BytesIO()
    noisy.to_parquet(buffer, index=False)
    second = run_pipeline(
        _upload(clients.s3, resources.data_bucket, "incoming/cancer.parquet", buffer.getvalue()),
        spec,
        resources,
        clients,
        executor=executor,
        config=config,
    )

    # then both models were evaluated on the second run's holdout, and the gate held the candidate
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert second.champion_version == 1
    assert second.champion_metrics["roc_auc"] > second.metrics["roc_auc"]
    assert second.gate is not None and not second.gate.approved
    assert any("does not beat the champion" in reason for reason in second.gate.reasons)
    assert "champion_evaluation_report" in second.artifacts
    # and the run's evaluation report sets the two side by side with the decision
    compared = json.loads(_body(clients.s3, second.artifacts["evaluation_comparison_json"]))
    assert (compared["champion_version"], compared["decision"]["status"]) == (1, "pending")
    html = _body(clients.s3, second.artifacts["evaluation_report"]).decode()
    assert "champion (version 1)" in html and "does not beat the champion" in html
    # and it is registered, pending, as challenger; the champion stays
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    assert (second.model_version, second.alias, second.approval_status) == (
        2,
        CHALLENGER,
        "PendingManualApproval",
    )
    assert registry.get_version_by_alias(CHAMPION).version == 1
    assert registry.get_version_by_alias(CHALLENGER).version == 2
    assert len(model_packages(clients.sagemaker, resources.model_package_group)) == 2
    assert (
        len([v for v in object_versions(clients.s3, resources.models_bucket) if v.startswith("models/")]) == 2
    )


def test_a_uri_run_reads_the_current_version_and_raise_for_status_reports_failures(
    clients, resources, spec, config
):
    # given a CSV whose only feature is missing everywhere
    frame = pd.DataFrame({"f": [None] * 150, "target": [0, 1] * 75})
    clients.s3.put_object(
        Bucket=resources.data_bucket, Key="incoming/x.csv", Body=frame.to_csv(index=False).encode()
    )
    # when run by URI
    record = run_pipeline(
        f"s3://{resources.data_bucket}/incoming/x.csv",
        spec,
        resources,
        clients,
        executor=LocalExecutor(),
        config=config.model_copy(update={"publish_alerts": False}),
    )
    # then the record names the version it read, and raise_for_status raises with step and reason
    assert (
        record.data_version_id
        == clients.s3.head_object(Bucket=resources.data_bucket, Key="incoming/x.csv")["VersionId"]
    )
    with pytest.raises(PipelineRunError) as raised:
        record.raise_for_status()
    assert raised.value.step == "validate" and raised.value.run_id == record.run_id
    assert "not_all_missing" in str(raised.value) and record.record_uri in str(raised.value)


def test_a_champion_that_cannot_be_evaluated_makes_the_gate_hold_the_candidate(
    clients, resources, spec, config
):
    # given a champion whose archive is gone from the models bucket
    registry = SageMakerModelRegistry(clients.sagemaker, resources.model_package_group)
    missing = f"s3://{resources.models_bucket}/models/sha256/{'0' * 64}/model.tar.gz"
    old = registry.create_model_version(
        model_data_url=missing,
        image_uri="serving:1",
        lineage=Lineage(
            run_id="old-run",
            data_uri="s3://elsewhere/data.parquet",
            data_sha256="1" * 64,
            artifact_uri=missing,
            artifact_sha256="0" * 64,
        ),
        approval_status=ApprovalStatus.APPROVED,
    )
    registry.set_alias(CHAMPION, old.version)
    arrival = _upload(clients.s3, resources.data_bucket, "incoming/cancer.parquet", sample_parquet_bytes())

    # when a good candidate is trained
    record = run_pipeline(arrival, spec, resources, clients, executor=LocalExecutor(), config=config)

    # then the run succeeds, but a human must decide: the comparison could not be made
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert (record.champion_version, record.champion_metrics) == (1, {})
    assert not record.gate.approved
    assert (
        "the champion has no finite roc_auc on this holdout; a human must compare them" in record.gate.reasons
    )
    assert (record.model_version, record.alias) == (2, CHALLENGER)
    assert registry.get_version_by_alias(CHAMPION).version == 1
    evaluate_log = _body(clients.s3, record.step("evaluate").log_uri).decode()
    assert "champion version 1 cannot be evaluated on this holdout" in evaluate_log
