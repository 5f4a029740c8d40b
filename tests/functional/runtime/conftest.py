"""One emulator for the session; a fresh Lambda runtime hooked into it for every test that asks.

The runtime is installed per test (and uninstalled after draining), so moto behaves as
shipped for every other test in the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantml.emulator import server
from tenantml.emulator.runtime import LambdaRuntime, install, uninstall
from tenantml.emulator.session import AwsSession

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def runtime_emulator() -> Iterator[server.EmulatorServer]:
    running = server.start(0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def code_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Extracted function code, shared by the session's tests (keyed by the zip's sha256)."""
    return tmp_path_factory.mktemp("lambda-code")


@pytest.fixture
def aws(runtime_emulator: server.EmulatorServer) -> AwsSession:
    """A session on the emulator, emptied first."""
    server.reset(runtime_emulator.endpoint)
    return server.make_session(runtime_emulator.endpoint, REGION)


@pytest.fixture
def lambda_runtime(
    aws: AwsSession, runtime_emulator: server.EmulatorServer, code_cache_dir: Path
) -> Iterator[LambdaRuntime]:
    """The runtime, installed with short retry delays and poll intervals so tests stay fast."""
    runtime = install(
        runtime_emulator.endpoint,
        REGION,
        code_cache_dir=code_cache_dir,
        async_retry_delays=(0.05, 0.05),
        poll_interval=0.05,
        stream_retry_delay=0.05,
    )
    try:
        yield runtime
    finally:
        runtime.wait_idle(10)
        uninstall(timeout=10)
