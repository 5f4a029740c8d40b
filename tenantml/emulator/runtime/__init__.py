"""The emulator's local Lambda runtime: runs the real handler code that moto only records.

Usage (the emulator must run in this process)::

    from tenantml.emulator import server
    from tenantml.emulator.runtime import install, uninstall

    emulator = server.start()
    runtime = install(emulator.endpoint, "eu-west-1")   # patches moto, starts the pollers
    ...                                                # Invoke, S3 / SNS / Kinesis / SQS triggers run code
    runtime.wait_idle(10)                              # every queued event handled
    uninstall()                                        # restores moto, drains in-flight work
    emulator.stop()

See :mod:`tenantml.emulator.runtime.core` for what runs where, and
:mod:`tenantml.emulator.runtime.moto_hooks` for what is patched in moto.
"""

from __future__ import annotations

from tenantml.emulator.runtime.core import (
    FunctionMetrics,
    LambdaRuntime,
    install,
    installed_runtime,
    uninstall,
)
from tenantml.emulator.runtime.moto_hooks import TooManyRequestsError, check_moto_internals
from tenantml.emulator.runtime.process import InvocationResult, LogLine

__all__ = [
    "FunctionMetrics",
    "InvocationResult",
    "LambdaRuntime",
    "LogLine",
    "TooManyRequestsError",
    "check_moto_internals",
    "install",
    "installed_runtime",
    "uninstall",
]
