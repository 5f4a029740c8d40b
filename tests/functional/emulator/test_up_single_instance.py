"""One `tenantml up` per directory, guarded by a lock another process holds (tests/e2e has the whole-`up` case)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import EmulatorAlreadyRunningError
from tenantml.up import claim_single_instance, lock_file_of, up

ROOT = Path(__file__).resolve().parents[3]
STOP_TIMEOUT_S = 60

#: another process that claims the directory as `up` does first, then waits until stdin closes
_HOLDER = """
import sys
from pathlib import Path
from tenantml.up import claim_single_instance
claim_single_instance(Path(sys.argv[1]))
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def up_file(tmp_path: Path) -> Path:
    return tmp_path / ".tenantml" / "up.json"


@pytest.fixture
def holder(up_file: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(up_file)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        yield process
    finally:
        if process.poll() is None:
            process.stdin.close()  # type: ignore[union-attr]
            process.wait(timeout=STOP_TIMEOUT_S)


def test_given_an_up_getting_ready_when_a_second_up_starts_then_it_fails_at_once_naming_the_first(
    holder, up_file, tmp_path
):
    # given: the first up's state, and no up.json yet (it is written only when everything is ready)
    state_dir = up_file.parent / "state"
    state_dir.mkdir(parents=True)
    (state_dir / "churn.json").write_text("{}")

    # when
    with pytest.raises(EmulatorAlreadyRunningError) as refused:
        up(
            [],
            out_dir=tmp_path / "cdktf.out",
            port=0,
            once=True,
            report=print,
            up_file=up_file,
            state_dir=state_dir,
        )

    # then: refused before anything started, naming the first, whose state is untouched
    assert str(refused.value) == (
        f"tenantml up is already running (pid {holder.pid}, starting); "
        f"stop it with Ctrl-C (or `kill {holder.pid}`) before starting another"
    )
    assert refused.value.exit_code == 2
    assert (state_dir / "churn.json").read_text() == "{}"
    assert not (tmp_path / "cdktf.out").exists()


def test_given_an_up_that_was_killed_when_another_starts_then_the_directory_is_free_and_its_up_json_gone(
    holder, up_file
):
    # given: an up that died without cleaning up, leaving its up.json and its lock file (with its pid)
    up_file.write_text(
        json.dumps(
            {
                "emulator": {
                    "endpoint": "http://127.0.0.1:1",
                    "pid": holder.pid,
                    "region": "us-east-1",
                    "state_dir": "x",
                }
            }
        )
    )
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=STOP_TIMEOUT_S)
    assert lock_file_of(up_file).read_text().strip() == str(holder.pid)

    # when
    lock = claim_single_instance(up_file)

    # then: the kernel dropped the dead one's lock, and its up.json describes nothing
    try:
        assert lock.held
        assert not up_file.exists()
    finally:
        lock.release()
