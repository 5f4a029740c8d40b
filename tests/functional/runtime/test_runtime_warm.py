"""Warm execution environments: reused between invocations like AWS, discarded when AWS would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runtime_support import create_function, handler_zip, invocation_logs

from tenantml.emulator.runtime import uninstall

COUNTER_HANDLER = """
    import os
    import time

    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        print(f"call {CALLS} of {event.get('tag', '')}")
        if event.get("fail"):
            raise RuntimeError("asked to fail")
        time.sleep(event.get("sleep", 0))
        return {"calls": CALLS, "pid": os.getpid(), "greeting": os.environ.get("GREETING")}
"""


def _invoke(aws, name, payload=None, **kwargs):
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose: it runs nothing
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_given_a_warm_environment_when_invoked_again_then_globals_persist_and_only_the_first_is_a_cold_start(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "counter", handler_zip(tmp_path, COUNTER_HANDLER))

    bodies = [_invoke(aws, "counter", {"tag": f"t{i}"})[1] for i in range(3)]
    tail_response, _ = _invoke(aws, "counter", {"tag": "t3"}, LogType="Tail")

    assert [b["calls"] for b in bodies] == [1, 2, 3]
    assert len({b["pid"] for b in bodies}) == 1
    assert [r.cold_start for r in lambda_runtime.history("counter")] == [True, False, False, False]
    runs = invocation_logs(aws, "/aws/lambda/counter")
    assert len(runs) == 4
    for number, messages in enumerate(runs, start=1):
        assert messages[0].startswith("START RequestId: ")
        assert [m for m in messages if m.startswith("call ")] == [f"call {number} of t{number - 1}"]
        assert messages[-2].startswith("END RequestId: ")
        assert ("Init Duration:" in messages[-1]) == (number == 1)
    tail = base64.b64decode(tail_response["LogResult"]).decode()
    assert "call 4 of t3" in tail and "call 3 of t2" not in tail
    assert lambda_runtime.runner.environments == 1


def test_given_a_handler_error_when_invoked_again_then_the_environment_survived(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "flaky", handler_zip(tmp_path, COUNTER_HANDLER))

    first = _invoke(aws, "flaky", {"fail": True})
    second = _invoke(aws, "flaky")

    assert first[0]["FunctionError"] == "Unhandled" and first[1]["errorMessage"] == "asked to fail"
    assert second[1]["calls"] == 2
    assert [r.cold_start for r in lambda_runtime.history("flaky")] == [True, False]


def test_given_a_timed_out_invocation_when_invoked_again_then_it_cold_starts_and_the_old_process_is_gone(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "sleepy", handler_zip(tmp_path, COUNTER_HANDLER), timeout=1)
    _, warm = _invoke(aws, "sleepy")

    _, body = _invoke(aws, "sleepy", {"sleep": 30})
    _, after = _invoke(aws, "sleepy")

    assert body["errorType"] == "Sandbox.Timedout"
    assert _wait_dead(warm["pid"])
    assert after["calls"] == 1 and after["pid"] != warm["pid"]
    assert [r.cold_start for r in lambda_runtime.history("sleepy")] == [True, False, True]


def test_given_an_import_error_when_invoked_then_the_environment_is_discarded(aws, lambda_runtime, tmp_path):
    create_function(aws, "broken", handler_zip(tmp_path, "import not_a_module_anywhere\n"))

    bodies = [_invoke(aws, "broken")[1] for _ in range(2)]

    assert [b["errorType"] for b in bodies] == ["Runtime.ImportModuleError"] * 2
    assert [r.cold_start for r in lambda_runtime.history("broken")] == [True, True]
    assert lambda_runtime.runner.environments == 0


def test_given_a_code_or_configuration_update_when_invoked_then_old_environments_are_retired(
    aws, lambda_runtime, tmp_path
):
    client = aws.client("lambda")
    create_function(aws, "evolving", handler_zip(tmp_path, COUNTER_HANDLER), env={"GREETING": "v1"})
    _, first = _invoke(aws, "evolving")

    client.update_function_configuration(
        FunctionName="evolving", Environment={"Variables": {"GREETING": "v2"}}
    )
    _, configured = _invoke(aws, "evolving")
    client.update_function_code(
        FunctionName="evolving",
        ZipFile=handler_zip(tmp_path, COUNTER_HANDLER.replace('"greeting"', '"new_code"')),
    )
    _, recoded = _invoke(aws, "evolving")

    assert (first["greeting"], configured["greeting"], recoded["new_code"]) == ("v1", "v2", "v2")
    assert [b["calls"] for b in (first, configured, recoded)] == [1, 1, 1]
    assert _wait_dead(first["pid"]) and _wait_dead(configured["pid"])
    assert lambda_runtime.runner.environments == 1


def test_given_concurrent_invocations_when_they_overlap_then_each_gets_its_own_environment_and_both_stay_warm(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "parallel", handler_zip(tmp_path, COUNTER_HANDLER))

    with ThreadPoolExecutor(2) as pool:
        overlapping = list(pool.map(lambda _: _invoke(aws, "parallel", {"sleep": 1.0})[1], range(2)))
    later = [_invoke(aws, "parallel")[1] for _ in range(2)]

    assert len({b["pid"] for b in overlapping}) == 2
    assert {b["pid"] for b in later} <= {b["pid"] for b in overlapping}
    assert lambda_runtime.runner.environments == 2


def test_given_idle_environments_when_the_idle_time_passes_then_they_are_reaped(
    aws, lambda_runtime, tmp_path
):
    lambda_runtime.runner.idle_timeout = 0.4
    create_function(aws, "idle", handler_zip(tmp_path, COUNTER_HANDLER))
    _, body = _invoke(aws, "idle")

    assert _wait_dead(body["pid"], timeout=5)
    assert lambda_runtime.runner.environments == 0
    _, again = _invoke(aws, "idle")
    assert again["calls"] == 1


def test_given_warm_environments_when_the_runtime_is_uninstalled_then_no_process_is_left(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "one", handler_zip(tmp_path, COUNTER_HANDLER))
    create_function(aws, "two", handler_zip(tmp_path, COUNTER_HANDLER))
    pids = [_invoke(aws, name)[1]["pid"] for name in ("one", "two")]
    assert all(_alive(pid) for pid in pids)

    uninstall(timeout=5)

    assert [pid for pid in pids if _alive(pid)] == []


ABANDONING_PROGRAM = """
    import io, json, os, sys, zipfile
    from tenantml.emulator import server
    from tenantml.emulator.runtime import install

    running = server.start(0)
    install(running.endpoint, "eu-west-1", code_cache_dir=sys.argv[1])
    aws = server.make_session(running.endpoint, "eu-west-1")
    role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "import os\\ndef handler(event, context):\\n    return os.getpid()\\n")
    aws.client("lambda").create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                                         Code={"ZipFile": buffer.getvalue()})
    print(aws.client("lambda").invoke(FunctionName="f")["Payload"].read().decode(), flush=True)
    os._exit(0)  # no uninstall, no cleanup: as if the process were killed
"""


def test_given_a_process_that_dies_without_stopping_its_runtime_then_its_warm_environments_exit_too(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ABANDONING_PROGRAM), str(tmp_path / "code")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    pid = int(completed.stdout.strip().splitlines()[-1])
    assert _wait_dead(pid, timeout=5)
