"""docs/cli.md is generated from the Typer app, so the reference cannot drift from the commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ["utils", "docs", "--name", "tenantml", "--title", "tenantml command reference"]


def test_the_cli_reference_is_what_the_app_generates(tmp_path: Path) -> None:
    # when: typer renders the reference of the app the `tenantml` command runs
    out = tmp_path / "cli.md"
    subprocess.run(
        [str(Path(sys.executable).parent / "typer"), "tenantml.cli.app", *REGENERATE, "--output", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )

    # then
    assert (ROOT / "docs" / "cli.md").read_text() == out.read_text(), (
        "docs/cli.md is stale: regenerate it with `.venv/bin/typer tenantml.cli.app "
        + " ".join(REGENERATE)
        + " --output docs/cli.md`"
    )
