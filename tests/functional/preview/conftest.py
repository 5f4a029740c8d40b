"""Fixtures for the preview tests: the git repository (see ``preview_support``) and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from preview_support import CHURN, FRAUD, SEARCH, copy_project, git, write_tenants

from tenantml.cli.preview import register


@pytest.fixture(scope="session")
def preview_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two commits: the base (churn and fraud), then a change (HEAD): a new tenant search,
    churn on m6i.xlarge, fraud moved to another account (which renames its buckets).

    Session-wide and never modified: a test that changes files works in a clone.
    """
    repo = tmp_path_factory.mktemp("repo")
    copy_project(repo)
    write_tenants(repo, churn=CHURN, fraud=FRAUD)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base: churn and fraud")
    write_tenants(
        repo,
        churn=CHURN.replace("m6i.large", "m6i.xlarge"),
        fraud=FRAUD.replace("111122223333", "444455556666"),
        search=SEARCH,
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add search, bigger churn instances, move fraud to another account")
    return repo


@pytest.fixture
def clone(preview_repo: Path, tmp_path: Path) -> Path:
    """A clone of ``preview_repo`` (``origin/main`` is its HEAD) that a test may change."""
    target = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(preview_repo), str(target))
    return target


@pytest.fixture
def cli() -> typer.Typer:
    """The two commands as ``tenantml`` exposes them once the lead wires ``register(app)``."""
    app = typer.Typer(
        name="tenantml", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
    )
    register(app)
    return app
