"""``tenantml preview`` and ``tenantml check`` end to end, on a real temporary git repository.

Each preview synthesizes twice (the base in a git worktree with its own code, the working tree),
about 2-4 s; the tests share one repository and change only clones of it.

The expected report of the change is ``golden/preview_change.md``. A construct change that
legitimately changes it (a new resource next to a bucket, say) regenerates it with
``TENANTML_UPDATE_GOLDEN=1 .venv/bin/pytest tests/functional/preview -k exact``; review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
from preview_support import CHURN, PROJECT_ROOT, SEARCH, git, write_tenants
from typer.testing import CliRunner

GOLDEN = Path(__file__).parent / "golden" / "preview_change.md"
runner = CliRunner()


def invoke(app, *args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_preview_reports_the_exact_change(preview_repo, cli, monkeypatch, tmp_path):
    # given HEAD adds tenant search, puts churn on m6i.xlarge and moves fraud to another account
    monkeypatch.chdir(preview_repo)
    report = tmp_path / "preview.md"
    # when the change is previewed against its parent
    # (priced as of a fixed date: which EKS versions are in extended support depends on it)
    result = invoke(
        cli,
        "preview",
        "--base",
        "HEAD~1",
        "--format",
        "markdown",
        "--output",
        str(report),
        "--as-of",
        "2026-12-07",
    )
    # then the report is exactly the expected one, and nothing failed
    assert result.exit_code == 0, result.output
    actual = report.read_text()
    if os.environ.get("TENANTML_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(actual)
    expected = GOLDEN.read_text()
    assert actual == expected, "".join(
        difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual")
    )
    # and the repository is as it was: clean working tree, the temporary worktree removed
    assert git(preview_repo, "status", "--porcelain") == ""
    assert worktrees(preview_repo) == [f"worktree {preview_repo.resolve()}"]


def test_preview_shows_removed_and_new_tenants_and_fails_on_policy_errors(clone, cli, monkeypatch):
    # given a working tree (against origin/main) that removes churn and adds a tenant without a cost-center tag
    git(clone, "rm", "-q", "tenants/churn.yaml")
    write_tenants(
        clone,
        untagged=SEARCH.replace("name: search", "name: untagged")
        .replace("10.30.", "10.40.")
        .replace('tags:\n  cost-center: "cc-3003"\n', ""),
    )
    monkeypatch.chdir(clone)
    # when previewed as JSON
    result = invoke(cli, "preview", "--base", "origin/main", "--format", "json")
    # then policy errors make it exit 1, and the report says what happens to each tenant
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    # (fraud and search: nothing they are built from changed, so neither side synthesizes them)
    assert {t["tenant"]: t["status"] for t in report["tenants"]} == {"churn": "removed", "untagged": "new"}
    assert report["not_synthesized"] == 2
    churn = next(t for t in report["tenants"] if t["tenant"] == "churn")
    # all of churn's stack at the base (its resources: tests/infra)
    assert churn["counts"]["destroy"] == 113 and churn["policy"] is None
    assert churn["cost"]["monthly_after"] is None and churn["cost"]["monthly_delta"] < 0
    destroyed = {(w["tenant"], w["address"]) for w in report["data_warnings"]}
    assert {
        ("churn", "aws_s3_bucket.storage_data"),
        ("churn", "aws_kms_key.key"),
        ("churn", "aws_kinesis_stream.stream"),
        ("churn", "aws_sagemaker_model_package_group.registry"),
    } <= destroyed
    untagged = next(t for t in report["tenants"] if t["tenant"] == "untagged")
    # no cost-center tag: the stack fails the tag rule, and its auto scaling group the tag-propagation rule
    assert {f["rule_id"] for f in untagged["policy"]["findings"]} == {"TM-TAG-001", "TM-ASG-001"}
    assert report["policy_failed"] is True


def test_preview_warn_only_exits_zero_and_prints_text(clone, cli, monkeypatch):
    spec = (clone / "tenants" / "search.yaml").read_text()
    (clone / "tenants" / "search.yaml").write_text(spec.replace('tags:\n  cost-center: "cc-3003"\n', ""))
    monkeypatch.chdir(clone)
    result = invoke(cli, "preview", "--base", "origin/main", "--warn-only")
    assert result.exit_code == 0, result.output
    assert "tenantml preview: base origin/main -> working tree" in result.stdout
    assert "TM-TAG-001" in result.stdout and "lack cost-center" in result.stdout


def test_preview_removes_the_worktree_when_the_base_fails_to_synthesize(clone, cli, monkeypatch):
    # given a base commit whose own code cannot synthesize
    app_file = clone / "stacks" / "app.py"
    original = app_file.read_text()
    broken = original.replace(
        "    synth_app(build_app(specs, outdir, platform), outdir)", '    raise RuntimeError("broken base")'
    )
    assert broken != original
    app_file.write_text(broken)
    git(clone, "commit", "-q", "-am", "break the app")
    app_file.write_text(original)
    monkeypatch.chdir(clone)
    # when previewed against it
    result = runner.invoke(cli, ["preview", "--base", "HEAD"])
    # then it is an error (exit 2) that shows the base's failure, and no worktree is left behind
    assert result.exit_code == 2
    assert "synthesizing the base ref" in result.stderr and "RuntimeError: broken base" in result.stderr
    assert worktrees(clone) == [f"worktree {clone.resolve()}"]
    assert git(clone, "status", "--porcelain") == " M stacks/app.py\n"  # the working tree as the test left it


def test_preview_outside_a_git_repository_is_a_usage_error(cli, monkeypatch, tmp_path):
    write_tenants(tmp_path, churn="name: churn\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["preview", "--base", "main"])
    assert result.exit_code == 2
    assert "is not inside a git repository" in result.stderr


def test_preview_of_an_unknown_ref_is_a_usage_error(preview_repo, cli, monkeypatch):
    monkeypatch.chdir(preview_repo)
    result = runner.invoke(cli, ["preview", "--base", "origin/no-such-branch"])
    assert result.exit_code == 2
    assert "--base 'origin/no-such-branch' does not name a commit" in result.stderr
    assert "fetch-depth: 0" in result.stderr


def test_preview_of_a_bad_spec_is_a_usage_error(clone, cli, monkeypatch):
    (clone / "tenants" / "fraud.yaml").write_text("name: Fraud!\n")
    monkeypatch.chdir(clone)
    result = runner.invoke(cli, ["preview", "--base", "origin/main"])
    assert result.exit_code == 2
    assert "invalid tenant spec" in result.stderr and "fraud.yaml: name" in result.stderr


def test_check_passes_on_the_example_tenants_with_zero_findings(cli, tmp_path):
    output = tmp_path / "check.json"
    result = invoke(
        cli,
        "check",
        "--tenants",
        str(PROJECT_ROOT / "tenants"),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        "--output",
        str(output),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert report["passed"] is True
    # nothing open; fraud (a prod tenant) shows its access-log bucket's reasoned SSE-S3 exception
    open_findings = {
        t["tenant"]: [f for f in t["findings"] if not f.get("suppressed_by")] for t in report["tenants"]
    }
    assert open_findings == {"churn": [], "fraud": [], "fraud-kubernetes": [], "shop": []}
    suppressed = [
        (f["rule_id"], f["address"])
        for t in report["tenants"]
        for f in t["findings"]
        if f.get("suppressed_by")
    ]
    assert suppressed == [("TM-S3-001", "aws_s3_bucket.storage_access_logs")]
    assert all(t["checks"] > 150 for t in report["tenants"] if not t["tenant"].endswith("-kubernetes"))


@pytest.fixture
def untagged_tenants(tmp_path: Path) -> Path:
    tenants = tmp_path / "tenants"
    write_tenants(tmp_path, churn=CHURN.replace('tags:\n  cost-center: "cc-1001"\n', ""))
    return tenants


def test_check_fails_on_policy_errors(cli, untagged_tenants, tmp_path):
    result = invoke(
        cli,
        "check",
        "--tenants",
        str(untagged_tenants),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "markdown",
    )
    assert result.exit_code == 1
    assert "| `churn` | " in result.stdout and "errors" in result.stdout
    assert "default_tags and resource tags lack cost-center" in result.stdout


def test_check_warn_only_exits_zero(cli, untagged_tenants, tmp_path):
    result = invoke(
        cli, "check", "--tenants", str(untagged_tenants), "--out", str(tmp_path / "out"), "--warn-only"
    )
    assert result.exit_code == 0
    assert "TM-TAG-001" in result.stdout


def test_check_of_an_unknown_tenant_is_a_usage_error(cli, tmp_path):
    result = runner.invoke(
        cli,
        [
            "check",
            "--tenants",
            str(PROJECT_ROOT / "tenants"),
            "--tenant",
            "nobody",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert "no tenant with this name; known: churn, fraud" in result.stderr
