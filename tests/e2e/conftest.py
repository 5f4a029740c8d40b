"""One `tenantml up` for the e2e session (tests/e2e/up_support.py starts and stops it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from up_support import UpProcess, start_up, stop_up


@pytest.fixture(scope="session")
def running_up(tmp_path_factory) -> Iterator[UpProcess]:
    up = start_up(tmp_path_factory.mktemp("up"))
    yield up
    if up.process.poll() is None:
        stop_up(up)
