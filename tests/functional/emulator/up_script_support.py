"""Run a Python script that calls ``tenantml up`` in a subprocess whose stdout is a pipe (plain lines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UP_TIMEOUT_S = 600


def run_up_script(script: str, tenants: Path, workdir: Path) -> list[str]:
    """``script`` run with ``tenants`` as its argument in ``workdir``, without the caller's AWS variables;
    its printed lines (the run must exit 0)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.run(
        [sys.executable, "-c", script, str(tenants)],
        cwd=workdir,
        text=True,
        capture_output=True,
        timeout=UP_TIMEOUT_S,
        check=False,
        env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout.splitlines()
