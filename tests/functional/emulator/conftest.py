"""One moto server for the whole test session, reset before every test that uses it; the example stacks, synthesized once per module."""

from __future__ import annotations

import json
import subprocess
import sys
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


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both example tenants synthesized by the CLI, as `tenantml up` would (once per test module)."""
    out = tmp_path_factory.mktemp("cdktf.out")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "tenantml"), "synth", "--out", str(out)],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr or completed.stdout
    return out
