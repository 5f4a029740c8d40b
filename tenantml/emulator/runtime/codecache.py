"""Function code on disk: each zip extracted once into a cache folder named by its sha256.

Three kinds of folder, each what AWS mounts in an execution environment:

- the function's zip (``/var/task``), named by the zip's sha256;
- its layers, extracted one after the other into one folder as AWS does into ``/opt`` (a later
  layer's file replaces an earlier one's), named by the layers' digests in order;
- the runtime's own libraries (AWS's Python runtimes provide boto3 and its dependencies, nothing
  else), copied once from the emulator's environment, named by their versions.

Each is built in a temporary sibling folder that is renamed into place, so concurrent
invocations never see a half-built tree, and an interrupted build leaves nothing that looks
complete.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from core.errors import LambdaCodeError
from core.lambda_limits import RUNTIME_PROVIDED


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tenantml/lambda-code`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tenantml" / "lambda-code"


class CodeCache:
    """Extracted function code, shared by every invocation of every function with the same zip."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(digest, threading.Lock())

    def extract(self, function_name: str, code: bytes) -> Path:
        """The folder holding ``code`` unpacked (extracted on first use)."""
        if not code:
            raise LambdaCodeError(
                f"Lambda function {function_name!r} has no zip code in the emulator (image or missing S3 package); "
                "the local runtime runs zip packages only"
            )
        digest = hashlib.sha256(code).hexdigest()
        return self._build(digest, lambda staging: _safe_extract(function_name, code, staging))

    def extract_layers(self, function_name: str, layers: Sequence[bytes]) -> Path | None:
        """The folder standing for ``/opt``: every layer extracted into it in order; None without layers."""
        if not layers:
            return None
        digests = [hashlib.sha256(layer).hexdigest() for layer in layers]
        key = "opt-" + hashlib.sha256(":".join(digests).encode()).hexdigest()

        def fill(staging: Path) -> None:
            for number, layer in enumerate(layers, 1):
                _safe_extract(f"{function_name} (layer {number})", layer, staging)

        return self._build(key, fill)

    def runtime_dir(self) -> Path:
        """The libraries AWS's Python runtime provides (boto3, botocore, ...), copied from this
        environment's installed distributions once per set of versions."""
        dists = [importlib.metadata.distribution(name) for name in sorted(RUNTIME_PROVIDED)]
        versions = ",".join(f"{d.metadata['Name']}=={d.version}" for d in dists)
        key = "runtime-" + hashlib.sha256(versions.encode()).hexdigest()[:32]

        def fill(staging: Path) -> None:
            for dist in dists:
                for file in dist.files or []:
                    relative = file.as_posix()
                    # console scripts live outside site-packages; bytecode is the interpreter's own
                    if relative.startswith("../") or "__pycache__" in file.parts:
                        continue
                    source = Path(dist.locate_file(file))
                    if source.is_file():
                        target = staging / relative
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, target)

        return self._build(key, fill)

    def _build(self, key: str, fill: Callable[[Path], None]) -> Path:
        target = self.root / key
        if target.is_dir():
            return target
        with self._lock_for(key):
            if target.is_dir():
                return target
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
            try:
                fill(staging)
                try:
                    staging.rename(target)
                except OSError:
                    if not target.is_dir():  # another process won the race: use its copy
                        raise
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        return target


def _safe_extract(function_name: str, code: bytes, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(code))
    except zipfile.BadZipFile as err:
        raise LambdaCodeError(
            f"the code of Lambda function {function_name!r} is not a zip file: {err}"
        ) from err
    with archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or info.filename.startswith(("/", "\\")):
                raise LambdaCodeError(
                    f"the code of Lambda function {function_name!r} has an unsafe entry {info.filename!r} "
                    "(absolute or leaving the package); rebuild the zip with relative paths"
                )
        archive.extractall(dest)


__all__ = ["CodeCache", "default_cache_dir"]
