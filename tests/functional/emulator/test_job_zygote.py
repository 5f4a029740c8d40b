"""The job zygote: job processes forked with the image's libraries imported, otherwise as ``python -m``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantml.emulator.job_zygote import ZygoteClient, ZygoteError

#: a module that reports what a fresh interpreter would know about itself, then exits as told
PROBE = """
import json, os, sys
preloaded = sorted(m for m in ("numpy", "tenantml", "pipelines", "core") if m in sys.modules)
import numpy
print(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "env": dict(os.environ),
    "preloaded": preloaded, "draw": numpy.random.random(), "name": __name__,
}))
if sys.argv[1] == "raise":
    raise ValueError("the probe failed on purpose")
if sys.argv[1] == "sleep":
    import time
    time.sleep(60)
if sys.argv[1] == "blas":
    a = numpy.random.rand(400, 400)
    print((a @ a).shape)
sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else 0)
"""
BASE_ENV = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[ZygoteClient]:
    (tmp_path / "probe.py").write_text(PROBE)
    client = ZygoteClient(sys.executable, BASE_ENV, preload=("numpy",)).start()
    try:
        yield client
    finally:
        client.close()


def _run(zygote: ZygoteClient, cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    child = zygote.spawn("probe", list(args), env=env or {**BASE_ENV, "JOB": "one"}, cwd=cwd)
    output = child.stdout.read().decode()
    return child.wait(30), output


def test_a_child_runs_the_module_as_main_with_the_jobs_environment_argv_and_folder(
    zygote: ZygoteClient, tmp_path: Path
) -> None:
    code, output = _run(zygote, tmp_path, "7")
    report = json.loads(output.splitlines()[0])
    assert code == 7
    assert report["name"] == "__main__"
    assert report["argv"] == [str(tmp_path / "probe.py"), "7"]
    assert report["cwd"] == report["path0"] == str(tmp_path)
    # exactly the job's variables: nothing of the zygote's own environment
    assert report["env"] == {**BASE_ENV, "JOB": "one"}
    # the library was imported before the job started; none of our code was
    assert report["preloaded"] == ["numpy"]


def test_children_draw_different_random_numbers_as_fresh_interpreters_do(
    zygote: ZygoteClient, tmp_path: Path
) -> None:
    draws = {json.loads(_run(zygote, tmp_path, "0")[1].splitlines()[0])["draw"] for _ in range(3)}
    assert len(draws) == 3


def test_an_uncaught_exception_prints_its_traceback_and_exits_1(zygote: ZygoteClient, tmp_path: Path) -> None:
    code, output = _run(zygote, tmp_path, "raise")
    assert code == 1
    assert "Traceback (most recent call last)" in output
    assert "ValueError: the probe failed on purpose" in output


def test_a_child_using_the_preloaded_blas_threads_exits(zygote: ZygoteClient, tmp_path: Path) -> None:
    # native exit handlers of a forked OpenBLAS wait forever on the zygote's threads: the child skips them
    code, output = _run(zygote, tmp_path, "blas")
    assert (code, output.splitlines()[-1]) == (0, "(400, 400)")


def test_a_child_leads_its_own_process_group_so_a_stop_kills_it(zygote: ZygoteClient, tmp_path: Path) -> None:
    child = zygote.spawn("probe", ["sleep"], env=BASE_ENV, cwd=tmp_path)
    child.stdout.readline()  # it is running
    assert os.getpgid(child.pid) == child.pid
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.1)
    os.killpg(child.pid, signal.SIGTERM)
    assert child.wait(10) == -signal.SIGTERM


def test_a_job_setting_what_the_preloaded_imports_read_needs_a_cold_start(zygote: ZygoteClient) -> None:
    assert not zygote.needs_cold_start({**BASE_ENV, "AWS_REGION": "eu-west-1", "TENANTML_OPT_ML": "/x"})
    for variable in ("OMP_NUM_THREADS", "MPLBACKEND", "PYTHONHASHSEED", "HOME"):
        assert zygote.needs_cold_start({**BASE_ENV, variable: "1"}), variable
    assert zygote.needs_cold_start({**BASE_ENV, "LANG": "de_DE.UTF-8"})


def test_a_closed_zygote_refuses_to_spawn_and_its_socket_is_gone(
    zygote: ZygoteClient, tmp_path: Path
) -> None:
    assert zygote.ready()
    assert zygote.socket_path.is_socket()
    zygote.close()
    assert not zygote.socket_path.parent.exists()
    with pytest.raises(ZygoteError, match="did not start the job"):
        zygote.spawn("probe", ["0"], env=BASE_ENV, cwd=tmp_path)


def test_a_zygote_that_cannot_start_reports_why(tmp_path: Path) -> None:
    broken = ZygoteClient(str(tmp_path / "no-such-python"), BASE_ENV)
    with pytest.raises(FileNotFoundError):
        broken.start()
    broken.close()
    # given a zygote whose socket cannot be made (its folder removed under it)
    failing = ZygoteClient(sys.executable, BASE_ENV, preload=())
    failing.socket_path.parent.rmdir()
    failing.start()
    started = time.monotonic()
    assert not failing.ready(timeout=30)
    assert time.monotonic() - started < 30
    with pytest.raises(ZygoteError, match="exited with 1: .*FileNotFoundError"):
        failing.spawn("probe", ["0"], env=BASE_ENV, cwd=tmp_path)
    failing.close()


def test_a_library_the_image_lacks_is_named_and_the_zygote_still_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    client = ZygoteClient(sys.executable, BASE_ENV, preload=("numpy", "no_such_library_xyz")).start()
    try:
        with caplog.at_level("WARNING", logger="tenantml.emulator.job_zygote"):
            assert client.ready()
        assert "could not preload no_such_library_xyz" in caplog.text
        assert _run(client, tmp_path, "0")[0] == 0
    finally:
        client.close()
