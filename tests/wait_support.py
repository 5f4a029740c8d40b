"""Waiting for a condition instead of a stopwatch.

A test that asserts ``elapsed < 0.05`` or sleeps 0.3 s for "the first pass is done" fails on a
loaded machine although the code is right. Tests wait for what they mean, with a timeout far above
any honest run, so only a condition that never becomes true fails them.

Importable from any test module: ``tests/`` is on ``sys.path`` through its rootdir conftest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: seconds: generous, because it bounds only a failing test and a loaded CI runner is slow
DEFAULT_TIMEOUT = 30.0


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail the test after
    ``timeout`` seconds with ``message`` (a callable is evaluated then, to show the last state)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = message() if callable(message) else message
            raise AssertionError(f"condition not met within {timeout:g} s: {detail or condition!r}")
        time.sleep(interval)
