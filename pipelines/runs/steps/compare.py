"""``python -m pipelines.container compare``: a re-run's artifact against the registered one (the Compare state).

Inputs: the run input (its ``reproduce`` block names the version, its archive and recorded sha256),
the training job's ``model.tar.gz`` and the train split. The model directory gains the baseline
exactly as Evaluate computes it and Register packs it beside the model, is packed into the same
reproducible archive, and its sha256 is compared with the registered one; when they differ the
registered archive is downloaded and the differing members named. The result
(:class:`~pipelines.runs.reproduce.ReproductionResult`) goes to ``output/reproduce/reproduction.json``
(-> ``runs/<run_id>/reproduce/``). A difference is an answer, not a failure: the run succeeds. The run
record says succeeded, evaluate, gate and register skipped: nothing is registered and no alias moves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.errors import Problem, TenantResourcesError
from core.sagemaker_paths import opt_ml
from pipelines.data.datasets import load_directory
from pipelines.monitoring.baseline import compute_baseline, with_prediction_distribution
from pipelines.registry.artifacts import pack_model_dir, sha256_file
from pipelines.registry.lineage import code_revision
from pipelines.runs.records import RunStatus, StepName, StepStatus
from pipelines.runs.reproduce import ReproductionResult, compare_archives
from pipelines.runs.steps.context import (
    MODEL_INPUT_PATH,
    TRAIN_INPUT_PATH,
    StepContext,
    run_command,
    unpack_single_archive,
)
from pipelines.runs.steps.evaluate import BASELINE_NAME
from pipelines.training.train import TrainingConfig, load_model

log = logging.getLogger(__name__)

#: the definition's REPRODUCTION_NAME (the same string: pipelines may not import infra)
REPRODUCTION_NAME = "reproduction.json"
#: the run record's artifacts entry naming the result
REPRODUCTION_ARTIFACT = "reproduction"


def compare(context: StepContext) -> dict[str, Any]:
    execution = context.execution
    request = execution.reproduce
    if request is None:
        raise TenantResourcesError(
            [Problem("execution input: reproduce", "is missing; compare runs only in a reproduce run")]
        )
    spec, work = execution.spec, context.work
    config = TrainingConfig.from_hyperparameters(request.hyperparameters, source="reproduce.hyperparameters")
    record = context.record()
    train_step = record.step(StepName.TRAIN)
    train_step.status = StepStatus.SUCCEEDED
    train_step.finished_at = datetime.now(UTC)
    with context.step(record, StepName.EVALUATE) as step:
        model_dir = unpack_single_archive(opt_ml(MODEL_INPUT_PATH), work / "model")
        trained = load_model(model_dir)
        # the baseline Evaluate computes and Register packs beside the model
        train = load_directory(opt_ml(TRAIN_INPUT_PATH), max_bytes=config.max_bytes).frame
        baseline = with_prediction_distribution(
            compute_baseline(train, spec, seed=config.seed), trained.pipeline, train, spec, seed=config.seed
        )
        (model_dir / BASELINE_NAME).write_text(baseline.to_json(), encoding="utf-8")
        reproduced = sha256_file(pack_model_dir(model_dir, work / "reproduced" / "model.tar.gz"))
        matches = reproduced == request.sha256
        archive_sha256, differing, reason = (
            (request.sha256, [], None)
            if matches
            else compare_archives(
                context.s3, request.artifact_uri, request.sha256, reproduced, model_dir, work / "registered"
            )
        )
        result = ReproductionResult(
            run_id=context.run_id,
            version=request.version,
            model_package_arn=request.model_package_arn,
            registered_sha256=request.sha256,
            reproduced_sha256=reproduced,
            matches=matches,
            archive_sha256=archive_sha256,
            settings={**request.hyperparameters, "holdout_fraction": str(request.holdout_fraction)},
            differing_files=differing,
            reason=reason,
            recorded_code_revision=request.code_revision,
            current_code_revision=code_revision(),
        )
        step.summary = {"reproduced": matches, "sha256": reproduced}
        log.info("version %d: reproduced %s, registered %s", request.version, reproduced, request.sha256)
    (context.output_dir("reproduce") / REPRODUCTION_NAME).write_text(
        result.model_dump_json(indent=2), encoding="utf-8"
    )
    for name in (StepName.GATE, StepName.REGISTER):
        record.step(name).status = StepStatus.SKIPPED
    record.artifacts[REPRODUCTION_ARTIFACT] = context.run_uri(f"reproduce/{REPRODUCTION_NAME}")
    record.status = RunStatus.SUCCEEDED
    record.finished_at = datetime.now(UTC)
    record.seconds = round((record.finished_at - record.started_at).total_seconds(), 3)
    context.save_record(record)
    return {"matches": matches, "reproduced_sha256": reproduced, "registered_sha256": request.sha256}


def main(argv: Sequence[str] = ()) -> int:
    return run_command("compare", compare, argv)


__all__ = ["REPRODUCTION_ARTIFACT", "REPRODUCTION_NAME", "compare", "main"]
