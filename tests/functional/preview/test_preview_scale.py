"""Previews at platform scale: a repository of 300 generated tenants (generated here, never committed).

A spec edit synthesizes that one tenant on each side; the comment leads with the summary, keeps the
changed tenant and collapses the rest; a comment that would pass GitHub's limit is shortened and
links the full report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from preview_support import CHURN, copy_project, git
from typer.testing import CliRunner

from core.terraform.diff import Action
from tenantml.changes import detect_working_tree_changes
from tenantml.preview.render import MAX_COMMENT_CHARS, render_full_markdown, render_markdown
from tenantml.preview.report import build_preview_report
from tenantml.synthesis import synth

COUNT = 300
runner = CliRunner()


def _generate(tenants: Path, count: int) -> None:
    template = yaml.safe_load(CHURN)
    tenants.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        spec = {
            **template,
            "name": f"team{i:03d}",
            "compute": {**template["compute"], "vpc_cidr": f"10.{i // 16}.{(i % 16) * 16}.0/20"},
        }
        (tenants / f"team{i:03d}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("big")
    copy_project(repo)
    _generate(repo / "tenants", COUNT)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{COUNT} tenants")
    return repo


def test_a_spec_edit_among_300_tenants_synthesizes_one_tenant_per_side(big_repo, cli, monkeypatch):
    # given one of 300 specs edited in the working tree
    edited = big_repo / "tenants" / "team123.yaml"
    original = edited.read_text()
    edited.write_text(original.replace("m6i.large", "m6i.xlarge"))
    monkeypatch.chdir(big_repo)
    try:
        changes = detect_working_tree_changes(big_repo, "HEAD", big_repo / "tenants")
        # when previewed, as the workflow does
        result = runner.invoke(
            cli,
            ["preview", "--base", "HEAD", "--format", "json"],
            catch_exceptions=False,
        )
        markdown = runner.invoke(
            cli,
            [
                "preview",
                "--base",
                "HEAD",
                "--format",
                "markdown",
                "--details-url",
                "https://ci.example/run/1",
            ],
            catch_exceptions=False,
        )
    finally:
        edited.write_text(original)

    # then only that tenant is synthesized, on each side, and the other 299 are counted as unchanged
    assert [c.tenant for c in changes.changed] == ["team123"] and not changes.every_stack
    report = json.loads(result.stdout)
    assert [(t["tenant"], t["status"]) for t in report["tenants"]] == [("team123", "changed")]
    assert report["not_synthesized"] == COUNT - 1
    text = markdown.stdout
    assert f"{COUNT} tenant(s), 1 changed, {COUNT - 1} unchanged" in text
    assert f"{COUNT - 1} tenant(s) were not synthesized" in text
    assert "| `team123` | changed | 0 | 1 | 0 | 0 |" in text
    assert len(text) < MAX_COMMENT_CHARS


def test_a_change_to_every_tenant_leads_with_the_summary_risky_first_and_fits_one_comment(tmp_path):
    # given 300 tenants all changed by one code change, two of which lose their data bucket
    tenants = tmp_path / "tenants"
    _generate(tenants, 1)
    from core.spec import load_specs

    (result,) = [r for r in synth(load_specs(tenants), tmp_path / "out", cache=None) if r.stack == "team000"]
    base_doc = json.loads(result.path.read_text())
    head_doc = json.loads(result.path.read_text())
    head_doc["resource"]["aws_launch_template"]["fleet"]["instance_type"] = "m6i.xlarge"
    risky_doc = json.loads(json.dumps(head_doc))
    risky_doc["resource"]["aws_s3_bucket"]["storage_data"]["bucket"] = "renamed-data-bucket"
    names = [f"team{i:03d}" for i in range(COUNT)]
    heads = {n: (risky_doc if n in ("team150", "team299") else head_doc) for n in names}
    report = build_preview_report("origin/main", dict.fromkeys(names, base_doc), heads, [])

    # when rendered as the PR comment
    comment = render_markdown(report, details_url="https://ci.example/run/2")
    full = render_full_markdown(report)

    # then the summary comes first, the tenants that lose data head the table, and it fits one comment
    assert len(full) > MAX_COMMENT_CHARS  # the whole report does not fit ...
    assert len(comment) <= MAX_COMMENT_CHARS  # ... the comment does, and says where the rest is
    assert "https://ci.example/run/2" in comment
    lines = comment.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("**Resources:**"))
    table = [line for line in lines if line.startswith("| `team")]
    assert summary < lines.index(table[0])
    assert [row.split("`")[1] for row in table[:2]] == ["team150", "team299"]
    replaced = {
        t.tenant: t.diff.count(Action.REPLACE) for t in report.tenants if t.diff.count(Action.REPLACE)
    }
    assert set(replaced) == {"team150", "team299"}
    updated = sum(t.diff.count(Action.UPDATE) for t in report.tenants)
    assert lines[summary] == (
        f"**Resources:** 0 to destroy, {sum(replaced.values())} to replace, {updated} to update, 0 to create."
    )


@pytest.fixture
def cli():
    import typer

    from tenantml.cli.preview import register

    app = typer.Typer(name="tenantml", pretty_exceptions_enable=False, add_completion=False)
    register(app)
    return app
