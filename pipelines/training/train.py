"""Training: hyperparameter search, refit on the whole training split, and the saved model.

Follows SageMaker's training-container contract so one entry point runs in-process, as a
SageMaker training job and as a Kubernetes Job (``python -m pipelines.training.train [train]``):

- hyperparameters: ``$SM_INPUT_CONFIG_DIR/hyperparameters.json`` (``/opt/ml/input/config``);
  SageMaker passes every value as a string, and its SDK also JSON-quotes strings; both are read
- training data: the ``train`` channel, ``$SM_CHANNEL_TRAIN`` (``/opt/ml/input/data/train``)
- model: ``$SM_MODEL_DIR`` (``/opt/ml/model``), which SageMaker packs into ``model.tar.gz``
- failure reason: ``$SM_OUTPUT_DIR/failure`` (``/opt/ml/output``), shown by DescribeTrainingJob
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from core.errors import (
    DataValidationError,
    ModelArtifactError,
    Problem,
    TenantmlError,
    TrainingConfigError,
)
from core.sagemaker_paths import opt_ml
from core.spec import ESTIMATORS, MAX_PARALLEL_TRIALS, METRICS, ModelSpec, ProblemType
from pipelines.data.datasets import DEFAULT_MAX_BYTES, DatasetProvenance, load_directory
from pipelines.data.features import FeatureSignature, input_signature
from pipelines.registry.lineage import library_versions
from pipelines.training.estimators import Params, build_pipeline
from pipelines.training.search import SearchResult, SearchSettings, run_search

log = logging.getLogger(__name__)

MODEL_FILENAME = "model.joblib"
METADATA_FILENAME = "model_metadata.json"
HYPERPARAMETERS_FILENAME = "hyperparameters.json"

#: hyperparameters SageMaker itself adds (script mode, tuning jobs); they are not ours to validate
_PLATFORM_PREFIXES = ("sagemaker_", "_")


class TrainingConfig(BaseModel):
    """What to train and how long to search; travels as the job's hyperparameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str = "default"
    problem: ProblemType
    target: str = Field(min_length=1)
    primary_metric: str
    estimator: str = "random_forest"
    n_trials: int = Field(default=20, ge=1, le=1000)
    timeout_seconds: float = Field(default=300, gt=0)
    cv_folds: int = Field(default=5, ge=2, le=20)
    seed: int = 0
    pruner_startup_trials: int = Field(default=5, ge=0)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    #: the search cross-validates on at most this many rows (a stratified sample); the final
    #: fit uses every row. Trials x folds on millions of rows would cost hours and gigabytes.
    search_max_rows: int = Field(default=200_000, ge=100)
    #: trials run side by side in the search (its batch size, which decides the results). 1 when
    #: absent: versions registered before batching recorded no value and were searched one trial at
    #: a time, so a re-run of their settings must search the same way; specs default to 2
    parallel_trials: int = Field(default=1, ge=1, le=MAX_PARALLEL_TRIALS)

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        if self.primary_metric not in METRICS:
            raise ValueError(f"unknown primary_metric {self.primary_metric!r}; allowed: {', '.join(METRICS)}")
        if METRICS[self.primary_metric][0] is not self.problem:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not a {self.problem.value} metric")
        if self.problem not in ESTIMATORS.get(self.estimator, frozenset()):
            allowed = sorted(e for e, ps in ESTIMATORS.items() if self.problem in ps)
            raise ValueError(
                f"estimator {self.estimator!r} does not solve {self.problem.value}; "
                f"allowed: {', '.join(allowed)}"
            )
        return self

    @classmethod
    def from_spec(cls, spec: ModelSpec, **overrides: Any) -> TrainingConfig:
        """The config for a tenant's model spec; ``overrides`` set cv_folds, seed, and so on."""
        values: dict[str, Any] = {
            "model_name": spec.name,
            "problem": spec.problem,
            "target": spec.target,
            "primary_metric": spec.primary_metric,
            "estimator": spec.estimator,
            "n_trials": spec.search_trials,
            "timeout_seconds": spec.search_timeout_seconds,
            "parallel_trials": spec.search_parallel_trials,
        }
        return cls(**{**values, **overrides})

    @classmethod
    def from_hyperparameters(
        cls, values: Mapping[str, Any], *, source: str = HYPERPARAMETERS_FILENAME
    ) -> TrainingConfig:
        """Parse SageMaker hyperparameters; raise :class:`TrainingConfigError` naming every bad key."""
        cleaned = {
            key: _unquote(value) for key, value in values.items() if not key.startswith(_PLATFORM_PREFIXES)
        }
        try:
            return cls.model_validate(cleaned)
        except ValidationError as err:
            raise TrainingConfigError(
                [
                    Problem(
                        f"{source}: {'.'.join(map(str, e['loc'])) or '(top level)'}",
                        e["msg"].removeprefix("Value error, "),
                        None if e["type"] == "missing" else e.get("input"),
                    )
                    for e in err.errors(include_url=False)
                ]
            ) from err

    def to_hyperparameters(self) -> dict[str, str]:
        """String values, as CreateTrainingJob's ``HyperParameters`` requires."""
        return {key: str(value.value if isinstance(value, ProblemType) else value) for key, value in self}

    def search_settings(self) -> SearchSettings:
        return SearchSettings(
            n_trials=self.n_trials,
            timeout_seconds=self.timeout_seconds,
            cv_folds=self.cv_folds,
            seed=self.seed,
            pruner_startup_trials=self.pruner_startup_trials,
            parallel_trials=self.parallel_trials,
        )


