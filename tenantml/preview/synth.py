"""Synthesize the base ref and the working tree side by side, only the tenants that can differ.

The base is checked out with ``git worktree add --detach`` into a temporary directory (the
working tree, index and branches are untouched) and synthesized by **its own** code, with the
worktree as the current directory, so a pull request that changes constructs is previewed
against what the base really produces. The working tree is synthesized the same way. Both run
at once, with the current interpreter; the worktree is removed afterwards, also on error.

Only the tenants :func:`tenantml.changes.detect_working_tree_changes` names are synthesized on
either side: a spec edit touches one tenant, a code edit every tenant. Each side gets a
directory holding just those specs, with the real ``platform.yaml`` named by
``TENANTML_PLATFORM_FILE``. A checkout that has :mod:`tenantml.synthesis` as a program
(``python -m tenantml.synthesis``: the synthesis cache and worker processes) is synthesized with
it, an older one with ``python -m stacks.app``; both read ``CDKTF_OUTDIR``,
``TENANTML_TENANTS_DIR`` and ``TENANTML_PLATFORM_FILE``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.platform import default_platform_file
from tenantml.changes import SPEC_SUFFIXES, ChangeSet
from tenantml.git_repo import git, resolve_commit
from tenantml.git_repo import repo_root as git_repo_root
from tenantml.preview.errors import SynthFailedError

SYNTH_TIMEOUT_SECONDS = 900
_STDERR_TAIL_LINES = 25


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return git(root, *args, command="tenantml preview")


def repo_root(path: Path) -> Path:
    """The top of the git working tree containing ``path``."""
    return git_repo_root(path, "tenantml preview")


def resolve_ref(root: Path, ref: str) -> str:
    """The commit id ``ref`` names (a branch, tag, ``origin/main``, ``HEAD~1``, a sha)."""
    return resolve_commit(root, ref)


@contextmanager
def worktree(root: Path, commit: str, path: Path) -> Iterator[Path]:
    """A detached checkout of ``commit`` at ``path``, removed (and pruned) on exit."""
    proc = _git(root, "worktree", "add", "--detach", "--quiet", str(path), commit)
    if proc.returncode != 0:
        raise SynthFailedError(f"git worktree add failed for {commit[:12]}: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        removed = _git(root, "worktree", "remove", "--force", str(path))
        if removed.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            _git(root, "worktree", "prune")


@dataclass
class SynthJob:
    """One ``python -m stacks.app`` process writing into ``outdir``."""

    label: str
    code_dir: Path
    tenants_dir: Path
    outdir: Path
    platform_file: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
        env["CDKTF_OUTDIR"] = str(self.outdir)
        env["TENANTML_TENANTS_DIR"] = str(self.tenants_dir)
        env["TENANTML_PLATFORM_FILE"] = str(self.platform_file)
        env["PYTHONPATH"] = os.pathsep.join([str(self.code_dir), *filter(None, [env.get("PYTHONPATH")])])
        self._log = (self.outdir.parent / f"{self.label}.log").open("wb")
        # the synthesis program with the cache and workers, when this checkout has it
        program = (
            "tenantml.synthesis"
            if (self.code_dir / "tenantml" / "synth_workers.py").is_file()
            else "stacks.app"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", program],
            cwd=self.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait(self, what: str) -> dict[str, dict[str, Any]]:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=SYNTH_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as err:
            self.stop()
            raise SynthFailedError(f"synthesizing {what} took more than {SYNTH_TIMEOUT_SECONDS} s") from err
        finally:
            self._log.close()
            self._log = None
        if code != 0:
            log = (self.outdir.parent / f"{self.label}.log").read_text(errors="replace").splitlines()
            tail = "\n".join(log[-_STDERR_TAIL_LINES:])
            raise SynthFailedError(f"synthesizing {what} failed (in {self.code_dir}, exit {code}):\n{tail}")
        return read_stacks(self.outdir)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def read_stacks(outdir: Path) -> dict[str, dict[str, Any]]:
    """tenant -> parsed ``cdk.tf.json`` of every stack under ``outdir/stacks``."""
    stacks_dir = outdir / "stacks"
    if not stacks_dir.is_dir():
        return {}
    return {
        stack_file.parent.name: json.loads(stack_file.read_text(encoding="utf-8"))
        for stack_file in sorted(stacks_dir.glob("*/cdk.tf.json"))
    }


def _spec_subset(source: Path, tenants: Iterable[str], target: Path) -> bool:
    """Copy the spec files of ``tenants`` from ``source`` into ``target``; False when there are none."""
    wanted = set(tenants)
    target.mkdir(parents=True, exist_ok=True)
    copied = False
    if source.is_dir():
        for spec in sorted(source.iterdir()):
            if spec.is_file() and spec.suffix in SPEC_SUFFIXES and spec.stem in wanted:
                shutil.copy2(spec, target / spec.name)
                copied = True
    return copied


@dataclass(frozen=True)
class SynthPair:
    base: dict[str, dict[str, Any]]
    head: dict[str, dict[str, Any]]


def synth_base_and_head(root: Path, changes: ChangeSet, tenants_dir: Path) -> SynthPair:
    """Synthesize ``changes.base`` (in a temporary worktree) and the working tree at ``root``, in
    parallel, each only for the tenants ``changes`` names (changed or removed).

    ``tenants_dir`` is the working tree's spec directory; the base uses the same path relative
    to the repository (a base without specs there has no tenants).
    """
    assert changes.base is not None
    relative = tenants_dir.resolve().relative_to(root)
    scratch = Path(tempfile.mkdtemp(prefix="tenantml-preview-"))
    jobs: list[SynthJob] = []
    head_names = [c.tenant for c in changes.changed]
    base_names = [c.tenant for c in changes.changed if c.reason != "new"] + list(changes.removed)
    try:
        head_stacks: dict[str, dict[str, Any]] = {}
        head = None
        if _spec_subset(tenants_dir.resolve(), head_names, scratch / "head" / "tenants"):
            head = SynthJob(
                "head",
                root,
                scratch / "head" / "tenants",
                scratch / "head" / "out",
                default_platform_file(tenants_dir),
            )
            jobs.append(head)
            head.start()
        with worktree(root, changes.base, scratch / "base-src") as checkout:
            base_stacks: dict[str, dict[str, Any]] = {}
            if _spec_subset(checkout / relative, base_names, scratch / "base" / "tenants"):
                base = SynthJob(
                    "base",
                    checkout,
                    scratch / "base" / "tenants",
                    scratch / "base" / "out",
                    default_platform_file(checkout / relative),
                )
                jobs.append(base)
                base.start()
                base_stacks = base.wait(f"the base ref ({changes.base[:12]})")
        if head is not None:
            head_stacks = head.wait("the working tree")
        return SynthPair(base_stacks, head_stacks)
    finally:
        for job in jobs:
            job.stop()
        shutil.rmtree(scratch, ignore_errors=True)
