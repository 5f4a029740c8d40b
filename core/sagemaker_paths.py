"""The SageMaker container layout (``/opt/ml/...``), and where it lies when no container is around.

SageMaker mounts a job's inputs, config and outputs under ``/opt/ml`` inside the image. The
emulator runs the same entry point as a local process, with ``TENANTML_OPT_ML`` naming a job
directory that stands for ``/opt/ml``: the emulator places channels, inputs and config there and
collects outputs from there, and the container code finds them through :func:`opt_ml`. Job
definitions always name the real ``/opt/ml`` paths, so AWS and the emulator run one definition.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

#: the directory that stands for ``/opt/ml`` (unset inside a real container)
OPT_ML_ENV = "TENANTML_OPT_ML"
OPT_ML = PurePosixPath("/opt/ml")


def opt_ml(path: str | PurePosixPath, environ: Mapping[str, str] | None = None) -> Path:
    """Where ``path`` (an absolute path under ``/opt/ml``) is for this process.

    Paths outside ``/opt/ml`` are returned unchanged: a processing job may name any local path,
    and only the ``/opt/ml`` tree is remapped.
    """
    env = os.environ if environ is None else environ
    posix = PurePosixPath(path)
    root = env.get(OPT_ML_ENV)
    if not root or not posix.is_relative_to(OPT_ML):
        return Path(posix)
    return Path(root).joinpath(*posix.relative_to(OPT_ML).parts)
