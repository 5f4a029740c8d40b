"""`cdktf synth` runs cdktf.json's "app" through a shell in the project directory, with
``CDKTF_OUTDIR`` set; it must find the project's Python and write what `tenantml synth` writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantml.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: what the app needs from a checkout (the sources it imports, the specs, the launcher)
CHECKOUT = ("cdktf.json", "scripts", "stacks", "infra", "tenantml", "pipelines", "lambdas", "tenants")


#: every stack of the example tenants: fraud serves on EKS, so it has a Kubernetes stack too
EXAMPLE_STACKS = [
    Path("stacks/churn/cdk.tf.json"),
    Path("stacks/fraud/cdk.tf.json"),
    Path("stacks/fraud-kubernetes/cdk.tf.json"),
    Path("stacks/shop/cdk.tf.json"),
]


def _run_app(project: Path, outdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the app string as cdktf does: a shell in ``project``, ``CDKTF_OUTDIR`` set. The environment
    is a fresh terminal's: no virtual environment activated, none of its directories on PATH."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    command = json.loads((project / "cdktf.json").read_text())["app"]
    return subprocess.run(
        command,
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**base, "PATH": path, "CDKTF_OUTDIR": str(outdir), **env},
    )


def _stacks(outdir: Path) -> list[Path]:
    return sorted(p.relative_to(outdir) for p in outdir.glob("stacks/*/cdk.tf.json"))


def _checkout_with_venv(tmp_path: Path) -> Path:
    """A checkout laid out as after the README's install: the sources, and ``.venv`` holding tenantml."""
    project = tmp_path / "checkout"
    project.mkdir()
    for name in CHECKOUT:
        (project / name).symlink_to(ROOT / name)
    (project / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return project


@pytest.mark.slow
def test_given_an_activated_venv_when_cdktf_runs_the_app_then_it_writes_the_same_stacks_as_tenantml_synth(
    tmp_path: Path,
) -> None:
    # given the command cdktf's CLI would run, in a shell where the project's venv is activated
    ran = _run_app(ROOT, tmp_path / "cdktf", VIRTUAL_ENV=sys.prefix)
    assert ran.returncode == 0, ran.stderr[-2000:]

    # when tenantml synth writes the same tenants elsewhere
    result = CliRunner().invoke(
        app, ["synth", "--tenants", str(ROOT / "tenants"), "--out", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output

    # then every stack document is identical
    assert _stacks(tmp_path / "cdktf") == _stacks(tmp_path / "cli") == EXAMPLE_STACKS
    for stack in _stacks(tmp_path / "cli"):
        assert json.loads((tmp_path / "cdktf" / stack).read_text()) == json.loads(
            (tmp_path / "cli" / stack).read_text()
        )
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["churn", "fraud", "fraud-kubernetes", "shop"]


@pytest.mark.slow
def test_given_the_readme_install_when_cdktf_runs_the_app_from_a_fresh_shell_then_it_synthesizes(
    tmp_path: Path,
) -> None:
    # given a checkout with `.venv` as the README's install makes it, and nothing activated
    project = _checkout_with_venv(tmp_path)

    # when cdktf runs the app
    ran = _run_app(project, tmp_path / "out")

    # then it ran in the project's environment and wrote every tenant's stack
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert _stacks(tmp_path / "out") == EXAMPLE_STACKS


def test_given_no_project_environment_when_cdktf_runs_the_app_then_it_says_how_to_install(
    tmp_path: Path,
) -> None:
    # given a checkout before the install: no `.venv`, nothing activated
    project = _checkout_with_venv(tmp_path)
    (project / ".venv").unlink()

    # when cdktf runs the app
    ran = _run_app(project, tmp_path / "out")

    # then it fails naming the fix, and writes nothing
    assert ran.returncode == 2
    assert "pip install --require-hashes -r requirements/runtime.lock" in ran.stderr
    assert not (tmp_path / "out").exists()
