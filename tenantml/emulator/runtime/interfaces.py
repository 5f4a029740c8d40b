"""What the moto hooks and the stream pollers need of the Lambda runtime, as protocols.

The runtime (``core.LambdaRuntime``) installs the hooks and starts the pollers; they call back
into it through these protocols, so neither imports ``core`` and the package has no import cycle.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from tenantml.emulator.runtime.functions import FunctionSpec, MappingSpec
from tenantml.emulator.runtime.process import InvocationResult


class HookedRuntime(Protocol):
    """What moto's patched Lambda, SNS and event-source-mapping calls hand over to."""

    endpoint: str

    def invoke_sync(self, spec: FunctionSpec, event: bytes) -> InvocationResult: ...

    def invoke_async(self, spec: FunctionSpec, event: bytes, *, source: str = "") -> str: ...

    def mapping_created(self, mapping: MappingSpec, positions: dict[str, int] | None) -> None: ...

    def nudge(self) -> None: ...


class PollingRuntime(Protocol):
    """What an event-source-mapping poller reads from and reports to."""

    session: Any
    poll_interval: float
    stream_retry_delay: float

    @property
    def stopping(self) -> threading.Event: ...

    def execute_for_mapping(self, spec: FunctionSpec, event: bytes) -> InvocationResult | None: ...

    def deliver_failure(self, function_name: str, target_arn: str | None, body: str, what: str) -> None: ...

    def take_positions(self, uuid_: str) -> dict[str, int] | None: ...

    def poller_pass_done(self) -> None: ...