class ModelMetadata(BaseModel):
    """Written beside the model as ``model_metadata.json``: how it was trained and what it takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = 1
    model_name: str
    problem: ProblemType
    target: str
    primary_metric: str
    higher_is_better: bool
    estimator: str
    best_params: dict[str, Any]
    #: mean cross-validated primary metric of the best parameters
    cv_score: float
    cv_folds: int
    n_trials: int
    n_complete: int
    n_pruned: int
    seed: int
    #: wall-clock time of the search: set on a freshly trained model, never saved (a timing in
    #: the artifact would give every retrain a new sha256), so ``None`` once loaded
    search_seconds: float | None = None
    #: processes the search ran its trials in: like the timing, set when trained and never saved
    #: (it depends on the machine's CPUs, the artifact must not)
    search_workers: int | None = None
    #: the model's input columns, in order, with the dtypes it was trained on
    input_signature: list[FeatureSignature]
    #: class labels in the column order of ``predict_proba`` (classification only)
    classes: list[Any] | None = None
    training_rows: int
    #: rows the hyperparameter search cross-validated on (a sample when the data is large)
    search_rows: int | None = None
    data: DatasetProvenance | None = None
    library_versions: dict[str, str]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.input_signature]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A fitted pipeline and its metadata."""

    pipeline: Pipeline
    metadata: ModelMetadata
    search: SearchResult | None = field(default=None, repr=False)


def _search_sample(X: pd.DataFrame, y: pd.Series, config: TrainingConfig) -> tuple[pd.DataFrame, pd.Series]:
    """At most ``search_max_rows`` rows for the search, stratified by class for classification."""
    if len(X) <= config.search_max_rows:
        return X, y
    stratify = y if config.problem is ProblemType.CLASSIFICATION else None
    sample_X, _, sample_y, _ = train_test_split(
        X, y, train_size=config.search_max_rows, stratify=stratify, random_state=config.seed
    )
    return sample_X, sample_y


