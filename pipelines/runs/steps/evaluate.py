"""``python -m pipelines.container evaluate``: candidate and champion on one holdout, and the gate.

Inputs (the Evaluate state's): the run input, the training job's ``model.tar.gz``, the train and the
holdout splits. The candidate and the current champion (if any, read from the registry and its
content-addressed archive) are evaluated on the same holdout; the gate decides, and the side-by-side
report (:mod:`pipelines.evaluation.comparison`) shows both and the decision. The training baseline
gains the candidate's prediction distribution (``runs/<run_id>/baseline.json``, where monitoring reads
it, and in ``decision/`` for the register step to pack beside the model).

``decision.json`` (``output/decision`` -> ``runs/<run_id>/decision/``) is what the state machine
branches on: ``status`` approved (register as champion), pending (register as challenger, a human
decides) or rejected (the candidate has no finite primary metric: nothing worth registering), with
the gate's reasons. A rejected run ends here: the record says succeeded, register skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ModelVersionNotFoundError
from core.sagemaker_paths import opt_ml
from core.spec import ModelSpec
from pipelines.data.datasets import load_directory
from pipelines.evaluation.comparison import COMPARISON_HTML, COMPARISON_JSON, write_comparison_report
from pipelines.evaluation.evaluate import EvaluationResult, evaluate_model
from pipelines.evaluation.gate import GateDecision, decide_promotion
from pipelines.monitoring.baseline import compute_baseline, with_prediction_distribution
from pipelines.registry.artifacts import download_artifact, unpack_model_archive
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHAMPION, ModelVersion
from pipelines.runs.config import PipelineConfig
from pipelines.runs.records import RunStatus, StepName, StepStatus
from pipelines.runs.steps.context import (
    DECISION_NAME,
    HOLDOUT_INPUT_PATH,
    MODEL_INPUT_PATH,
    TRAIN_INPUT_PATH,
    StepContext,
    describe,
    run_command,
    unpack_single_archive,
)
from pipelines.training.train import load_model

log = logging.getLogger(__name__)

BASELINE_NAME = "baseline.json"


def decision_status(decision: GateDecision) -> str:
    """approved | pending | rejected (no finite primary metric: nothing a human could approve)."""
    if decision.candidate is None:
        return "rejected"
    return decision.status


def evaluate(context: StepContext, config: PipelineConfig | None = None) -> dict[str, Any]:
    config = config or PipelineConfig()
    spec = context.execution.spec
    record = context.record()
    work = context.work

    # the training job ran between prepare and this step; what it made says how it went
    model_dir = unpack_single_archive(opt_ml(MODEL_INPUT_PATH), work / "model")
    trained = load_model(model_dir)
    meta = trained.metadata
    train_step = record.step(StepName.TRAIN)
    train_step.status = StepStatus.SUCCEEDED
    train_step.finished_at = datetime.now(UTC)
    if train_step.started_at is not None:
        train_step.seconds = round((train_step.finished_at - train_step.started_at).total_seconds(), 3)
    train_step.summary = {
        "executor": "sagemaker",
        "estimator": meta.estimator,
        "cv_score": meta.cv_score,
        "metric": meta.primary_metric,
        "best_params": meta.best_params,
        "trials": meta.n_trials,
        "pruned": meta.n_pruned,
    }
    evaluation = context.output_dir("evaluation")
    with context.step(record, StepName.EVALUATE) as step:
        holdout = load_directory(opt_ml(HOLDOUT_INPUT_PATH), max_bytes=config.max_bytes).frame
        candidate = evaluate_model(
            trained.pipeline,
            holdout,
            spec,
            evaluation / "candidate",
            importance_rows=config.importance_rows,
            importance_repeats=config.importance_repeats,
            seed=config.seed,
        )
        record.metrics = dict(candidate.metrics)
        record.artifacts["candidate_evaluation_report"] = context.run_uri(
            "evaluation/candidate/evaluation_report.html"
        )
        record.artifacts["evaluation_json"] = context.run_uri("evaluation/candidate/evaluation.json")
        champion = _champion(context)
        if champion is not None:
            record.champion_version = champion.version
            record.champion_metrics = _evaluate_champion(
                context, champion, holdout, spec, candidate, evaluation / "champion", config
            )
            if record.champion_metrics:
                record.artifacts["champion_evaluation_report"] = context.run_uri(
                    "evaluation/champion/evaluation_report.html"
                )
        step.summary = {
            "holdout_rows": candidate.rows,
            "holdout_sha256": candidate.holdout_sha256,
            "candidate": candidate.metrics,
            "champion_version": record.champion_version,
            "champion": record.champion_metrics,
        }

    decision_dir = context.output_dir("decision")
    with context.step(record, StepName.GATE) as step:
        champion_metrics = record.champion_metrics if record.champion_version is not None else None
        decision = decide_promotion(candidate.metrics, champion_metrics, spec)
        status = decision_status(decision)
        record.gate = decision
        write_comparison_report(
            evaluation / "candidate",
            evaluation / "champion" if record.champion_metrics else None,
            decision,
            evaluation / "comparison",
            champion_version=record.champion_version,
        )
        record.artifacts["evaluation_report"] = context.run_uri(f"evaluation/comparison/{COMPARISON_HTML}")
        record.artifacts["evaluation_comparison_json"] = context.run_uri(
            f"evaluation/comparison/{COMPARISON_JSON}"
        )
        # the baseline monitoring compares live traffic with: the training split plus the model's predictions
        train = load_directory(opt_ml(TRAIN_INPUT_PATH), max_bytes=config.max_bytes).frame
        baseline = with_prediction_distribution(
            compute_baseline(train, spec, seed=config.seed), trained.pipeline, train, spec, seed=config.seed
        )
        (decision_dir / BASELINE_NAME).write_text(baseline.to_json(), encoding="utf-8")
        context.s3.put_object(
            Bucket=context.env.artifacts_bucket,
            Key=context.run_key(BASELINE_NAME),
            Body=baseline.to_json().encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )
        record.artifacts["baseline"] = context.run_uri(BASELINE_NAME)
        document = {
            "status": status,
            "approval_status": decision.approval_status.value,
            "reasons": decision.reasons,
            "metric": decision.metric,
            "candidate": decision.candidate,
            "champion": decision.champion,
            "champion_version": record.champion_version,
            "metrics": dict(candidate.metrics),
            "holdout_sha256": candidate.holdout_sha256,
        }
        (decision_dir / DECISION_NAME).write_text(json.dumps(document, indent=2), encoding="utf-8")
        step.summary = {"approved": decision.approved, "status": status}
        for reason in decision.reasons:
            log.info("gate: %s", reason)
    if status == "rejected":
        record.step(StepName.REGISTER).status = StepStatus.SKIPPED
        record.status = RunStatus.SUCCEEDED
        record.finished_at = datetime.now(UTC)
        record.seconds = round((record.finished_at - record.started_at).total_seconds(), 3)
        context.save_record(record)
    return {"status": status, "metrics": dict(candidate.metrics), "champion_version": record.champion_version}


def _champion(context: StepContext) -> ModelVersion | None:
    registry = open_registry(context.sagemaker, context.env.model_package_group)
    try:
        return registry.get_version_by_alias(CHAMPION)
    except ModelVersionNotFoundError:
        log.info("no champion yet")
        return None


def _evaluate_champion(
    context: StepContext,
    champion: ModelVersion,
    holdout: Any,
    spec: ModelSpec,
    candidate: EvaluationResult,
    out: Path,
    config: PipelineConfig,
) -> dict[str, float]:
    """The champion's metrics on the candidate's holdout; ``{}`` if it cannot be evaluated, which
    makes the gate hold the candidate for a human instead of comparing blindly."""
    try:
        if not champion.model_data_url:
            raise ValueError("the champion version has no model archive")
        expected = champion.lineage.artifact_sha256 if champion.lineage else None
        archive = download_artifact(
            context.s3, champion.model_data_url, context.work / "champion.tar.gz", expected_sha256=expected
        )
        model = load_model(unpack_model_archive(archive, context.work / "champion")).pipeline
        # only its metrics decide anything; one permutation repeat keeps its importance cheap
        result = evaluate_model(
            model,
            holdout,
            spec,
            out,
            importance_rows=config.importance_rows,
            importance_repeats=1,
            seed=config.seed,
        )
    except Exception as err:  # noqa: BLE001 - a champion that no longer loads: recorded, and the gate holds
        log.warning(
            "champion version %d cannot be evaluated on this holdout: %s", champion.version, describe(err)
        )
        return {}
    if result.holdout_sha256 != candidate.holdout_sha256:
        raise RuntimeError("candidate and champion were evaluated on different holdouts")
    return dict(result.metrics)


def read_decision(directory: Path) -> Mapping[str, Any]:
    return json.loads((directory / DECISION_NAME).read_text(encoding="utf-8"))


def main(argv: Sequence[str] = ()) -> int:
    return run_command("evaluate", evaluate, argv)


__all__ = ["BASELINE_NAME", "decision_status", "evaluate", "main", "read_decision"]
