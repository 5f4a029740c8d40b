"""The git questions ``tenantml preview`` and ``tenantml changed`` ask of the repository they run in."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.errors import UsageError


class NotAGitRepositoryError(UsageError):
    """The command needs a git repository (to find a base commit in)."""


class UnknownRefError(UsageError):
    """A ``--base``/``--head`` ref does not name a commit."""


def git(root: Path, *args: str, command: str = "tenantml") -> subprocess.CompletedProcess[str]:
    """``git -C root args``, never raising on a non-zero exit (callers read ``returncode``)."""
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise NotAGitRepositoryError(f"git is not installed or not on PATH; {command} needs it") from err


def repo_root(path: Path, command: str = "tenantml") -> Path:
    """The top of the git working tree containing ``path``."""
    proc = git(path, "rev-parse", "--show-toplevel", command=command)
    if proc.returncode != 0:
        raise NotAGitRepositoryError(
            f"{path.resolve()} is not inside a git repository; run {command} from a clone of the project"
        )
    return Path(proc.stdout.strip()).resolve()


def resolve_commit(root: Path, ref: str, option: str = "--base", hint: str = "") -> str:
    """The commit id ``ref`` names (a branch, tag, ``origin/main``, ``HEAD~1``, a sha)."""
    proc = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        ci = "in CI, check out with fetch-depth: 0 so that the base branch is there"
        raise UnknownRefError(f"{option} {ref!r} does not name a commit in {root} ({ci}{hint})")
    return proc.stdout.strip()
