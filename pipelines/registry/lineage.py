"""What every registered model version records about how it was made.

Kept free of heavy imports (no scikit-learn, no pandas) so a Lambda handler can read lineage
from the registry cheaply.
"""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SHA256_PATTERN = r"^[0-9a-f]{64}$"

#: distributions whose versions decide whether a pickled model loads and predicts the same
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "joblib", "optuna", "pyarrow")

#: set by a build (container image, CI) where the source tree has no .git directory
CODE_REVISION_ENV = "TENANTML_CODE_REVISION"


class DataSource(BaseModel):
    """One source of a version's training data; a retrain names the reference and the labelled traffic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: "reference" (the last accepted training data) or "labelled-traffic" (logged predictions + labels)
    kind: str
    #: the data (for labelled traffic: the predictions the monitor kept, features as logged)
    uri: str
    #: for labelled traffic: where its labels were delivered
    labels_uri: str | None = None
    version_id: str | None = None
    rows: int
    #: the window of logged predictions (ISO 8601, UTC) for labelled traffic
    window_start: str | None = None
    window_end: str | None = None


class Lineage(BaseModel):
    """How a model version was made: data, code, parameters, metrics, libraries and artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1, max_length=128)
    data_uri: str
    data_version_id: str | None = None
    data_sha256: str = Field(pattern=SHA256_PATTERN)
    code_revision: str = "unknown"
    parameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)
    #: the run settings the artifact depends on besides the data (the training job's
    #: hyperparameters and the holdout fraction), so the version can be re-run and its digest
    #: compared (``pipelines.runs.reproduce``); empty for versions registered before they were kept
    settings: dict[str, str] = Field(default_factory=dict)
    artifact_uri: str
    artifact_sha256: str = Field(pattern=SHA256_PATTERN)
    #: where the training data came from when it was assembled (a retrain: reference + labelled
    #: traffic, see pipelines.runs.retraining_data); empty when ``data_uri`` is the whole story
    data_sources: list[DataSource] = Field(default_factory=list)


def library_versions() -> dict[str, str]:
    """Python and the tracked libraries' installed versions (read from package metadata, not imported)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def code_revision(source_dir: Path | None = None) -> str:
    """The git commit of the code, ``<sha>-dirty`` with uncommitted changes, else ``"unknown"``.

    ``TENANTML_CODE_REVISION`` wins when set, since images and CI checkouts often lack ``.git``.
    """
    if os.environ.get(CODE_REVISION_ENV):
        return os.environ[CODE_REVISION_ENV]
    where = source_dir or Path(__file__).resolve().parent
    try:
        sha = _git(where, "rev-parse", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def new_run_id() -> str:
    return uuid.uuid4().hex


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


__all__ = [
    "CODE_REVISION_ENV",
    "SHA256_PATTERN",
    "TRACKED_LIBRARIES",
    "DataSource",
    "Lineage",
    "code_revision",
    "library_versions",
    "new_run_id",
]
