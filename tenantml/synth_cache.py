"""A content-addressed cache of synthesized tenant stacks, so that an unchanged tenant is not built again.

An entry is everything one tenant's synthesis writes (its stack directory, and its Kubernetes
stack's when it serves on EKS) plus those stacks' ``manifest.json`` entries and resource counts,
stored under a key that hashes every input the output depends on:

- the tenant spec and the platform settings, as validated (so formatting and comments do not count);
- the code that builds a stack or goes into one (``core``, ``infra``, ``stacks``, ``lambdas``,
  ``pipelines`` and this driver), by content;
- every installed distribution's name and version (cdktf, constructs, jsii, and what the Lambda
  layer bundles), the Python version and the CDK library chosen (``TENANTML_CDK``).

Entries are written to a scratch directory and renamed into place, so a crash leaves either a
whole entry or none. Published output is hard-linked from an entry (copied across file systems):
nothing in tenantml rewrites a synthesized file in place, it replaces directories.

The cache lives in ``$TENANTML_SYNTH_CACHE`` (``off`` disables it), else
``$XDG_CACHE_HOME/tenantml/synth`` (``~/.cache/tenantml/synth``). It keeps the most recently used
:data:`MAX_ENTRIES` entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.distributions import name_and_version
from core.platform import PlatformSpec
from core.spec import TenantSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: what a stack's content can depend on, relative to the project root
CODE_PATHS = ("core", "infra", "stacks", "lambdas", "pipelines", "tenantml/synthesis.py")
CODE_SUFFIXES = frozenset({".py", ".json", ".j2", ".html", ".txt", ".yaml"})
CACHE_ENV = "TENANTML_SYNTH_CACHE"
#: a thousand tenants, each synthesized at two code versions (a preview's base and head), and room
MAX_ENTRIES = 3000
ENTRY_META = "entry.json"
#: bumped when an entry's layout changes
FORMAT = 1


@dataclass(frozen=True)
class CachedStack:
    name: str
    resource_count: int
    #: the stack's entry in cdktf's ``manifest.json``, and that manifest's ``version``
    manifest: Mapping[str, Any]
    manifest_version: str


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the cache lives, or None when ``TENANTML_SYNTH_CACHE=off``."""
    configured = environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "false") else Path(configured)
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tenantml" / "synth"


@cache
def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """The hash of every file that builds a stack or ships in one, and of the installed libraries."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for relative in CODE_PATHS:
        path = root / relative
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in CODE_SUFFIXES)
        for file in files:
            if "__pycache__" in file.parts or not file.is_file():
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    versions = sorted(
        f"{name.lower()}=={version}"
        for name, version in map(name_and_version, importlib.metadata.distributions())
    )
    digest.update("\n".join(versions).encode())
    digest.update(f"python {sys.version_info[:2]} cdk {os.environ.get('TENANTML_CDK', 'cdktf')}".encode())
    return digest.hexdigest()


def spec_key(spec: TenantSpec, platform: PlatformSpec, fingerprint: str) -> str:
    payload = json.dumps(
        [fingerprint, spec.model_dump(mode="json"), platform.model_dump(mode="json")], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class SynthCache:
    """Entries under ``root/<key[:2]>/<key>/``: ``stacks/<stack>/...`` and ``entry.json``."""

    def __init__(self, root: Path, *, max_entries: int = MAX_ENTRIES) -> None:
        self.root = Path(root)
        self.max_entries = max_entries

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _stacks(self, entry: Path) -> list[CachedStack] | None:
        try:
            meta = json.loads((entry / ENTRY_META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return [
            CachedStack(s["name"], int(s["resources"]), s["manifest"], str(meta.get("version", "")))
            for s in meta["stacks"]
        ]

    def published(self, key: str, stacks_dir: Path) -> list[CachedStack] | None:
        """The entry's stacks when each one's document in ``stacks_dir/<stack>/`` is this entry's file
        (a hard link made by :meth:`get`, so the whole directory is), else None."""
        entry = self._entry(key)
        stacks = self._stacks(entry)
        if stacks is None:
            return None
        for stack in stacks:
            document = Path(stack.name) / "cdk.tf.json"
            try:
                if not os.path.samefile(entry / "stacks" / document, stacks_dir / document):
                    return None
            except OSError:
                return None
        with contextlib.suppress(OSError):
            os.utime(entry / ENTRY_META)  # most recently used: kept by prune
        return stacks

    def get(self, key: str, into: Path) -> list[CachedStack] | None:
        """Link the entry's stack directories into ``into/stacks/``; None when there is no whole entry."""
        entry = self._entry(key)
        stacks = self._stacks(entry)
        if stacks is None:
            return None
        try:
            for stack in stacks:
                _link_tree(entry / "stacks" / stack.name, into / "stacks" / stack.name)
        except OSError:
            for stack in stacks:  # an entry pruned under us: synthesize instead
                shutil.rmtree(into / "stacks" / stack.name, ignore_errors=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / ENTRY_META)  # most recently used: kept by prune
        return stacks

    def put(self, key: str, built: Path, stacks: list[CachedStack]) -> None:
        """Store the stacks ``built/stacks/<name>`` under ``key``; a concurrent writer's entry wins."""
        entry = self._entry(key)
        if (entry / ENTRY_META).exists():
            return
        if entry.exists():  # left without its record by a crash: never read, replace it
            shutil.rmtree(entry, ignore_errors=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".put-", dir=entry.parent))
        try:
            for stack in stacks:
                _link_tree(built / "stacks" / stack.name, scratch / "stacks" / stack.name)
            meta = {
                "version": next((s.manifest_version for s in stacks), ""),
                "stacks": [
                    {"name": s.name, "resources": s.resource_count, "manifest": dict(s.manifest)}
                    for s in stacks
                ],
            }
            (scratch / ENTRY_META).write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.replace(scratch, entry)
            except OSError:  # another process stored the same key first
                pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def prune(self) -> int:
        """Drop the least recently used entries beyond ``max_entries``; the number dropped."""
        if not self.root.is_dir():
            return 0
        entries = []
        for meta in self.root.glob(f"*/*/{ENTRY_META}"):
            with contextlib.suppress(OSError):
                entries.append((meta.stat().st_mtime, meta.parent))
        entries.sort(reverse=True)
        for _, entry in entries[self.max_entries :]:
            shutil.rmtree(entry, ignore_errors=True)
        return max(0, len(entries) - self.max_entries)


def _link_tree(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


__all__ = ["CACHE_ENV", "CachedStack", "SynthCache", "code_fingerprint", "default_cache_dir", "spec_key"]
