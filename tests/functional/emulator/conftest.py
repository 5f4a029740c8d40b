"""One moto server for the whole test session, reset before every test that uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantml.emulator import server
from tenantml.emulator.session import AwsSession

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def emulator() -> Iterator[server.EmulatorServer]:
    running = server.start(0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def aws(emulator: server.EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> AwsSession:
    """A session on the emulator, emptied first; the stacks' region is eu-west-1."""
    monkeypatch.delenv("TENANTML_EMULATOR_FAIL_AT", raising=False)
    server.reset(emulator.endpoint)
    return server.make_session(emulator.endpoint, "eu-west-1")


@pytest.fixture
def small_stack() -> dict:
    """bucket + versioning + SSE-KMS with a key + public access block + stream + topic + role + queue."""
    return json.loads((FIXTURES / "small_stack.json").read_text())
