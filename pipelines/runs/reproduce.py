"""Re-running a registered version through the tenant's state machine, and comparing artifact digests.

Artifacts are byte-reproducible (see :mod:`pipelines.registry.artifacts` and :func:`pipelines.training.save_model`),
so the same data, settings, code and libraries give the same ``model.tar.gz`` sha256. A version's
lineage names its data (URI, object version, sha256) and the settings it was trained with
(``Lineage.settings``). :func:`reproduction_request` turns that into the ``reproduce`` block of an
execution input (:mod:`pipelines.runs.execution_input`): the state machine's Prepare reads that data
again (checking its sha256) and splits it with the recorded holdout, Train runs with the recorded
hyperparameters, and Compare (:mod:`pipelines.runs.steps.compare`) packs the result as Register would
and compares it with the registered archive (:func:`compare_archives`). Nothing is registered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from core.errors import ModelArtifactError, ReproductionError
from pipelines.data.uris import parse_s3_uri
from pipelines.registry.artifacts import download_artifact, sha256_file, unpack_model_archive
from pipelines.registry.interface import ModelVersion
from pipelines.training.train import TrainingConfig

log = logging.getLogger(__name__)

#: the lineage setting that is not a training hyperparameter
HOLDOUT_SETTING = "holdout_fraction"


class ReproductionResult(BaseModel):
    """The registered and the reproduced digest of one version, and what differs
    (``runs/<run_id>/reproduce/reproduction.json`` and the reproduce execution's output)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    version: int
    model_package_arn: str
    #: the digest the version's lineage records
    registered_sha256: str
    reproduced_sha256: str
    matches: bool
    #: the digest of the stored archive's bytes (``None`` when it could not be read); differs from
    #: ``registered_sha256`` when the recorded digest is not the archive's
    archive_sha256: str | None = None
    #: the settings the version was re-run with (its recorded ones)
    settings: dict[str, str]
    #: archive members whose content differs; ``None`` when the registered archive could not be read
    differing_files: list[str] | None = None
    #: why the digests differ, in words, when they do
    reason: str | None = None
    recorded_code_revision: str
    current_code_revision: str


def reproduction_request(found: ModelVersion) -> dict[str, Any]:
    """The execution input's ``reproduce`` block for ``found``; raises :class:`ReproductionError`
    when its lineage cannot be re-run, and :class:`~core.errors.TrainingConfigError` naming bad settings."""
    where = f"version {found.version} of model package group {found.group!r}"
    lineage = found.lineage
    if lineage is None:
        raise ReproductionError(f"{where} has no tenantml lineage: nothing records how it was made")
    if not lineage.settings:
        raise ReproductionError(
            f"{where}: lineage.settings is empty (registered before run settings were recorded), "
            "so it cannot be re-run; retrain it to get a reproducible version"
        )
    hyperparameters = {k: v for k, v in lineage.settings.items() if k != HOLDOUT_SETTING}
    TrainingConfig.from_hyperparameters(hyperparameters, source=f"{where}: lineage.settings")
    raw = lineage.settings.get(HOLDOUT_SETTING)
    try:
        holdout = float(raw) if raw is not None else float("nan")
    except ValueError:
        holdout = float("nan")
    if not 0 < holdout < 1:
        raise ReproductionError(
            f"{where}: lineage.settings.{HOLDOUT_SETTING} must be a fraction between 0 and 1 (got {raw!r})"
        )
    return {
        "version": found.version,
        "model_package_arn": found.arn,
        "artifact_uri": found.model_data_url or lineage.artifact_uri,
        "sha256": lineage.artifact_sha256,
        "data_sha256": lineage.data_sha256,
        "hyperparameters": hyperparameters,
        "holdout_fraction": str(raw),
        "code_revision": lineage.code_revision,
    }


def data_object(found: ModelVersion) -> tuple[str, str, str | None]:
    """The bucket, key and object version of the data ``found`` was trained on."""
    if found.lineage is None:
        raise ReproductionError(f"version {found.version} of {found.group!r} has no tenantml lineage")
    bucket, key = parse_s3_uri(found.lineage.data_uri)
    return bucket, key, found.lineage.data_version_id


def compare_archives(
    s3: Any, uri: str, registered_sha256: str, reproduced_sha256: str, reproduced: Path, scratch: Path
) -> tuple[str | None, list[str] | None, str | None]:
    """The stored archive's own digest, the members whose bytes differ from ``reproduced`` (a model
    directory) and why, for a reproduction whose digest is not the registered one."""
    try:
        # checked against its content address (the key names its digest), not the recorded one
        archive = download_artifact(s3, uri, scratch / "model.tar.gz")
        registered = unpack_model_archive(archive, scratch / "model")
    except (ClientError, ModelArtifactError) as err:
        log.warning("cannot read the registered archive %s to compare its files: %s", uri, err)
        return None, None, f"the registered archive {uri} cannot be read: {err}"
    stored = sha256_file(archive)

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}

    old, new = digests(registered), digests(reproduced)
    differing = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    if stored != registered_sha256:
        reason = (
            f"the registered archive {uri} has sha256 {stored}, not the {registered_sha256} its "
            "lineage records"
        )
    elif differing:
        reason = f"{len(differing)} archive member(s) differ: {', '.join(differing)}"
    else:
        reason = f"the members are identical but the archives are not ({stored} vs {reproduced_sha256})"
    return stored, differing, reason


__all__ = [
    "HOLDOUT_SETTING",
    "ReproductionResult",
    "compare_archives",
    "data_object",
    "reproduction_request",
]
