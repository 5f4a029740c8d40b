"""Which tenants a merge changes, and the deploy batches they go out in (``tenantml changed``).

The deploy workflow (``.github/workflows/deploy.yml``) applies only these tenants. The decision
is made from git alone, between two commits, without synthesizing anything:

* a tenant whose spec file (``<tenants>/<name>.yaml``) changed, or that is new, is changed;
* a spec file that is gone is a **removed** tenant: reported, never applied or destroyed here
  (destroying a tenant's data takes a reviewed ``terraform destroy``);
* a change to anything that reaches every stack (:data:`EVERY_STACK_PATHS`: the constructs, the
  stack, the Lambda code and pipelines packaged into it, the model the JSON is written with, the
  locked libraries, ``cdktf.json``, the ``platform.yaml`` beside the tenants) changes every tenant.

This over-approximates on purpose: a code change that leaves a tenant's synthesized JSON as it was
still lists the tenant, and its deploy job's ``terraform plan`` then shows no changes. Comparing
synthesized JSON instead (what ``tenantml preview`` does) would be exact, but costs two full
synths per merge (about 2 x 136 s at 1,000 tenants today); that becomes worth it once synthesis
is cached per tenant (issue 17, point 1).

Tenant names are the spec files' names (``tenantml synth --tenant`` checks that the file holds
that tenant), read with ``git ls-tree`` at each commit: no checkout is needed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import UsageError
from core.platform import PLATFORM_FILE_NAME
from tenantml.git_repo import git
from tenantml.git_repo import repo_root as git_repo_root
from tenantml.git_repo import resolve_commit as git_resolve_commit

#: GitHub Actions: "a job matrix can generate a maximum of 256 jobs per workflow run"
#: (https://docs.github.com/en/actions/reference/limits)
MAX_MATRIX_JOBS = 256
DEFAULT_BATCH_SIZE = 200
#: what ``--base`` is on a push that created the branch (``github.event.before``): there is no base
NULL_COMMIT = "0" * 40
#: paths, relative to the repository, whose change can change every tenant's stack (a trailing
#: ``/`` is a directory); ``tenantml/synthesis.py`` is the driver ``tenantml synth`` runs the stack with
EVERY_STACK_PATHS = (
    "core/",
    "infra/",
    "stacks/",
    "lambdas/",
    "pipelines/",
    "tenantml/synthesis.py",
    "pyproject.toml",
    "requirements/runtime.lock",
    "requirements/dev.lock",
    "cdktf.json",
)
SPEC_SUFFIXES = (".yaml", ".yml")
#: the ``head`` of a change set of the working tree (``tenantml preview``), not a commit
WORKING_TREE = "working tree"


class ChangeDetectionError(UsageError):
    """``tenantml changed`` cannot decide: not a git repository, or a ref that names no commit."""


@dataclass(frozen=True)
class TenantChange:
    tenant: str
    #: ``new``, ``spec changed``, ``every stack`` (with the first path that reaches them) or ``no base``
    reason: str


@dataclass(frozen=True)
class ChangeSet:
    """The tenants to deploy between ``base`` (``None``: no base, deploy every tenant) and ``head``."""

    base: str | None
    head: str
    changed: tuple[TenantChange, ...]
    #: tenants whose spec is gone at ``head``: for a reviewed destroy, never applied
    removed: tuple[str, ...]
    #: changed paths that reach every stack (empty when only specs changed)
    every_stack: tuple[str, ...] = field(default=())

    @property
    def tenants(self) -> list[str]:
        return [change.tenant for change in self.changed]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return git(root, *args, command="tenantml changed")


def repo_root(path: Path) -> Path:
    return git_repo_root(path, "tenantml changed")


def resolve_commit(root: Path, ref: str, option: str) -> str:
    return git_resolve_commit(
        root,
        ref,
        option,
        "; after a force push, run the deploy workflow by hand without a base to deploy every tenant",
    )


def spec_names(root: Path, commit: str, tenants: PurePosixPath) -> set[str]:
    """The tenant names (spec file stems) in ``tenants`` at ``commit``."""
    proc = _git(root, "ls-tree", "--name-only", "-z", commit, "--", f"{tenants}/")
    if proc.returncode != 0:
        raise ChangeDetectionError(f"git ls-tree failed at {commit[:12]}: {proc.stderr.strip()}")
    paths = [PurePosixPath(p) for p in proc.stdout.split("\0") if p]
    return {p.stem for p in paths if p.parent == tenants and p.suffix in SPEC_SUFFIXES}


def _reaches_every_stack(path: str, platform_file: str) -> bool:
    if path == platform_file:
        return True
    return any(path.startswith(p) if p.endswith("/") else path == p for p in EVERY_STACK_PATHS)


def detect_changes(root: Path, base: str | None, head: str, tenants_dir: Path) -> ChangeSet:
    """The tenants whose stacks ``head`` changes compared with ``base`` (refs resolved in ``root``).

    ``tenants_dir`` is the spec directory (absolute, or relative to ``root``); ``platform.yaml`` is
    the one beside it. ``base`` ``None``, empty or :data:`NULL_COMMIT`: every tenant at ``head``.
    """
    head_commit = resolve_commit(root, head, "--head")
    tenants, platform_file = _tenants_paths(root, tenants_dir)
    head_names = spec_names(root, head_commit, tenants)

    if not base or base == NULL_COMMIT:
        changed = tuple(TenantChange(name, "no base") for name in sorted(head_names))
        return ChangeSet(None, head_commit, changed, ())

    base_commit = resolve_commit(root, base, "--base")
    proc = _git(root, "diff", "--name-only", "--no-renames", "-z", base_commit, head_commit)
    if proc.returncode != 0:
        raise ChangeDetectionError(f"git diff failed: {proc.stderr.strip()}")
    paths = [p for p in proc.stdout.split("\0") if p]
    return _classify(
        base_commit,
        head_commit,
        paths,
        spec_names(root, base_commit, tenants),
        head_names,
        tenants,
        platform_file,
    )


def detect_working_tree_changes(root: Path, base: str, tenants_dir: Path) -> ChangeSet:
    """The tenants whose stacks the working tree (committed or not, untracked files included)
    changes compared with the commit ``base``; ``head`` reads ``working tree``."""
    base_commit = resolve_commit(root, base, "--base")
    tenants, platform_file = _tenants_paths(root, tenants_dir)
    diff = _git(root, "diff", "--name-only", "--no-renames", "-z", base_commit)
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    for proc in (diff, untracked):
        if proc.returncode != 0:
            raise ChangeDetectionError(f"git failed: {proc.stderr.strip()}")
    paths = [p for p in (diff.stdout + untracked.stdout).split("\0") if p]
    spec_dir = root / tenants
    head_names = (
        {p.stem for p in spec_dir.iterdir() if p.is_file() and p.suffix in SPEC_SUFFIXES}
        if spec_dir.is_dir()
        else set()
    )
    return _classify(
        base_commit,
        WORKING_TREE,
        paths,
        spec_names(root, base_commit, tenants),
        head_names,
        tenants,
        platform_file,
    )


def _tenants_paths(root: Path, tenants_dir: Path) -> tuple[PurePosixPath, str]:
    """The spec directory and ``platform.yaml`` beside it, relative to ``root``."""
    absolute = tenants_dir if tenants_dir.is_absolute() else root / tenants_dir
    try:
        relative = absolute.resolve().relative_to(root)
    except ValueError as err:
        raise ChangeDetectionError(f"--tenants {tenants_dir} is outside the repository {root}") from err
    platform_file = (PurePosixPath(relative.parent.as_posix()) / PLATFORM_FILE_NAME).as_posix()
    return PurePosixPath(relative.as_posix()), platform_file


def _classify(
    base: str,
    head: str,
    paths: list[str],
    base_names: set[str],
    head_names: set[str],
    tenants: PurePosixPath,
    platform_file: str,
) -> ChangeSet:
    paths = sorted(set(paths))
    every_stack = tuple(p for p in paths if _reaches_every_stack(p, platform_file))
    edited = {
        PurePosixPath(p).stem
        for p in paths
        if PurePosixPath(p).parent == tenants and PurePosixPath(p).suffix in SPEC_SUFFIXES
    }
    changes = []
    for name in sorted(head_names):
        if name not in base_names:
            changes.append(TenantChange(name, "new"))
        elif name in edited:
            changes.append(TenantChange(name, "spec changed"))
        elif every_stack:
            changes.append(TenantChange(name, f"every stack ({every_stack[0]} changed)"))
    removed = tuple(sorted(base_names - head_names))
    return ChangeSet(base, head, tuple(changes), removed, every_stack)


def batches(tenants: list[str], size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
    """``tenants`` in chunks of at most ``size``: one GitHub job matrix each, ``{index, tenants}``.

    The deploy workflow runs a matrix over these batches too, so neither the tenants in a batch nor
    the number of batches may pass :data:`MAX_MATRIX_JOBS`.
    """
    if not 1 <= size <= MAX_MATRIX_JOBS:
        raise UsageError(
            f"--batch-size {size} must be between 1 and {MAX_MATRIX_JOBS} (GitHub's matrix limit)"
        )
    chunks = [tenants[i : i + size] for i in range(0, len(tenants), size)]
    if len(chunks) > MAX_MATRIX_JOBS:
        raise UsageError(
            f"{len(tenants)} tenants make {len(chunks)} batches of {size}: more than the {MAX_MATRIX_JOBS} "
            "jobs a matrix may have; raise --batch-size"
        )
    return [{"index": i, "tenants": chunk} for i, chunk in enumerate(chunks)]


def changes_json(changes: ChangeSet, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """What ``tenantml changed --format json`` prints; ``batches`` feeds the deploy workflow's matrix."""
    return {
        "base": changes.base,
        "head": changes.head,
        "tenants": changes.tenants,
        "changed": [{"tenant": c.tenant, "reason": c.reason} for c in changes.changed],
        "removed": list(changes.removed),
        "every_stack": list(changes.every_stack),
        "batch_size": batch_size,
        "batches": batches(changes.tenants, batch_size),
    }


