"""What the runtime needs to know about a function or an event source mapping, as plain data.

Snapshots are taken from moto's own objects when an invocation starts (or a poller pass
begins), so a function updated meanwhile affects only later invocations, as on AWS, and
no moto object is shared with the runtime's threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the attributes the hooks add to moto's ``LambdaFunction`` (moto 5.2.5 drops these settings)
DEAD_LETTER_ATTRIBUTE = "_tenantml_dead_letter_config"
LOGGING_ATTRIBUTE = "_tenantml_logging_config"

#: AWS's default number of retries of a failed asynchronous invocation
DEFAULT_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class FunctionSpec:
    """One function version as the runtime runs it."""

    name: str
    arn: str
    version: str
    region: str
    account_id: str
    handler: str
    runtime: str
    role: str
    timeout: float
    memory_size: int
    environment: dict[str, str] = field(default_factory=dict)
    code: bytes = field(default=b"", repr=False)
    #: the zips of the function's layers, in the function's order (AWS extracts them into ``/opt``)
    layers: tuple[bytes, ...] = field(default=(), repr=False)
    reserved_concurrency: int | None = None
    dead_letter_arn: str | None = None
    log_group: str = ""
    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None
    async_max_retries: int = DEFAULT_ASYNC_RETRIES
    async_max_event_age: int | None = None
    on_failure_arn: str | None = None
    on_success_arn: str | None = None

    @property
    def unqualified_arn(self) -> str:
        parts = self.arn.split(":")
        return ":".join(parts[:7])


def _layer_code(arn: str) -> bytes:
    """The zip of a layer version, from the backend of the account and region its ARN names."""
    from moto.awslambda.utils import get_backend

    parts = arn.split(":")
    layer = get_backend(parts[4], parts[3]).layers_versions_by_arn(arn) if len(parts) >= 8 else None
    return getattr(layer, "code_bytes", b"") or b""


def function_spec(fn: Any) -> FunctionSpec:
    """A :class:`FunctionSpec` from moto's ``LambdaFunction`` object."""
    logging = getattr(fn, LOGGING_ATTRIBUTE, None) or {}
    dead_letter = getattr(fn, DEAD_LETTER_ATTRIBUTE, None) or {}
    invoke_config: dict[str, Any] = {}
    if fn.event_invoke_config:
        invoke_config = dict(fn.event_invoke_config[0].config)
    destinations = invoke_config.get("DestinationConfig") or {}
    reserved = fn.reserved_concurrency
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        version=str(fn.version),
        region=fn.region,
        account_id=fn.account_id,
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        role=fn.role,
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        environment={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        code=getattr(fn, "code_bytes", b"") or b"",
        # a layer version deleted since stays usable by the functions using it on AWS; moto drops its
        # bytes, so such a layer is skipped rather than failing every invocation
        layers=tuple(
            code for layer in getattr(fn, "layers", None) or [] if (code := _layer_code(layer["Arn"]))
        ),
        reserved_concurrency=None if reserved in (None, "") else int(reserved),
        dead_letter_arn=dead_letter.get("TargetArn") or None,
        log_group=logging.get("LogGroup") or f"/aws/lambda/{fn.function_name}",
        log_format=logging.get("LogFormat") or "Text",
        application_log_level=logging.get("ApplicationLogLevel"),
        system_log_level=logging.get("SystemLogLevel"),
        async_max_retries=int(invoke_config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
        async_max_event_age=invoke_config.get("MaximumEventAgeInSeconds"),
        on_failure_arn=(destinations.get("OnFailure") or {}).get("Destination") or None,
        on_success_arn=(destinations.get("OnSuccess") or {}).get("Destination") or None,
    )


@dataclass(frozen=True)
class MappingSpec:
    """One event source mapping (Kinesis or SQS) as the pollers run it."""

    uuid: str
    function_arn: str
    source_arn: str
    region: str
    account_id: str
    enabled: bool
    batch_size: int
    starting_position: str | None = None
    starting_position_timestamp: float | None = None
    batching_window: float = 0.0
    max_retry_attempts: int | None = None
    max_record_age: int | None = None
    bisect_on_error: bool = False
    report_item_failures: bool = False
    on_failure_arn: str | None = None

    @property
    def source_service(self) -> str:
        return self.source_arn.split(":")[2]


def mapping_spec(esm: Any) -> MappingSpec:
    """A :class:`MappingSpec` from moto's ``EventSourceMapping`` object."""
    destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination")
    timestamp = esm.starting_position_timestamp
    if timestamp is not None and not isinstance(timestamp, (int, float)):
        timestamp = getattr(timestamp, "timestamp", lambda: None)()
    retries = esm.max_retry_attempts
    return MappingSpec(
        uuid=esm.uuid,
        function_arn=esm.function_arn,
        source_arn=esm.event_source_arn,
        region=esm.region,
        account_id=esm.account_id,
        enabled=bool(esm.enabled),
        batch_size=int(esm.batch_size),
        starting_position=esm.starting_position,
        starting_position_timestamp=timestamp,
        batching_window=float(esm.max_batch_window or 0),
        max_retry_attempts=None if retries in (None, -1) else int(retries),
        max_record_age=None if esm.max_record_age in (None, -1) else int(esm.max_record_age),
        bisect_on_error=bool(esm.bisect_on_error),
        report_item_failures="ReportBatchItemFailures" in (esm.function_response_types or []),
        on_failure_arn=destination or None,
    )


__all__ = ["FunctionSpec", "MappingSpec", "function_spec", "mapping_spec"]
