"""Re-running a registered version from its lineage and comparing the artifact digests.

Artifacts are byte-reproducible (see :mod:`pipelines.registry.artifacts` and :func:`pipelines.training.save_model`),
so the same data, settings, code and libraries give the same ``model.tar.gz`` sha256. A version's
lineage names its data (URI, object version, sha256) and the settings it was trained with
(``Lineage.settings``); :func:`reproduce_version` reads that data again, checks its sha256, repeats
the run's holdout split, training job and baseline exactly as the pipeline's step commands
(:mod:`pipelines.runs.steps`) do, packs the archive and compares its digest with the registered one. Nothing is uploaded or registered.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from core.errors import ModelArtifactError, ReproductionError, TenantmlError
from core.spec import ModelSpec
from pipelines.data.datasets import load_dataset, split_holdout
from pipelines.monitoring.baseline import compute_baseline, with_prediction_distribution
from pipelines.registry.artifacts import download_artifact, pack_model_dir, sha256_file, unpack_model_archive
from pipelines.registry.interface import ModelRegistry
from pipelines.registry.lineage import code_revision
from pipelines.runs.arrivals import PinnedVersion
from pipelines.training.train import (
    TrainingConfig,
    TrainingPaths,
    load_model,
    run_training_job,
    write_hyperparameters,
)

log = logging.getLogger(__name__)

#: the lineage setting that is not a training hyperparameter
HOLDOUT_SETTING = "holdout_fraction"


class ReproductionResult(BaseModel):
    """The registered and the reproduced digest of one version, and what differs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    version: int
    registered_sha256: str
    reproduced_sha256: str
    #: the settings the version was re-run with (the recorded ones, with any overrides)
    settings: dict[str, str]
    #: archive members whose content differs; ``None`` when the registered archive could not be read
    differing_files: list[str] | None = None
    recorded_code_revision: str
    current_code_revision: str

    @property
    def matches(self) -> bool:
        return self.registered_sha256 == self.reproduced_sha256


def reproduce_version(
    registry: ModelRegistry,
    version: int,
    *,
    spec: ModelSpec,
    s3: Any,
    overrides: Mapping[str, str] | None = None,
    work_dir: Path | None = None,
) -> ReproductionResult:
    """Re-run ``version`` from its lineage and compare digests; ``overrides`` replace recorded
    settings (to see which ones matter). Raises :class:`ReproductionError` when it cannot be
    re-run, and :class:`~core.errors.TrainingConfigError` naming bad settings."""
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix=f"tenantml-reproduce-v{version}-") as scratch:
            return reproduce_version(
                registry, version, spec=spec, s3=s3, overrides=overrides, work_dir=Path(scratch)
            )
    found = registry.get_model_version(version)
    where = f"version {version} of model package group {found.group!r}"
    lineage = found.lineage
    if lineage is None:
        raise ReproductionError(f"{where} has no tenantml lineage: nothing records how it was made")
    if not lineage.settings:
        raise ReproductionError(
            f"{where}: lineage.settings is empty (registered before run settings were recorded), "
            "so it cannot be re-run; retrain it to get a reproducible version"
        )
    settings = {**lineage.settings, **(overrides or {})}
    config, holdout_fraction = _parse_settings(settings, where)

    s3_reader = PinnedVersion(s3, lineage.data_version_id) if lineage.data_version_id else s3
    try:
        dataset = load_dataset(lineage.data_uri, s3=s3_reader, max_bytes=config.max_bytes)
    except (TenantmlError, ClientError) as err:
        raise ReproductionError(f"{where}: cannot read its data {lineage.data_uri}: {err}") from err
    if dataset.provenance.sha256 != lineage.data_sha256:
        raise ReproductionError(
            f"{where}: the data at {lineage.data_uri} (version {lineage.data_version_id or '-'}) has sha256 "
            f"{dataset.provenance.sha256}, not the {lineage.data_sha256} it was trained on"
        )

    # the same steps, in the same order, as the prepare/train/evaluate jobs: split, baseline, training job, baseline.json
    work = Path(work_dir)
    train, _holdout = split_holdout(dataset.frame, spec, test_size=holdout_fraction, seed=config.seed)
    baseline = compute_baseline(train, spec, seed=config.seed)
    channel = work / "channels" / "train"
    channel.mkdir(parents=True, exist_ok=True)
    train.to_parquet(channel / "part-00000.parquet", index=False)
    root = work / "opt" / "ml"
    paths = TrainingPaths(
        config_dir=root / "input" / "config",
        train_channel=channel,
        model_dir=root / "model",
        output_dir=root / "output",
    )
    write_hyperparameters(paths.config_dir, config.to_hyperparameters())
    log.info("re-running %s with %s", where, settings)
    run_training_job(paths)
    trained = load_model(paths.model_dir)
    baseline = with_prediction_distribution(baseline, trained.pipeline, train, spec, seed=config.seed)
    (paths.model_dir / "baseline.json").write_text(baseline.to_json(), encoding="utf-8")
    archive = pack_model_dir(paths.model_dir, work / "reproduced" / "model.tar.gz")
    reproduced = sha256_file(archive)

    differing: list[str] | None = []
    if reproduced != lineage.artifact_sha256:
        differing = _differing_files(
            s3,
            found.model_data_url or lineage.artifact_uri,
            lineage.artifact_sha256,
            paths.model_dir,
            work / "registered",
        )
    return ReproductionResult(
        group=found.group,
        version=version,
        registered_sha256=lineage.artifact_sha256,
        reproduced_sha256=reproduced,
        settings=settings,
        differing_files=differing,
        recorded_code_revision=lineage.code_revision,
        current_code_revision=code_revision(),
    )


def _parse_settings(settings: Mapping[str, str], where: str) -> tuple[TrainingConfig, float]:
    hyperparameters = {k: v for k, v in settings.items() if k != HOLDOUT_SETTING}
    config = TrainingConfig.from_hyperparameters(hyperparameters, source=f"{where}: lineage.settings")
    raw = settings.get(HOLDOUT_SETTING)
    try:
        holdout = float(raw) if raw is not None else float("nan")
    except ValueError:
        holdout = float("nan")
    if not 0 < holdout < 1:
        raise ReproductionError(
            f"{where}: lineage.settings.{HOLDOUT_SETTING} must be a fraction between 0 and 1 (got {raw!r})"
        )
    return config, holdout


def _differing_files(s3: Any, uri: str, sha256: str, reproduced: Path, scratch: Path) -> list[str] | None:
    """Archive members whose bytes differ between the registered archive and ``reproduced``."""
    try:
        archive = download_artifact(s3, uri, scratch / "model.tar.gz", expected_sha256=sha256)
        registered = unpack_model_archive(archive, scratch / "model")
    except (ClientError, ModelArtifactError) as err:
        log.warning("cannot read the registered archive %s to compare its files: %s", uri, err)
        return None

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}

    old, new = digests(registered), digests(reproduced)
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


__all__ = ["HOLDOUT_SETTING", "ReproductionResult", "reproduce_version"]