def render_markdown(changes: ChangeSet, batch_size: int = DEFAULT_BATCH_SIZE) -> str:
    """The deploy run's job summary: counts, removed tenants first, the changed ones collapsed."""
    base = changes.base[:12] if changes.base else "no base (every tenant)"
    count = len(changes.changed)
    lines = [
        "## Tenants to deploy",
        "",
        (
            f"`{base}` → `{changes.head[:12]}`: {count} tenant(s) to deploy in "
            f"{len(batches(changes.tenants, batch_size))} batch(es) of at most {batch_size}, "
            f"{len(changes.removed)} removed."
        ),
        "",
    ]
    if changes.removed:
        lines += [
            "> [!WARNING]",
            (
                "> **Removed tenants are not destroyed by this workflow.** Their stacks and data stay until "
                "someone runs a reviewed `terraform destroy` of each:"
            ),
            ">",
            *[f"> - `{name}`" for name in changes.removed],
            "",
        ]
    if changes.every_stack:
        shown = ", ".join(f"`{p}`" for p in changes.every_stack[:10])
        more = f" and {len(changes.every_stack) - 10} more" if len(changes.every_stack) > 10 else ""
        lines += [f"Changes that reach every stack: {shown}{more}.", ""]
    if changes.changed:
        lines += [f"<details><summary>{count} tenant(s)</summary>", "", "| Tenant | Why |", "| --- | --- |"]
        lines += [f"| `{c.tenant}` | {c.reason} |" for c in changes.changed]
        lines += ["", "</details>", ""]
    return "\n".join(lines)
