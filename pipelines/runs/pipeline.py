"""A pipeline run: from a data arrival to a registered, evaluated model version.

``run_pipeline`` composes the library's steps::

    ingest -> validate (+ baseline) -> train (search, via an executor) -> evaluate (candidate and
    champion, same holdout) -> gate -> register (content-addressed artifact, lineage, alias)

Everything a run produces goes to the tenant's artifacts bucket under ``runs/<run_id>/``: the run
record (``run.json``, rewritten at every step change so a running run is visible), a log per
step, the validation report (JSON and HTML), the training-data baseline, the train/holdout
splits, the evaluation reports (HTML with PNG plots) and the gate decision.

A failing step fails the run: the remaining steps are skipped, anything the run put into the
models bucket is deleted (every version), a model version created in the registry is removed
(or rejected where the registry cannot delete), the record says which step failed and why, and
an alert goes to the tenant's SNS topic. ``run_pipeline`` returns the record either way;
:meth:`RunRecord.raise_for_status` turns a failed run into :class:`PipelineRunError`.

The data-arrival Lambda starts runs through :mod:`pipelines.runs.arrivals_handler`; the
configuration is read by :mod:`pipelines.runs.config`.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from core.errors import (
    ModelVersionNotFoundError,
    Problem,
    TenantmlError,
    TenantResourcesError,
)
from core.spec import ModelSpec
from pipelines.data.datasets import Dataset, load_dataset, split_holdout
from pipelines.data.uris import parse_s3_uri, s3_uri
from pipelines.data.validation import ValidationReport, check_dataset
from pipelines.evaluation.comparison import COMPARISON_HTML, COMPARISON_JSON, write_comparison_report
from pipelines.evaluation.evaluate import EvaluationResult, evaluate_model
from pipelines.evaluation.gate import GateDecision, decide_promotion
from pipelines.monitoring.alerts import RunFailureAlert, publish_run_failure
from pipelines.monitoring.baseline import Baseline, compute_baseline, with_prediction_distribution
from pipelines.registry.artifacts import (
    download_artifact,
    pack_model_dir,
    unpack_model_archive,
    upload_artifact,
)
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus, ModelRegistry, ModelVersion
from pipelines.registry.lineage import DataSource, Lineage, code_revision, library_versions
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.config import DEFAULT_SERVING_IMAGE, PipelineConfig
from pipelines.runs.records import (
    RUN_RECORD_NAME,
    STEPS,
    RunRecord,
    RunStatus,
    StepName,
    StepRecord,
    StepStatus,
    new_run_id,
    run_prefix,
)
from pipelines.runs.resources import TenantResources
from pipelines.training.executors import Executor, TrainingRequest, delete_object_versions
from pipelines.training.train import load_model

log = logging.getLogger(__name__)


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class AwsClients:
    """The boto3 clients a run uses; made by the caller (never at import time)."""

    s3: Any
    sagemaker: Any
    sns: Any

    @classmethod
    def create(
        cls, *, region: str | None = None, endpoint_url: str | None = None, session: Any = None
    ) -> AwsClients:
        import boto3

        # boto3's default session, unless given one: a new session re-reads every service model
        session = session or boto3
        kwargs: dict[str, Any] = {}
        if region:
            kwargs["region_name"] = region
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return cls(
            s3=session.client("s3", **kwargs),
            sagemaker=session.client("sagemaker", **kwargs),
            sns=session.client("sns", **kwargs),
        )


@dataclass(frozen=True)
class StepEvent:
    """Sent to the progress callback whenever a step changes status."""

    run_id: str
    step: StepName
    status: StepStatus
    index: int
    total: int
    seconds: float | None = None
    message: str | None = None


ProgressCallback = Callable[[StepEvent], None]


def run_pipeline(
    arrival_or_uri: DataArrival | str,
    spec: ModelSpec,
    resources: TenantResources,
    clients: AwsClients,
    *,
    executor: Executor,
    config: PipelineConfig | None = None,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    trigger: str = "manual",
    work_dir: Path | None = None,
    registry: ModelRegistry | None = None,
    data_sources: Sequence[DataSource] = (),
) -> RunRecord:
    """Run the whole pipeline once for one dataset; return the run record (succeeded or failed).

    ``arrival_or_uri`` is a :class:`DataArrival` (the run reads exactly that object version) or an
    ``s3://`` URI (the current version). Only errors writing the run record or publishing the
    alert escape; every step failure is captured in the returned record. ``registry`` defaults to
    the tenant's (:func:`~pipelines.registry.factory.open_registry` over ``clients.sagemaker``).
    """
    if resources.tenant is None:
        raise TenantResourcesError(
            [Problem("tenant", "is missing; pass it to TenantResources (TENANTML_TENANT in Lambda)")]
        )
    run = _Run(
        arrival_or_uri,
        spec,
        resources,
        clients,
        executor=executor,
        config=config or PipelineConfig(),
        run_id=run_id or new_run_id(),
        progress=progress,
        trigger=trigger,
        registry=registry or open_registry(clients.sagemaker, resources.model_package_group),
    )
    # an assembled dataset (a retrain's reference + labelled traffic) names its sources in the lineage
    run.record.data_sources = list(data_sources)
    if work_dir is not None:
        return run.execute(Path(work_dir))
    with tempfile.TemporaryDirectory(prefix=f"tenantml-run-{run.record.run_id}-") as scratch:
        return run.execute(Path(scratch))


class _StepFailed(Exception):
    """Internal: a step failed and the record says why; stop the run."""


class _Run:
    """The state of one run while it executes."""

    def __init__(
        self,
        source: DataArrival | str,
        spec: ModelSpec,
        resources: TenantResources,
        clients: AwsClients,
        *,
        executor: Executor,
        config: PipelineConfig,
        run_id: str,
        progress: ProgressCallback | None,
        trigger: str,
        registry: ModelRegistry,
    ) -> None:
        self.source = source
        self.spec = spec
        self.resources = resources
        self.clients = clients
        self.executor = executor
        self.config = config
        self.progress = progress
        self.bucket = resources.artifacts_bucket
        self.prefix = run_prefix(run_id)
        self.registry = registry
        data_uri = source.uri if isinstance(source, DataArrival) else str(source)
        self.record = RunRecord(
            run_id=run_id,
            tenant=resources.tenant or "",
            model_name=spec.name,
            trigger=trigger,
            record_uri=s3_uri(self.bucket, f"{self.prefix}/{RUN_RECORD_NAME}"),
            executor=executor.name,
            code_revision=config.code_revision or code_revision(),
            started_at=datetime.now(UTC),
            steps=[StepRecord(name=name) for name in STEPS],
            data_uri=data_uri,
            data_version_id=source.version_id if isinstance(source, DataArrival) else None,
        )
        # results handed from step to step
        self.dataset: Dataset | None = None
        self.train: pd.DataFrame | None = None
        self.holdout: pd.DataFrame | None = None
        self.baseline: Baseline | None = None
        self.train_dir: Path | None = None
        self.model_dir: Path | None = None
        self.model: Any = None
        self.training_metadata: Any = None
        self.candidate: EvaluationResult | None = None
        self.champion: ModelVersion | None = None
        self.decision: GateDecision | None = None
        self.work = Path()
        # what to undo if the run fails
        self._job_output_uri: str | None = None
        self._uploaded_artifact: str | None = None
        self._created_package: str | None = None

    # --- the run ------------------------------------------------------------------------

    def execute(self, work: Path) -> RunRecord:
        self.work = work
        started = time.perf_counter()
        self._save_record()
        log.info(
            "run %s of %s/%s started on %s",
            self.record.run_id,
            self.record.tenant,
            self.spec.name,
            self.record.data_uri,
        )
        steps: list[tuple[StepName, Callable[[StepRecord], None]]] = [
            (StepName.INGEST, self._ingest),
            (StepName.VALIDATE, self._validate),
            (StepName.TRAIN, self._train),
            (StepName.EVALUATE, self._evaluate),
            (StepName.GATE, self._gate),
            (StepName.REGISTER, self._register),
        ]
        try:
            for name, body in steps:
                self._run_step(name, body)
        except _StepFailed:
            self._fail(started)
            return self.record
        self.record.status = RunStatus.SUCCEEDED
        self.record.finished_at = datetime.now(UTC)
        self.record.seconds = round(time.perf_counter() - started, 3)
        self._save_record()
        log.info(
            "run %s succeeded: version %s (%s)",
            self.record.run_id,
            self.record.model_version,
            self.record.alias,
        )
        return self.record

    def _run_step(self, name: StepName, body: Callable[[StepRecord], None]) -> None:
        step = self.record.step(name)
        step.status = StepStatus.RUNNING
        step.started_at = datetime.now(UTC)
        self._save_record()
        self._notify(step)
        started = time.perf_counter()
        failure: BaseException | None = None
        with _capture_logs() as lines:
            try:
                body(step)
            # the run boundary: whatever a step raises is recorded, rolled back and alerted, not lost
            except Exception as err:
                failure = err
                log.error("step %s failed: %s", name.value, _describe(err), exc_info=not _expected(err))
        step.seconds = round(time.perf_counter() - started, 3)
        step.finished_at = datetime.now(UTC)
        step.log_uri = self._put_text(f"logs/{name.value}.log", "\n".join(lines) + "\n", "text/plain")
        self.record.artifacts[f"log_{name.value}"] = step.log_uri
        if failure is None:
            step.status = StepStatus.SUCCEEDED
            self._save_record()
            self._notify(step)
            return
        step.status = StepStatus.FAILED
        step.error = _describe(failure)
        self.record.failed_step = name
        self.record.error = step.error
        self.record.error_type = type(failure).__name__
        self._notify(step, message=step.error)
        raise _StepFailed from failure

    def _fail(self, started: float) -> None:
        for step in self.record.steps:
            if step.status is StepStatus.PENDING:
                step.status = StepStatus.SKIPPED
                self._notify(step)
        self._roll_back()
        self.record.status = RunStatus.FAILED
        self.record.finished_at = datetime.now(UTC)
        self.record.seconds = round(time.perf_counter() - started, 3)
        self._save_record()
        log.warning("run %s failed in %s: %s", self.record.run_id, self.record.failed_step, self.record.error)
        if self.config.publish_alerts:
            failed = self.record.failed_step
            alert = RunFailureAlert(
                tenant=self.record.tenant,
                model_name=self.record.model_name,
                run_id=self.record.run_id,
                step=failed.value if failed else None,
                reason=self.record.error or "unknown",
                data_uri=self.record.data_uri,
                run_record_uri=self.record.record_uri,
                report_uri=self.record.report_uri,
                log_uri=self.record.step(failed).log_uri if failed else None,
                rolled_back=self.record.rolled_back,
            )
            self.record.alert_message_id = publish_run_failure(
                self.clients.sns, self.resources.alerts_topic_arn, alert
            )
            self._save_record()

    def _roll_back(self) -> None:
        """Undo what a failed run left in the models bucket and the registry."""
        s3 = self.clients.s3
        if self._created_package:
            self.record.rolled_back.append(self._remove_package(self._created_package))
        for uri in (self._uploaded_artifact, self._job_output_uri):
            if uri:
                bucket, key = parse_s3_uri(uri)
                if delete_object_versions(s3, bucket, key):
                    self.record.rolled_back.append(uri)
        self.record.model_version = None
        self.record.model_package_arn = None
        self.record.alias = None
        self.record.approval_status = None
        self.record.model_artifact_uri = None
        self.record.model_artifact_sha256 = None

    def _remove_package(self, arn: str) -> str:
        try:
            self.clients.sagemaker.delete_model_package(ModelPackageName=arn)
            return arn
        except (ClientError, NotImplementedError) as err:
            # the emulator (moto 5.2.5) does not implement DeleteModelPackage: reject the version instead,
            # so nothing can deploy it and the registry says why
            log.warning("cannot delete model package %s (%s); marking it Rejected", arn, err)
            version = int(arn.rsplit("/", 1)[-1])
            self.registry.update_approval_status(
                version,
                ApprovalStatus.REJECTED,
                reason=f"run {self.record.run_id} failed after registering this version: {self.record.error}",
            )
            return f"{arn} (rejected)"

    # --- the steps ----------------------------------------------------------------------

    def _ingest(self, step: StepRecord) -> None:
        s3 = self.clients.s3
        source = self.source
        if isinstance(source, DataArrival) and source.version_id:
            # read exactly the version the event announced, even if the key was overwritten since
            s3 = PinnedVersion(s3, source.version_id)
        uri = source.uri if isinstance(source, DataArrival) else source
        dataset = load_dataset(uri, s3=s3, max_bytes=self.config.max_bytes)
        provenance = dataset.provenance
        self.dataset = dataset
        self.record.data_version_id = provenance.version_id
        self.record.data_sha256 = provenance.sha256
        self.record.data_size_bytes = provenance.size_bytes
        step.summary = {
            "rows": len(dataset.frame),
            "columns": dataset.frame.shape[1],
            "bytes": provenance.size_bytes,
            "format": provenance.format,
            "sha256": provenance.sha256,
            "version_id": provenance.version_id,
        }
        log.info(
            "read %s (%s, %d bytes, version %s): %d rows x %d columns",
            uri,
            provenance.format,
            provenance.size_bytes,
            provenance.version_id,
            *dataset.frame.shape,
        )

    def _validate(self, step: StepRecord) -> None:
        assert self.dataset is not None
        frame = self.dataset.frame
        report: ValidationReport = check_dataset(
            frame, self.spec, config=self.config.validation, dataset=self.record.data_uri
        )
        self.record.artifacts["validation_report_json"] = self._put_text(
            "validation/validation_report.json", report.to_json(), "application/json"
        )
        self.record.artifacts["validation_report_html"] = self._put_text(
            "validation/validation_report.html", report.to_html(), "text/html"
        )
        step.summary = {"checks": len(report.checks), "failed": len(report.failures), "rows": report.rows}
        log.info("%d checks, %d failed", len(report.checks), len(report.failures))
        report.raise_for_failures()

        train, holdout = split_holdout(
            frame, self.spec, test_size=self.config.holdout_fraction, seed=self.config.seed
        )
        self.train, self.holdout = train, holdout
        self.dataset = None  # the splits are all the later steps need
        self.baseline = compute_baseline(train, self.spec, seed=self.config.seed)
        self.record.artifacts["baseline"] = self._put_text(
            "baseline.json", self.baseline.to_json(), "application/json"
        )
        self.train_dir = self.work / "channels" / "train"
        self.train_dir.mkdir(parents=True, exist_ok=True)
        train.to_parquet(self.train_dir / "part-00000.parquet", index=False)
        self.record.artifacts["train_data"] = self._put_file(
            "data/train/part-00000.parquet", self.train_dir / "part-00000.parquet"
        )
        self.record.artifacts["holdout_data"] = self._put_bytes(
            "data/holdout/part-00000.parquet", _parquet_bytes(holdout), "application/vnd.apache.parquet"
        )
        step.summary.update({"train_rows": len(train), "holdout_rows": len(holdout)})
        log.info("split into %d training and %d holdout rows; baseline saved", len(train), len(holdout))

    def _train(self, step: StepRecord) -> None:
        assert self.train is not None and self.train_dir is not None and self.baseline is not None
        training = self.config.training_config(self.spec)
        request = TrainingRequest(
            run_id=self.record.run_id,
            tenant=self.record.tenant,
            config=training,
            train_dir=self.train_dir,
            train_s3_prefix=s3_uri(self.bucket, f"{self.prefix}/data/train/"),
            work_dir=self.work / "training",
        )
        self.record.training_job_name = request.job_name
        result = self.executor.train(request)
        self._job_output_uri = result.job_output_uri
        self.model_dir = result.model_dir
        trained = load_model(result.model_dir)
        self.model = trained.pipeline
        self.training_metadata = trained.metadata
        # the baseline gains the model's prediction distribution on its own training rows
        self.baseline = with_prediction_distribution(
            self.baseline, self.model, self.train, self.spec, seed=self.config.seed
        )
        (result.model_dir / "baseline.json").write_text(self.baseline.to_json(), encoding="utf-8")
        self.record.artifacts["baseline"] = self._put_text(
            "baseline.json", self.baseline.to_json(), "application/json"
        )
        meta = trained.metadata
        step.summary = {
            "executor": result.executor,
            "job_name": result.job_name,
            "estimator": meta.estimator,
            "cv_score": meta.cv_score,
            "metric": meta.primary_metric,
            "best_params": meta.best_params,
            "trials": meta.n_trials,
            "pruned": meta.n_pruned,
        }
        if result.job_output_uri:
            step.summary["job_output_uri"] = result.job_output_uri
        log.info("best cv %s %.6f after %d trials", meta.primary_metric, meta.cv_score, meta.n_trials)

    def _evaluate(self, step: StepRecord) -> None:
        assert self.holdout is not None
        out = self.work / "evaluation"
        candidate = evaluate_model(
            self.model,
            self.holdout,
            self.spec,
            out / "candidate",
            importance_rows=self.config.importance_rows,
            importance_repeats=self.config.importance_repeats,
            seed=self.config.seed,
        )
        self.candidate = candidate
        self.record.metrics = dict(candidate.metrics)
        uploaded = self._put_dir("evaluation/candidate", out / "candidate")
        self.record.artifacts["evaluation_report"] = uploaded["evaluation_report.html"]
        self.record.artifacts["evaluation_json"] = uploaded["evaluation.json"]
        for name, file in candidate.plots.items():
            self.record.artifacts[f"plot_{name}"] = uploaded[file]
        log.info("candidate on %d holdout rows: %s", candidate.rows, _metrics_text(candidate.metrics))

        try:
            self.champion = self.registry.get_version_by_alias(CHAMPION)
        except ModelVersionNotFoundError:
            self.champion = None
            log.info("no champion yet")
        if self.champion is not None:
            self.record.champion_version = self.champion.version
            self.record.champion_metrics = self._evaluate_champion(self.champion, out / "champion")
            if self.record.champion_metrics:
                champion_files = self._put_dir("evaluation/champion", out / "champion")
                self.record.artifacts["champion_evaluation_report"] = champion_files["evaluation_report.html"]
        step.summary = {
            "holdout_rows": candidate.rows,
            "holdout_sha256": candidate.holdout_sha256,
            "candidate": candidate.metrics,
            "champion_version": self.record.champion_version,
            "champion": self.record.champion_metrics,
        }

    def _evaluate_champion(self, champion: ModelVersion, out: Path) -> dict[str, float]:
        """The champion's metrics on the candidate's holdout; ``{}`` if it cannot be evaluated,
        which makes the gate hold the candidate for a human instead of comparing blindly."""
        assert self.holdout is not None and self.candidate is not None
        try:
            if not champion.model_data_url:
                raise ValueError("the champion version has no model archive")
            archive = download_artifact(
                self.clients.s3, champion.model_data_url, self.work / "champion.tar.gz"
            )
            model = load_model(unpack_model_archive(archive, self.work / "champion")).pipeline
            # only its metrics decide anything; one permutation repeat keeps its importance cheap
            result = evaluate_model(
                model,
                self.holdout,
                self.spec,
                out,
                importance_rows=self.config.importance_rows,
                importance_repeats=1,
                seed=self.config.seed,
            )
        except Exception as err:  # a champion that no longer loads or predicts: recorded, and the gate holds
            log.warning(
                "champion version %d cannot be evaluated on this holdout: %s",
                champion.version,
                _describe(err),
                exc_info=True,
            )
            return {}
        if result.holdout_sha256 != self.candidate.holdout_sha256:
            raise RuntimeError("candidate and champion were evaluated on different holdouts")
        log.info(
            "champion version %d on the same holdout: %s", champion.version, _metrics_text(result.metrics)
        )
        return dict(result.metrics)

    def _gate(self, step: StepRecord) -> None:
        assert self.candidate is not None
        champion_metrics = self.record.champion_metrics if self.champion is not None else None
        decision = decide_promotion(self.candidate.metrics, champion_metrics, self.spec)
        self.decision = decision
        self.record.gate = decision
        self.record.artifacts["gate"] = self._put_text(
            "gate.json", decision.model_dump_json(indent=2), "application/json"
        )
        step.summary = {"approved": decision.approved, "status": decision.status}
        # the report people open: candidate and champion side by side, and this decision
        out = self.work / "evaluation"
        write_comparison_report(
            out / "candidate",
            out / "champion" if self.record.champion_metrics else None,
            decision,
            out / "comparison",
            champion_version=self.record.champion_version,
        )
        compared = self._put_dir("evaluation/comparison", out / "comparison")
        self.record.artifacts["candidate_evaluation_report"] = self.record.artifacts["evaluation_report"]
        self.record.artifacts["evaluation_report"] = compared[COMPARISON_HTML]
        self.record.artifacts["evaluation_comparison_json"] = compared[COMPARISON_JSON]
        for reason in decision.reasons:
            log.info("gate: %s", reason)

    def _register(self, step: StepRecord) -> None:
        assert self.model_dir is not None and self.decision is not None and self.candidate is not None
        archive = pack_model_dir(self.model_dir, self.work / "register" / "model.tar.gz")
        stored = upload_artifact(self.clients.s3, self.resources.models_bucket, archive)
        if stored.uploaded:
            self._uploaded_artifact = stored.uri
        log.info("model archive %s (%s)", stored.uri, "uploaded" if stored.uploaded else "already stored")
        meta = self.training_metadata
        dataset_sha = self.record.data_sha256 or ""
        lineage = Lineage(
            run_id=self.record.run_id,
            data_uri=self.record.data_uri,
            data_version_id=self.record.data_version_id,
            data_sha256=dataset_sha,
            code_revision=self.record.code_revision,
            parameters={"estimator": meta.estimator, **meta.best_params},
            metrics=self.candidate.metrics,
            library_versions=meta.library_versions or library_versions(),
            settings=self.config.artifact_settings(self.spec),
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
            data_sources=self.record.data_sources,
        )
        image = self.config.serving_image_uri or self.resources.serving_image_uri or DEFAULT_SERVING_IMAGE
        description = "; ".join(self.decision.reasons)
        version = self.registry.create_model_version(
            model_data_url=stored.uri,
            image_uri=image,
            lineage=lineage,
            approval_status=self.decision.approval_status,
            description=f"run {self.record.run_id}: {description}",
        )
        self._created_package = version.arn
        alias = CHAMPION if self.decision.approved else CHALLENGER
        version = self.registry.set_alias(alias, version.version)
        self.record.model_version = version.version
        self.record.model_package_arn = version.arn
        self.record.approval_status = version.approval_status.value
        self.record.alias = alias
        self.record.model_artifact_uri = stored.uri
        self.record.model_artifact_sha256 = stored.sha256
        step.summary = {
            "version": version.version,
            "alias": alias,
            "approval_status": version.approval_status.value,
            "artifact": stored.uri,
        }
        log.info(
            "registered version %d of %s as %s (%s)",
            version.version,
            version.group,
            alias,
            version.approval_status.value,
        )

    # --- helpers ------------------------------------------------------------------------

    def _notify(self, step: StepRecord, message: str | None = None) -> None:
        if self.progress is None:
            return
        self.progress(
            StepEvent(
                run_id=self.record.run_id,
                step=step.name,
                status=step.status,
                index=STEPS.index(step.name),
                total=len(STEPS),
                seconds=step.seconds,
                message=message,
            )
        )

    def _save_record(self) -> None:
        self._put_text(RUN_RECORD_NAME, self.record.model_dump_json(indent=2), "application/json")

    def _put_bytes(self, relative: str, data: bytes, content_type: str) -> str:
        key = f"{self.prefix}/{relative}"
        self.clients.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return s3_uri(self.bucket, key)

    def _put_text(self, relative: str, text: str, content_type: str) -> str:
        return self._put_bytes(relative, text.encode("utf-8"), f"{content_type}; charset=utf-8")

    def _put_file(self, relative: str, path: Path) -> str:
        key = f"{self.prefix}/{relative}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.clients.s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
        return s3_uri(self.bucket, key)

    def _put_dir(self, relative: str, directory: Path) -> dict[str, str]:
        """Upload every file of ``directory``; return file name -> S3 URI."""
        return {
            path.name: self._put_file(f"{relative}/{path.name}", path)
            for path in sorted(directory.iterdir())
            if path.is_file()
        }


class PinnedVersion:
    """An S3 client whose ``HeadObject`` asks for one object version, so ``load_dataset`` checks
    the size of, reads and fingerprints exactly the version an event announced."""

    def __init__(self, s3: Any, version_id: str) -> None:
        self._s3 = s3
        self._version_id = version_id

    def head_object(self, **kwargs: Any) -> Any:
        return self._s3.head_object(VersionId=self._version_id, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


class _StepLogHandler(logging.Handler):
    """Collects the log lines one thread writes while a step runs."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.thread = threading.get_ident()
        self.setFormatter(logging.Formatter(_LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(self.format(record))


@contextmanager
def _capture_logs() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = _StepLogHandler(lines)
    logger = logging.getLogger("pipelines")
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _describe(err: BaseException) -> str:
    if _expected(err):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _expected(err: BaseException) -> bool:
    """tenantml's own errors explain themselves; anything else is a crash worth a traceback."""
    return isinstance(err, TenantmlError)


def _metrics_text(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
