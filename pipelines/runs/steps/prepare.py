"""``python -m pipelines.container prepare``: ingest, validate, split and baseline (the Prepare state).

Reads the data object the execution names (exactly its version when it has one). A reproduce run
(``trigger == "reproduce"``) reads the data the version's lineage pins, fails naming the object when
it is gone or its sha256 is no longer the recorded one, and splits with the recorded holdout
fraction and seed. A retrain
(``trigger == "retrain"``) instead starts from the data the champion was trained on
(:func:`pipelines.runs.retraining_data.champion_reference`: the newest file may be one whose run
failed) and assembles it with the recent labelled traffic
(:func:`pipelines.runs.retraining_data.assemble_retraining_set`) and records both sources in the
run's lineage. The dataset is validated against the model spec (the report goes to S3 even when it
fails), split into train and holdout, and the training split's baseline is computed. Outputs, as the
definition uploads them: ``output/train`` -> ``runs/<run_id>/data/train/``, ``output/holdout`` ->
``runs/<run_id>/data/holdout/``, ``output/report`` (validation report, baseline) -> ``runs/<run_id>/prepare/``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from core.errors import ReproductionError, TenantmlError
from pipelines.data.datasets import Dataset, load_dataset, split_holdout
from pipelines.data.validation import check_dataset
from pipelines.monitoring.baseline import compute_baseline
from pipelines.runs.arrivals import DataArrival, PinnedVersion
from pipelines.runs.config import PipelineConfig
from pipelines.runs.records import StepName, StepStatus
from pipelines.runs.steps.context import ReproduceRequest, StepContext, run_command

log = logging.getLogger(__name__)

PARQUET = "part-00000.parquet"
REPORT_PREFIX = "prepare"


def prepare(context: StepContext, config: PipelineConfig | None = None) -> dict[str, Any]:
    config = config or PipelineConfig()
    execution = context.execution
    spec = execution.spec
    reproduce = execution.reproduce
    if reproduce is not None:
        # the split the version was made with: its holdout fraction and the training seed
        config = config.model_copy(
            update={
                "holdout_fraction": reproduce.holdout_fraction,
                "seed": int(reproduce.hyperparameters.get("seed", config.seed)),
            }
        )
    s3 = context.s3
    record = context.record()
    arrival = DataArrival(
        bucket=execution.data_bucket, key=execution.data_key, version_id=execution.data_version_id
    )
    with context.step(record, StepName.INGEST) as step:
        source: DataArrival | str = arrival
        if execution.trigger == "retrain":
            from types import SimpleNamespace

            from pipelines.registry.sagemaker import SageMakerModelRegistry
            from pipelines.runs.retraining_data import assemble_retraining_set, champion_reference

            registry = SageMakerModelRegistry(context.sagemaker, context.env.model_package_group)
            arrival = champion_reference(registry, arrival)
            assembled = assemble_retraining_set(
                s3,
                SimpleNamespace(
                    artifacts_bucket=context.env.artifacts_bucket, data_bucket=execution.data_bucket
                ),
                spec,
                arrival,
                run_id=context.run_id,
                window_hours=execution.retraining_window_hours,
            )
            source = assembled.source
            record.data_sources = list(assembled.sources)
        if isinstance(source, DataArrival):
            reader = PinnedVersion(s3, source.version_id) if source.version_id else s3
            uri = source.uri
        else:
            reader, uri = s3, source
        if reproduce is None:
            dataset = load_dataset(uri, s3=reader, max_bytes=config.max_bytes)
        else:
            dataset = _load_pinned(uri, reader, config.max_bytes, execution.data_version_id, reproduce)
        provenance = dataset.provenance
        record.data_uri = uri
        record.data_version_id = provenance.version_id
        record.data_sha256 = provenance.sha256
        record.data_size_bytes = provenance.size_bytes
        step.summary = {
            "rows": len(dataset.frame),
            "columns": dataset.frame.shape[1],
            "bytes": provenance.size_bytes,
            "sha256": provenance.sha256,
            "version_id": provenance.version_id,
        }
        log.info("read %s (%d bytes): %d rows x %d columns", uri, provenance.size_bytes, *dataset.frame.shape)

    report_dir = context.output_dir("report")
    with context.step(record, StepName.VALIDATE) as step:
        frame = dataset.frame
        report = check_dataset(frame, spec, config=config.validation, dataset=record.data_uri)
        for name, text, kind in (
            ("validation_report.json", report.to_json(), "application/json"),
            ("validation_report.html", report.to_html(), "text/html"),
        ):
            (report_dir / name).write_text(text, encoding="utf-8")
            # a failing job uploads no outputs: the report people need then goes to S3 directly
            if report.failures:
                s3.put_object(
                    Bucket=context.env.artifacts_bucket,
                    Key=context.run_key(f"{REPORT_PREFIX}/{name}"),
                    Body=text.encode("utf-8"),
                    ContentType=f"{kind}; charset=utf-8",
                )
        record.artifacts["validation_report_json"] = context.run_uri(
            f"{REPORT_PREFIX}/validation_report.json"
        )
        record.artifacts["validation_report_html"] = context.run_uri(
            f"{REPORT_PREFIX}/validation_report.html"
        )
        step.summary = {"checks": len(report.checks), "failed": len(report.failures), "rows": report.rows}
        report.raise_for_failures()
        train, holdout = split_holdout(frame, spec, test_size=config.holdout_fraction, seed=config.seed)
        baseline = compute_baseline(train, spec, seed=config.seed)
        (report_dir / "baseline.json").write_text(baseline.to_json(), encoding="utf-8")
        train.to_parquet(context.output_dir("train") / PARQUET, index=False)
        holdout.to_parquet(context.output_dir("holdout") / PARQUET, index=False)
        record.artifacts["baseline"] = context.run_uri(f"{REPORT_PREFIX}/baseline.json")
        record.artifacts["train_data"] = context.run_uri(f"data/train/{PARQUET}")
        record.artifacts["holdout_data"] = context.run_uri(f"data/holdout/{PARQUET}")
        step.summary.update({"train_rows": len(train), "holdout_rows": len(holdout)})
    # the training job runs next and cannot write the record (network isolation): it shows as running
    train_step = record.step(StepName.TRAIN)
    train_step.status = StepStatus.RUNNING
    train_step.started_at = datetime.now(UTC)
    context.save_record(record)
    return {
        "rows": len(frame),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "data": record.data_uri,
    }


def _load_pinned(
    uri: str, reader: Any, max_bytes: int, version_id: str | None, reproduce: ReproduceRequest
) -> Dataset:
    """The data a registered version was trained on, exactly: gone or changed fails the run, naming it."""
    where = f"version {reproduce.version}'s data {uri} (object version {version_id or '-'})"
    try:
        dataset = load_dataset(uri, s3=reader, max_bytes=max_bytes)
    except (TenantmlError, ClientError) as err:
        raise ReproductionError(f"{where} cannot be read, so the version cannot be re-run: {err}") from err
    if dataset.provenance.sha256 != reproduce.data_sha256:
        raise ReproductionError(
            f"{where} has sha256 {dataset.provenance.sha256}, not the {reproduce.data_sha256} the version "
            "was trained on: it cannot be re-run"
        )
    return dataset


def main(argv: Sequence[str] = ()) -> int:
    return run_command("prepare", prepare, argv)


__all__ = ["PARQUET", "main", "prepare"]