def train_model(
    frame: pd.DataFrame,
    config: TrainingConfig,
    *,
    data: DatasetProvenance | None = None,
    initial_params: Sequence[Params] = (),
) -> TrainedModel:
    """Search hyperparameters by k-fold CV on ``frame``, then refit the best on all of it.

    ``frame`` is the training split (features + target); keep the holdout out of it. Raises
    :class:`DataValidationError` when the target is absent or incomplete, or a column is unusable.
    """
    signature = _signature(frame, config.target)
    X = frame[[f.name for f in signature]]
    y = frame[config.target]
    search_X, search_y = _search_sample(X, y, config)
    search = run_search(
        search_X,
        search_y,
        signature=signature,
        estimator=config.estimator,
        problem=config.problem,
        metric=config.primary_metric,
        settings=config.search_settings(),
        initial_params=initial_params,
    )
    pipeline = build_pipeline(
        signature, config.estimator, config.problem, search.best_params, seed=config.seed
    )
    pipeline.fit(X, y)
    classes = (
        [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
        if config.problem is ProblemType.CLASSIFICATION
        else None
    )
    metadata = ModelMetadata(
        model_name=config.model_name,
        problem=config.problem,
        target=config.target,
        primary_metric=config.primary_metric,
        higher_is_better=METRICS[config.primary_metric][1],
        estimator=config.estimator,
        best_params=search.best_params,
        cv_score=search.best_score,
        cv_folds=config.cv_folds,
        n_trials=search.n_trials,
        n_complete=search.n_complete,
        n_pruned=search.n_pruned,
        seed=config.seed,
        search_seconds=search.seconds,
        search_workers=search.workers,
        search_rows=len(search_X),
        input_signature=signature,
        classes=classes,
        training_rows=len(frame),
        data=data,
        library_versions=library_versions(),
    )
    return TrainedModel(pipeline=pipeline, metadata=metadata, search=search)


#: metadata of the training run, not of the model: kept out of the saved file so that the same
#: training gives the same bytes on any machine
_UNSAVED_METADATA = {"search_seconds", "search_workers"}


def save_model(trained: TrainedModel, model_dir: Path) -> Path:
    """Write ``model.joblib`` and ``model_metadata.json`` into ``model_dir``; return the directory.

    Both files depend only on the data, the settings and the library versions, so the same
    training gives the same bytes (the pickle of a fitted pipeline is deterministic; timings
    are left out of the metadata).
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(trained.pipeline, model_dir / MODEL_FILENAME)
    metadata = trained.metadata.model_dump_json(indent=2, exclude=_UNSAVED_METADATA)
    (model_dir / METADATA_FILENAME).write_text(metadata, encoding="utf-8")
    return model_dir


def load_model(model_dir: Path) -> TrainedModel:
    """Load a model directory written by :func:`save_model` (or unpacked from ``model.tar.gz``).

    joblib files are pickles: load only artifacts whose sha256 the registry vouches for.
    """
    model_dir = Path(model_dir)
    problems = [
        Problem(str(model_dir / name), "missing from the model directory")
        for name in (MODEL_FILENAME, METADATA_FILENAME)
        if not (model_dir / name).is_file()
    ]
    if problems:
        raise ModelArtifactError(problems)
    try:
        metadata = ModelMetadata.model_validate_json((model_dir / METADATA_FILENAME).read_bytes())
    except ValidationError as err:
        raise ModelArtifactError(
            [Problem(str(model_dir / METADATA_FILENAME), f"invalid model metadata: {err.errors()[0]['msg']}")]
        ) from err
    return TrainedModel(pipeline=joblib.load(model_dir / MODEL_FILENAME), metadata=metadata)


@dataclass(frozen=True)
class TrainingPaths:
    """Where a training job reads and writes; defaults follow SageMaker's container layout."""

    config_dir: Path = Path("/opt/ml/input/config")
    train_channel: Path = Path("/opt/ml/input/data/train")
    model_dir: Path = Path("/opt/ml/model")
    output_dir: Path = Path("/opt/ml/output")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainingPaths:
        """Paths from SageMaker's environment variables, falling back to the container defaults."""
        env = os.environ if env is None else env
        # the /opt/ml defaults lie under TENANTML_OPT_ML when a job runs outside a container (the emulator)
        defaults = cls(*(opt_ml(path, env) for path in dataclasses.astuple(cls())))
        return cls(
            config_dir=Path(env.get("SM_INPUT_CONFIG_DIR", defaults.config_dir)),
            train_channel=Path(env.get("SM_CHANNEL_TRAIN", defaults.train_channel)),
            model_dir=Path(env.get("SM_MODEL_DIR", defaults.model_dir)),
            output_dir=Path(env.get("SM_OUTPUT_DIR", defaults.output_dir)),
        )

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / HYPERPARAMETERS_FILENAME


def write_hyperparameters(config_dir: Path, hyperparameters: Mapping[str, str]) -> Path:
    """Write ``hyperparameters.json`` as SageMaker lays it out for a training job (reproduce plays the job)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / HYPERPARAMETERS_FILENAME
    path.write_text(json.dumps(dict(hyperparameters), indent=2, sort_keys=True), encoding="utf-8")
    return path


def read_hyperparameters(path: Path) -> TrainingConfig:
    if not path.is_file():
        raise TrainingConfigError([Problem(str(path), "hyperparameters file does not exist")])
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TrainingConfigError([Problem(str(path), f"not valid JSON: {err}")]) from err
    if not isinstance(values, dict):
        raise TrainingConfigError([Problem(str(path), "must be a JSON object", type(values).__name__)])
    return TrainingConfig.from_hyperparameters(values, source=str(path))


def run_training_job(paths: TrainingPaths | None = None) -> TrainedModel:
    """Read hyperparameters and the train channel, train, and save into the model directory."""
    paths = paths or TrainingPaths.from_env()
    config = read_hyperparameters(paths.hyperparameters_file)
    dataset = load_directory(paths.train_channel, max_bytes=config.max_bytes)
    log.info("training %s on %d rows from %s", config.estimator, len(dataset.frame), dataset.provenance.uri)
    provenance = _as_container_channel(dataset.provenance, paths.train_channel)
    trained = train_model(dataset.frame, config, data=provenance)
    save_model(trained, paths.model_dir)
    meta = trained.metadata
    log.info(
        "best %s %.6f after %d trials (%d pruned, %d side by side) in %.1fs on %d worker(s); model saved to %s",
        meta.primary_metric,
        meta.cv_score,
        meta.n_trials,
        meta.n_pruned,
        config.parallel_trials,
        meta.search_seconds or 0.0,
        meta.search_workers or 1,
        paths.model_dir,
    )
    return trained


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; SageMaker starts bring-your-own containers with the argument ``train``."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.training.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("mode", nargs="?", choices=["train"], default="train")
    parser.add_argument("--config-dir", type=Path, help="directory holding hyperparameters.json")
    parser.add_argument("--train", type=Path, help="training data directory (the train channel)")
    parser.add_argument("--model-dir", type=Path, help="where to write the model")
    parser.add_argument("--output-dir", type=Path, help="where to write the failure reason")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env_paths = TrainingPaths.from_env()
    paths = TrainingPaths(
        config_dir=args.config_dir or env_paths.config_dir,
        train_channel=args.train or env_paths.train_channel,
        model_dir=args.model_dir or env_paths.model_dir,
        output_dir=args.output_dir or env_paths.output_dir,
    )
    try:
        run_training_job(paths)
    except TenantmlError as err:
        log.error("%s", err)
        _write_failure(paths.output_dir, str(err))
        return err.exit_code
    except Exception as err:
        _write_failure(paths.output_dir, f"{type(err).__name__}: {err}")
        raise
    return 0


def _signature(frame: pd.DataFrame, target: str) -> list[FeatureSignature]:
    problems = []
    if target not in frame.columns:
        problems.append(
            Problem(f"column {target!r}", "target column is missing", ", ".join(map(str, frame.columns)))
        )
    elif frame[target].isna().any():
        problems.append(
            Problem(f"column {target!r}", f"{int(frame[target].isna().sum())} rows have no target value")
        )
    try:
        signature = input_signature(frame, target)
    except ValueError as err:
        problems.append(Problem("training data", str(err)))
        signature = []
    if not signature and not problems:
        problems.append(Problem("training data", "no feature columns besides the target"))
    if problems:
        raise DataValidationError(problems, headline="training data cannot be used")
    return signature


def _as_container_channel(provenance: DatasetProvenance, channel: Path) -> DatasetProvenance:
    """``provenance`` with paths under ``channel`` moved to the container's channel path.

    A SageMaker job always reads ``/opt/ml/input/data/train``; in-process and emulated jobs read
    a scratch directory named after the run. Recording the container path keeps the artifact the
    same wherever the job ran (the sha256 already identifies the data).
    """
    root, container = str(channel), str(TrainingPaths().train_channel)

    def moved(item: DatasetProvenance) -> DatasetProvenance:
        uri = (
            container + item.uri[len(root) :]
            if item.uri == root or item.uri.startswith(root + "/")
            else item.uri
        )
        return item.model_copy(update={"uri": uri, "parts": tuple(moved(p) for p in item.parts)})

    return moved(provenance)


def _unquote(value: Any) -> Any:
    # the SageMaker SDK json.dumps() every hyperparameter, so strings arrive as '"value"'
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _write_failure(output_dir: Path, message: str) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        # DescribeTrainingJob shows the first 1024 characters as FailureReason
        (output_dir / "failure").write_text(message[:4096], encoding="utf-8")
    except OSError as err:
        print(f"could not write the failure reason to {output_dir}: {err}", file=sys.stderr)


__all__ = [
    "HYPERPARAMETERS_FILENAME",
    "METADATA_FILENAME",
    "MODEL_FILENAME",
    "ModelMetadata",
    "TrainedModel",
    "TrainingConfig",
    "TrainingPaths",
    "load_model",
    "main",
    "read_hyperparameters",
    "run_training_job",
    "save_model",
    "train_model",
    "write_hyperparameters",
]


if __name__ == "__main__":
    sys.exit(main())
