"""What the tools write into a checkout stays out of git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "written",
    [
        "reports/drift-churn.html",  # `tenantml report` without --out (tenantml/monitor_cli.py)
        "cdktf.out/stacks/churn/cdk.tf.json",  # `tenantml synth`, `cdktf synth`
        ".tenantml/up.json",  # `tenantml up`
    ],
)
def test_given_a_file_a_command_writes_in_the_checkout_then_git_ignores_it(written: str) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")

    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-v", written],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert checked.returncode == 0, (
        f"{written} is not ignored: {checked.stderr or 'no .gitignore rule matches'}"
    )
