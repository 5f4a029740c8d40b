"""``tenantml changed`` on a real git repository with 300 generated tenants (generated here, not committed).

The command reads git only (no synthesis), so these run in the everyday loop.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.spec import load_specs
from tenantml.changes import MAX_MATRIX_JOBS, NULL_COMMIT
from tenantml.cli import app

TENANTS = 300
GIT_ENV = {
    "GIT_AUTHOR_NAME": "tenantml tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "tenantml tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
SPEC = """\
name: {name}
environment: dev
region: eu-west-1
account_id: "123456789012"
owners: [{name}@example.com]
image_tag: "1.0.0"
compute:
  kind: ec2
  instance_types: [m6i.large]
  vpc_cidr: 10.{high}.{low}.0/24
model:
  name: {name}
  problem: classification
  target: target
  primary_metric: roc_auc
  minimum_metric: 0.9
tags:
  cost-center: "cc-{index:04d}"
"""
runner = CliRunner()


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def name(index: int) -> str:
    return f"team{index:03d}"


def spec(index: int) -> str:
    # distinct /24 networks: 10.<index // 200>.<index % 200>.0/24
    return SPEC.format(name=name(index), index=index, high=index // 200, low=index % 200)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with 300 tenants, code directories and a platform.yaml, in one commit."""
    repo = tmp_path_factory.mktemp("fleet")
    (repo / "tenants").mkdir()
    for i in range(TENANTS):
        (repo / "tenants" / f"{name(i)}.yaml").write_text(spec(i))
    for path in (
        "core/naming.py",
        "infra/storage.py",
        "stacks/tenant_platform.py",
        "lambdas/monitor/handler.py",
        "pipelines/training/search.py",
        "tenantml/synthesis.py",
        "tenantml/emulator/server.py",
    ):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("VALUE = 1\n")
    for path in ("pyproject.toml", "cdktf.json", "requirements/runtime.lock", "README.md", "docs/scale.md"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("# v1\n")
    (repo / "platform.yaml").write_text("state:\n  region: us-east-1\n")
    git(repo, "init", "-q")
    commit(repo, "300 tenants")
    return repo


@pytest.fixture
def repo(fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone of the fleet that a test may commit to; the current directory."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(fleet), str(clone))
    monkeypatch.chdir(clone)
    return clone


def changed(*args: str) -> dict:
    result = runner.invoke(app, ["changed", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_generated_specs_are_300_valid_tenants_with_distinct_networks(fleet: Path):
    # load_specs rejects duplicate names and overlapping networks
    assert len(load_specs(fleet / "tenants")) == TENANTS


def test_a_spec_edit_deploys_exactly_that_tenant(repo: Path):
    # given
    base = git(repo, "rev-parse", "HEAD")
    path = repo / "tenants" / "team123.yaml"
    path.write_text(path.read_text().replace("minimum_metric: 0.9", "minimum_metric: 0.8"))
    head = commit(repo, "team123 stricter gate")

    # when
    out = changed("--base", base, "--head", head)

    # then
    assert out["tenants"] == ["team123"]
    assert out["changed"] == [{"tenant": "team123", "reason": "spec changed"}]
    assert out["batches"] == [{"index": 0, "tenants": ["team123"]}]
    assert out["removed"] == [] and out["every_stack"] == []


def test_a_code_edit_deploys_all_300_in_two_batches_of_at_most_200(repo: Path):
    # given
    base = git(repo, "rev-parse", "HEAD")
    (repo / "infra" / "storage.py").write_text("VALUE = 2\n")
    head = commit(repo, "a construct change")

    # when
    out = changed("--base", base, "--head", head, "--batch-size", "200")

    # then
    assert len(out["tenants"]) == TENANTS
    assert [len(b["tenants"]) for b in out["batches"]] == [200, 100]
    assert [t for b in out["batches"] for t in b["tenants"]] == [name(i) for i in range(TENANTS)]
    assert {c["reason"] for c in out["changed"]} == {"every stack (infra/storage.py changed)"}
    assert out["every_stack"] == ["infra/storage.py"]


@pytest.mark.parametrize(
    "path",
    [
        "core/naming.py",
        "stacks/tenant_platform.py",
        "lambdas/monitor/handler.py",
        "pipelines/training/search.py",
        "tenantml/synthesis.py",
        "pyproject.toml",
        "cdktf.json",
        "requirements/runtime.lock",
        "platform.yaml",
    ],
)
def test_whatever_reaches_every_stack_deploys_every_tenant(repo: Path, path: str):
    base = git(repo, "rev-parse", "HEAD")
    with (repo / path).open("a") as file:
        file.write("# changed\n")
    head = commit(repo, f"change {path}")

    out = changed("--base", base, "--head", head)

    assert len(out["tenants"]) == TENANTS and out["every_stack"] == [path]


def test_docs_and_the_emulator_deploy_nothing(repo: Path):
    base = git(repo, "rev-parse", "HEAD")
    for path in ("README.md", "docs/scale.md", "tenantml/emulator/server.py"):
        with (repo / path).open("a") as file:
            file.write("# changed\n")
    head = commit(repo, "docs and emulator")

    out = changed("--base", base, "--head", head)

    assert out["tenants"] == [] and out["batches"] == []


def test_a_removed_tenant_is_reported_and_never_deployed(repo: Path):
    # given: one tenant removed in the same merge as a code change
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "tenants/team042.yaml")
    (repo / "core" / "naming.py").write_text("VALUE = 2\n")
    head = commit(repo, "retire team042")

    # when
    out = changed("--base", base, "--head", head)
    summary = runner.invoke(app, ["changed", "--base", base, "--head", head, "--format", "markdown"])

    # then: the other 299 are deployed; team042 is only reported
    assert out["removed"] == ["team042"]
    deployed = [t for b in out["batches"] for t in b["tenants"]]
    assert len(deployed) == TENANTS - 1 and "team042" not in deployed
    assert summary.exit_code == 0
    assert "not destroyed by this workflow" in summary.stdout and "- `team042`" in summary.stdout


def test_a_new_tenant_and_a_renamed_spec(repo: Path):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "tenants" / "team300.yaml").write_text(spec(300))
    git(repo, "mv", "tenants/team007.yaml", "tenants/bond.yaml")
    head = commit(repo, "a new tenant; team007 renamed")

    out = changed("--base", base, "--head", head)

    # a renamed file is a new tenant and a removed one (the old stack is not touched)
    assert out["changed"] == [{"tenant": "bond", "reason": "new"}, {"tenant": "team300", "reason": "new"}]
    assert out["removed"] == ["team007"]


@pytest.mark.parametrize("base", [[], ["--base", ""], ["--base", NULL_COMMIT]])
def test_without_a_base_every_tenant_is_deployed(repo: Path, base: list[str]):
    out = changed(*base)

    assert out["base"] is None and len(out["tenants"]) == TENANTS
    assert [len(b["tenants"]) for b in out["batches"]] == [200, 100]


def test_an_unknown_base_is_a_usage_error_naming_it(repo: Path):
    result = runner.invoke(app, ["changed", "--base", "0123abcd" * 5])

    assert result.exit_code == 2
    assert "--base '0123abcd" in result.stderr and "does not name a commit" in result.stderr


def test_a_batch_larger_than_the_matrix_limit_is_refused(repo: Path):
    result = runner.invoke(app, ["changed", "--batch-size", str(MAX_MATRIX_JOBS + 1)])

    assert result.exit_code == 2
    assert "--batch-size" in result.stderr


def test_small_batches_split_300_tenants_in_order(repo: Path):
    out = changed("--batch-size", "64")

    assert [len(b["tenants"]) for b in out["batches"]] == [64, 64, 64, 64, 44]
    assert [b["index"] for b in out["batches"]] == [0, 1, 2, 3, 4]
