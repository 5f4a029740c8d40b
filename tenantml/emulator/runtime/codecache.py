"""Function code on disk: each zip extracted once into a cache folder named by its sha256.

Extraction goes to a temporary sibling folder that is renamed into place, so concurrent
invocations of the same code never see a half-extracted tree, and an interrupted
extraction leaves nothing that looks complete.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import LambdaCodeError


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
        target = self.root / digest
        if target.is_dir():
            return target
        with self._lock_for(digest):
            if target.is_dir():
                return target
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
            try:
                _safe_extract(function_name, code, staging)
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
