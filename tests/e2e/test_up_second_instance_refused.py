"""A second `tenantml up` started while the first is still getting ready is refused at once.

The window matters: `up.json` is written only when everything is ready, so a guard that reads it
let a second `up` through, and that one deleted the first one's state files.
"""

from __future__ import annotations

import subprocess
import sys
import time

from up_support import ROOT, _env

READY_TIMEOUT_S = 240

#: a real `up` of one tenant, held in its last step (after apply, before up.json) until stdin closes
_FIRST_UP = """
import sys
from pathlib import Path
from core.spec import load_specs
from tenantml.up import up

def wait_in_the_window(context, summary):
    Path("in-the-window").write_text("")
    sys.stdin.read()

up(load_specs(Path(sys.argv[1]), only="churn"), out_dir=Path("cdktf.out"), port=0, once=True,
   report=lambda message: print(message, flush=True), steps=[wait_in_the_window])
"""


def test_a_second_up_while_the_first_gets_ready_is_refused_naming_it_and_leaves_its_state(tmp_path) -> None:
    # given: a first up that has applied churn but not yet written up.json
    first = subprocess.Popen(
        [sys.executable, "-c", _FIRST_UP, str(ROOT / "tenants")],
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (tmp_path / "in-the-window").exists():
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "the first up did not get to its last step"
            time.sleep(0.2)
        state_file = tmp_path / ".tenantml" / "state" / "churn.json"
        assert state_file.exists() and not (tmp_path / ".tenantml" / "up.json").exists()

        # when: a second up starts in the same directory
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "tenantml.cli",
                "up",
                "--tenants",
                str(ROOT / "tenants"),
                "--tenant",
                "churn",
                "--out",
                "cdktf.out",
                "--emulator-port",
                "0",
                "--once",
                "--no-lifecycle",
            ],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=READY_TIMEOUT_S,
            check=False,
        )

        # then: it is refused before it starts anything, naming the first, whose state is untouched
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"tenantml up is already running (pid {first.pid}" in second.stderr
        assert "AWS emulator" not in second.stdout
        assert state_file.exists()
    finally:
        first.stdin.close()
        first.wait(timeout=READY_TIMEOUT_S)
    # and the first one finishes as if nothing had happened
    assert first.returncode == 0, first.stdout.read()
