"""Installing the runtime: only into an emulator of this process, one runtime at a time, undone cleanly."""

from __future__ import annotations

import threading

import pytest
from runtime_support import create_function, handler_zip
from wait_support import wait_until

from core.errors import LambdaRuntimeInstallError
from tenantml.emulator.runtime import LambdaRuntime, install, moto_hooks, uninstall


def test_given_an_endpoint_this_process_did_not_start_when_installing_then_it_is_refused():
    with pytest.raises(LambdaRuntimeInstallError) as raised:
        install("http://127.0.0.1:1", "eu-west-1")

    assert str(raised.value) == (
        "the Lambda runtime needs the emulator to run in this process; http://127.0.0.1:1 is not one this process "
        "started (start it with tenantml.emulator.server.start)"
    )
    assert moto_hooks.installed_runtime() is None


def test_given_an_installed_runtime_when_another_is_installed_then_it_is_refused(
    lambda_runtime, runtime_emulator
):
    other = LambdaRuntime(runtime_emulator.endpoint, "eu-west-1")

    with pytest.raises(LambdaRuntimeInstallError, match="another Lambda runtime is already installed"):
        install(runtime_emulator.endpoint, runtime=other)

    assert moto_hooks.installed_runtime() is lambda_runtime
    assert not other.running


def test_given_an_installed_runtime_when_uninstalled_then_moto_is_restored_and_the_runtime_stopped(
    aws, lambda_runtime, tmp_path
):
    from moto.awslambda.models import LambdaFunction

    create_function(aws, "plain", handler_zip(tmp_path, "def handler(event, context):\n    return 'ran'\n"))

    uninstall()

    assert LambdaFunction.invoke.__qualname__ == "LambdaFunction.invoke"
    assert moto_hooks.installed_runtime() is None
    assert not lambda_runtime.running
    payload = aws.client("lambda").invoke(FunctionName="plain", Payload=b"{}")["Payload"].read().decode()
    assert payload.startswith("error running docker")  # moto as shipped, without Docker


SLOW_HANDLER = """
    import time

    def handler(event, context):
        time.sleep(event["seconds"])
        print("finished")
"""


def test_given_an_async_invocation_in_flight_when_uninstalled_then_stop_waits_for_it(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "slow", handler_zip(tmp_path, SLOW_HANDLER), timeout=10)
    aws.client("lambda").invoke(FunctionName="slow", InvocationType="Event", Payload=b'{"seconds": 0.5}')

    uninstall(timeout=10)

    assert lambda_runtime.metrics("slow").invocations == 1
    (run,) = lambda_runtime.history("slow")
    assert not run.failed
    assert "finished" in run.log_text


def test_given_an_invocation_outlasting_the_stop_deadline_when_uninstalled_then_it_is_killed(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "stuck", handler_zip(tmp_path, SLOW_HANDLER), timeout=900)
    # the handler would outlive the test's own timeout: only a kill lets uninstall return
    aws.client("lambda").invoke(FunctionName="stuck", InvocationType="Event", Payload=b'{"seconds": 3600}')
    wait_until(lambda: lambda_runtime.runner.running, message="the invocation never started")

    stopping = threading.Thread(target=uninstall, kwargs={"timeout": 0.5}, daemon=True)
    stopping.start()
    stopping.join(60)

    assert not stopping.is_alive(), "uninstall waited for the invocation instead of killing it"
    (run,) = lambda_runtime.history("stuck")
    assert run.error["errorType"] == "Runtime.ExitError"
    assert run.error["errorMessage"].endswith("Runtime exited with error: signal: 9")
    assert lambda_runtime.metrics("stuck").dropped_events == 1
