"""The GitHub workflows call commands and flags the CLI really has.

Every ``tenantml ...`` invocation in a ``run:`` step is parsed; its command must exist, answer
``--help``, and accept each ``--flag`` the workflow passes.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from preview_support import PROJECT_ROOT
from typer.testing import CliRunner

from tenantml.cli.preview import register
from tenantml.preview.render import COMMENT_MARKER

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
runner = CliRunner()


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def shell_commands(script: str) -> list[list[str]]:
    """Simple commands of a shell script: lines split on ``&&``, ``||``, ``;`` and ``|``, quotes honoured."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token in ("&&", "||", ";", "|", "&"):
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def tenantml_calls(doc: dict[str, Any]) -> list[list[str]]:
    """The argument lists of every ``tenantml`` command in the workflow's shell steps."""
    return [
        words[1:]
        for step in steps(doc)
        for words in shell_commands(step.get("run", ""))
        if Path(words[0]).name == "tenantml"
    ]


def full_cli() -> tuple[typer.Typer, Any]:
    """``tenantml`` as users get it (the main CLI plus check and preview, until the lead wires them in),
    and its click group."""
    from tenantml.cli import app as main_app

    app = typer.Typer(name="tenantml")
    app.registered_commands.extend(main_app.registered_commands)
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    if not {"check", "preview"} <= names:
        register(app)
    command = typer.main.get_command(app)
    assert hasattr(command, "commands"), "tenantml must be a command group"
    return app, command


@pytest.mark.parametrize("workflow", ["tests.yml", "preview.yml", "deploy.yml", "deploy-tenants.yml"])
def test_workflow_is_valid_yaml_with_jobs(workflow):
    doc = load(workflow)
    assert doc["on"] and doc["jobs"]
    # the deploy job may run on a self-hosted runner in the VPC (private EKS endpoint), ubuntu-latest by default
    hosted = ("ubuntu-latest", "${{ vars.DEPLOY_RUNNER || 'ubuntu-latest' }}")
    # a job that calls a reusable workflow of this repository runs where that workflow says
    assert all(
        job.get("runs-on") in hosted or job.get("uses", "").startswith("./.github/workflows/")
        for job in doc["jobs"].values()
    )


@pytest.mark.parametrize("workflow", ["preview.yml", "deploy.yml", "deploy-tenants.yml"])
def test_workflow_commands_and_flags_exist(workflow):
    app, group = full_cli()
    calls = tenantml_calls(load(workflow))
    assert calls, f"{workflow} calls no tenantml command"
    for args in calls:
        name = args[0]
        assert name in group.commands, f"{workflow}: tenantml {name} does not exist"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        accepted = {opt for param in group.commands[name].params for opt in param.opts}
        used = {a.split("=", 1)[0] for a in args[1:] if a.startswith("--")}
        assert used <= accepted, f"{workflow}: tenantml {name} does not accept {sorted(used - accepted)}"


def test_tests_workflow_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\s*```\s*\n(.*?)\n```", readme, re.DOTALL)
    assert command is not None
    doc = load("tests.yml")
    assert "push" in doc["on"]
    assert command.group(1).strip() in [step.get("run", "").strip() for step in steps(doc)]


def test_preview_workflow_compares_with_the_base_branch_and_updates_one_comment():
    doc = load("preview.yml")
    assert "pull_request" in doc["on"]
    checkout = next(s for s in steps(doc) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    [args] = tenantml_calls(doc)
    assert args[:3] == ["preview", "--base", "origin/$BASE_REF"]
    assert ["--format", "markdown"] == args[3:5] and args[5:7] == ["--output", "preview.md"]
    # the comment is shortened to fit; the whole report is the run's artifact, linked from it
    assert args[7:] == ["--full-output", "preview-full.md", "--details-url", "$RUN_URL#artifacts"]
    preview_step = next(s for s in steps(doc) if "tenantml preview" in s.get("run", ""))
    assert preview_step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    upload = next(s for s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "preview-full.md"
    script = next(s for s in steps(doc) if s.get("uses", "").startswith("actions/github-script"))["with"][
        "script"
    ]
    assert COMMENT_MARKER in script and "updateComment" in script and "createComment" in script
    assert doc["permissions"]["pull-requests"] == "write"


def test_deploy_workflow_applies_each_tenant_with_oidc_credentials():
    doc = load("deploy.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"]["id-token"] == "write"
    assert doc["jobs"]["deploy"]["uses"] == "./.github/workflows/deploy-tenants.yml"
    batch = load("deploy-tenants.yml")
    assert batch["permissions"]["id-token"] == "write"
    deploy = batch["jobs"]["tenant"]
    assert deploy["strategy"]["matrix"]["tenant"] == "${{ fromJSON(inputs.tenants) }}"
    credentials = next(
        s for s in deploy["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    [synth] = tenantml_calls(batch)
    assert synth == ["synth", "--tenant", "$TENANT"]
    apply = "\n".join(s.get("run", "") for s in deploy["steps"])
    assert 'terraform -chdir="cdktf.out/stacks/$TENANT" init' in apply
    assert 'terraform -chdir="cdktf.out/stacks/$TENANT" apply -input=false tfplan' in apply
