"""Fixtures shared by every test directory (a directory's own conftest may override one), and the
``slow`` marker by directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

TESTS = Path(__file__).parent
#: moto flows, real servers and subprocesses, the emulator end to end: seconds per test, so outside
#: the everyday loop (`pytest -m "not slow"`: tests/unit and tests/infra); plain `pytest` runs them
SLOW_DIRS = (TESTS / "functional", TESTS / "e2e")


def pytest_configure(config: pytest.Config) -> None:
    # one synthesis cache per test session (inherited by the `up` processes tests start): tests
    # neither read nor fill the user's cache, and a tenant synthesized once is reused across tests
    if "TENANTML_SYNTH_CACHE" not in os.environ:
        os.environ["TENANTML_SYNTH_CACHE"] = tempfile.mkdtemp(prefix="tenantml-synth-cache-")


def _in_slow_dir(path: Path) -> bool:
    return any(path.is_relative_to(directory) for directory in SLOW_DIRS)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # everything there is slow: under `-m "not slow"`, skip importing it (moto, servers: seconds of
    # collection) instead of importing it only to deselect every test
    if config.option.markexpr.strip() == "not slow" and _in_slow_dir(collection_path):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _in_slow_dir(item.path):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def _cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture
def cancer(_cancer: pd.DataFrame) -> pd.DataFrame:
    """Breast cancer: 569 rows, 30 numeric features, binary ``target`` (a fresh copy per test)."""
    return _cancer.copy()
