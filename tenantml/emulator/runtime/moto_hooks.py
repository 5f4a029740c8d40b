"""Where the Lambda runtime reaches into moto, and the check that moto still has that shape.

moto 5.2.5 runs function code only in Docker; the runtime replaces that with local
processes by patching a few functions of moto's in-process models. Each patch is listed in
:data:`HOOK_TARGETS` with the signature it expects, and each behaviour of moto the runtime
relies on (which function calls which) in :data:`CALL_SITES`. :func:`find_shape_problems`
checks both before anything is patched, so an upgraded moto fails loudly at install time,
and in the unit test that pins it, instead of silently running no code.

What is patched (``apply``) and why:

- ``awslambda.models.LambdaFunction.invoke``: API ``Invoke`` runs the code in a local process
  (``RequestResponse``) or queues it (``Event``), instead of Docker;
- ``LambdaFunction.__init__`` / ``update_configuration`` / ``get_configuration``: keep and
  report ``DeadLetterConfig`` and ``LoggingConfig``, which moto 5.2.5 drops;
- ``s3.notifications._invoke_awslambda`` (and ``send_event``, for the object's version):
  S3 notifications queue an asynchronous invocation instead of running inline;
- ``sns.models.Subscription.publish`` and ``awslambda.models.LambdaBackend.send_sns_message``:
  SNS ``lambda`` subscriptions queue an asynchronous invocation with the real topic,
  subscription and message ids;
- ``LambdaBackend.send_kinesis_message``: moto pushes every Kinesis record to the function
  inline, one record per call; the runtime's poller reads the stream instead (the push only
  wakes it);
- ``LambdaBackend.create_event_source_mapping``: pins where LATEST is when a Kinesis mapping
  is made, and detaches SQS queues from moto's inline push (inside SendMessage, one message
  per call, failures never retried); the runtime's poller reads the queue instead.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import MotoInternalsChangedError
from tenantml.emulator.runtime import events
from tenantml.emulator.runtime.functions import (
    DEAD_LETTER_ATTRIBUTE,
    LOGGING_ATTRIBUTE,
    FunctionSpec,
    MappingSpec,
    function_spec,
    mapping_spec,
)
from tenantml.emulator.runtime.interfaces import HookedRuntime

log = logging.getLogger("tenantml.emulator.runtime")

#: the moto release these hooks were written against (pinned exactly in pyproject.toml)
PINNED_MOTO_VERSION = "5.2.5"


@dataclass(frozen=True)
class HookTarget:
    """A moto function the runtime replaces or wraps, with the parameters it must have."""

    module: str
    qualname: str
    parameters: tuple[str, ...]
    purpose: str

    def resolve(self) -> tuple[Any, str, Any]:
        """(owner, attribute name, current value); raises AttributeError/ImportError when gone."""
        owner: Any = importlib.import_module(self.module)
        *path, name = self.qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        return owner, name, inspect.getattr_static(owner, name)


@dataclass(frozen=True)
class CallSite:
    """moto code that must still reference ``names`` (calls or attributes) for a hook to take effect."""

    module: str
    qualname: str
    names: tuple[str, ...]
    purpose: str


HOOK_TARGETS: tuple[HookTarget, ...] = (
    HookTarget(
        "moto.awslambda.models",
        "LambdaFunction.invoke",
        ("self", "body", "request_headers", "response_headers"),
        "runs Invoke calls in a local process",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaFunction.__init__",
        ("self", "account_id", "spec", "region", "version"),
        "keeps DeadLetterConfig and LoggingConfig",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaFunction.update_configuration",
        ("self", "config_updates"),
        "keeps DeadLetterConfig and LoggingConfig updates",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaFunction.get_configuration",
        ("self", "on_create"),
        "reports DeadLetterConfig and LoggingConfig",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaBackend.send_kinesis_message",
        (
            "self",
            "function_name",
            "kinesis_stream",
            "kinesis_partition_key",
            "kinesis_sequence_number",
            "kinesis_data",
            "kinesis_shard_id",
        ),
        "stops moto's inline one-record Kinesis push",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaBackend.send_sns_message",
        ("self", "function_name", "message", "subject", "qualifier"),
        "SNS lambda subscriptions",
    ),
    HookTarget(
        "moto.awslambda.models",
        "LambdaBackend.create_event_source_mapping",
        ("self", "spec"),
        "pins LATEST positions and detaches SQS queues from moto's push",
    ),
    HookTarget(
        "moto.s3.notifications",
        "send_event",
        ("account_id", "event_name", "bucket", "key"),
        "S3 notifications (the object's version)",
    ),
    HookTarget(
        "moto.s3.notifications",
        "_invoke_awslambda",
        ("account_id", "event_body", "fn_arn", "region_name"),
        "S3 notifications to Lambda",
    ),
    HookTarget(
        "moto.sns.models",
        "Subscription.publish",
        (
            "self",
            "message",
            "message_id",
            "subject",
            "message_attributes",
            "group_id",
            "deduplication_id",
            "message_structure",
        ),
        "SNS lambda subscriptions (topic and message ids)",
    ),
)

CALL_SITES: tuple[CallSite, ...] = (
    CallSite(
        "moto.awslambda.responses", "LambdaResponse.invoke", ("invoke",), "Invoke goes through the backend"
    ),
    CallSite(
        "moto.awslambda.models",
        "LambdaBackend.invoke",
        ("get_function", "invoke"),
        "the backend calls LambdaFunction.invoke",
    ),
    CallSite(
        "moto.s3.notifications",
        "send_event",
        ("_invoke_awslambda",),
        "S3 notifications call _invoke_awslambda by its module-level name",
    ),
    CallSite(
        "moto.sns.models",
        "Subscription.publish",
        ("send_sns_message", "protocol"),
        "SNS lambda subscriptions call LambdaBackend.send_sns_message",
    ),
    CallSite(
        "moto.kinesis.models",
        "Stream.put_record",
        ("send_kinesis_message", "lambda_event_source_mappings"),
        "Kinesis pushes records through LambdaBackend.send_kinesis_message",
    ),
    CallSite("moto.kinesis.models", "Shard.get_max_sequence_number", ("records",), "LATEST positions"),
    CallSite(
        "moto.sqs.models",
        "Queue.add_message",
        ("lambda_event_source_mappings", "send_sqs_batch"),
        "SQS pushes to mappings registered on the queue",
    ),
    CallSite(
        "moto.awslambda.models",
        "LambdaBackend.create_event_source_mapping",
        ("lambda_event_source_mappings", "_event_source_mappings"),
        "mappings are registered on their source",
    ),
    CallSite(
        "moto.awslambda.models",
        "LambdaFunction.__init__",
        (
            "function_name",
            "handler",
            "role",
            "run_time",
            "environment_vars",
            "timeout",
            "memory_size",
            "reserved_concurrency",
            "event_invoke_config",
            "function_arn",
            "version",
        ),
        "the function attributes the runtime reads",
    ),
    CallSite("moto.awslambda.models", "LambdaFunction._set_function_code", ("code_bytes",), "the zip bytes"),
    CallSite(
        "moto.awslambda.models",
        "EventSourceMapping.__init__",
        (
            "uuid",
            "function_arn",
            "event_source_arn",
            "enabled",
            "batch_size",
            "starting_position",
            "starting_position_timestamp",
            "max_batch_window",
            "max_retry_attempts",
            "max_record_age",
            "bisect_on_error",
            "function_response_types",
            "destination_config",
        ),
        "the mapping attributes the pollers read",
    ),
)


def _code_names(func: Any) -> set[str]:
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions and comprehensions
        if inspect.iscode(const):
            names |= set(const.co_names)
    return names


def find_shape_problems(
    targets: tuple[HookTarget, ...] = HOOK_TARGETS, call_sites: tuple[CallSite, ...] = CALL_SITES
) -> list[str]:
    """Every way the installed moto differs from what the hooks expect (empty: safe to patch)."""
    problems = []
    for target in targets:
        where = f"{target.module}.{target.qualname}"
        try:
            _, _, value = target.resolve()
        except (ImportError, AttributeError) as err:
            problems.append(f"{where} is gone ({err}); it {target.purpose}")
            continue
        func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if not callable(func):
            problems.append(f"{where} is no longer a function; it {target.purpose}")
            continue
        actual = tuple(inspect.signature(func).parameters)
        if actual != target.parameters:
            problems.append(
                f"{where} has parameters {actual}, expected {target.parameters}; it {target.purpose}"
            )
    for site in call_sites:
        where = f"{site.module}.{site.qualname}"
        try:
            owner: Any = importlib.import_module(site.module)
            for part in site.qualname.split("."):
                owner = getattr(owner, part)
        except (ImportError, AttributeError) as err:
            problems.append(f"{where} is gone ({err}); {site.purpose}")
            continue
        missing = sorted(set(site.names) - _code_names(owner))
        if missing:
            problems.append(f"{where} no longer uses {', '.join(missing)}; {site.purpose}")
    return problems


def moto_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "unknown"))


def check_moto_internals() -> None:
    """Raise :class:`MotoInternalsChangedError` listing every changed shape; log a version drift."""
    problems = find_shape_problems()
    version = moto_version()
    if problems:
        raise MotoInternalsChangedError(problems, version)
    if version != PINNED_MOTO_VERSION:
        log.warning(
            "moto %s is not the pinned %s; the Lambda runtime's hooks still match its shape",
            version,
            PINNED_MOTO_VERSION,
        )


# --- reading moto's state ------------------------------------------------------------------


def _lambda_backend(account_id: str, region: str) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(account_id, region)


def find_function(function_arn: str) -> FunctionSpec | None:
    """The current spec of the function (or version) ``function_arn``; None when it is gone."""
    from moto.awslambda.exceptions import LambdaClientError

    parts = function_arn.split(":")
    try:
        fn = _lambda_backend(parts[4], parts[3]).get_function(function_arn)
    except (LambdaClientError, IndexError, KeyError):
        return None
    return function_spec(fn) if fn is not None else None


def list_mappings() -> list[MappingSpec]:
    """Every Kinesis and SQS event source mapping moto holds, in every account and region."""
    from moto.awslambda.models import lambda_backends
    from moto.awslambda_simple.models import lambda_simple_backends

    found = []
    for backends in (lambda_backends, lambda_simple_backends):
        for per_account in list(backends.values()):
            for backend in list(per_account.values()):
                for esm in list(backend._event_source_mappings.values()):
                    if esm.event_source_arn.split(":")[2] in ("kinesis", "sqs"):
                        found.append(mapping_spec(esm))
    return found


def shard_positions(account_id: str, region: str, stream_arn: str) -> dict[str, int] | None:
    """shard id -> the sequence number of its newest record (0: empty); None when the stream is gone."""
    from moto.kinesis.exceptions import StreamNotFoundError
    from moto.kinesis.models import kinesis_backends

    try:
        stream = kinesis_backends[account_id][region].describe_stream(stream_arn=stream_arn, stream_name=None)
    except StreamNotFoundError:
        return None
    return {shard_id: int(shard.get_max_sequence_number()) for shard_id, shard in list(stream.shards.items())}


# --- the patches ---------------------------------------------------------------------------

_tls = threading.local()


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    return value


def _event_bytes(body: Any) -> bytes:
    """The request body as JSON bytes; AWS's InvalidRequestContentException when it is not JSON."""
    from moto.awslambda.exceptions import LambdaClientError

    if body is None or body == "" or body == b"":
        return b"{}"
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    data = body.encode() if isinstance(body, str) else bytes(body)
    try:
        json.loads(data)
    except ValueError as err:
        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {err}"
        ) from err
    return data


class TooManyRequestsError(Exception):
    """Raised by a synchronous invoke over the function's reserved concurrency (HTTP 429)."""


def _throttled() -> Exception:
    from moto.core.exceptions import JsonRESTError

    class TooManyRequestsException(JsonRESTError):
        code = 429

        def __init__(self) -> None:
            super().__init__("TooManyRequestsException", "Rate Exceeded.")
            self.code = 429

    return TooManyRequestsException()


@dataclass
class _Patch:
    owner: Any
    name: str
    original: Any
    replacement: Any


class _Installed:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runtime: HookedRuntime | None = None
        self.patches: list[_Patch] = []
        #: SQS mappings taken off moto's inline push: (queue, function arn, esm)
        self.detached: list[tuple[Any, str, Any]] = []


_installed = _Installed()


def installed_runtime() -> HookedRuntime | None:
    return _installed.runtime


def apply(runtime: HookedRuntime) -> None:
    """Patch moto so that ``runtime`` runs every invocation; checks moto's shape first."""
    with _installed.lock:
        if _installed.runtime is runtime:
            return
        if _installed.runtime is not None:
            from core.errors import LambdaRuntimeInstallError

            raise LambdaRuntimeInstallError(
                "another Lambda runtime is already installed in this process "
                f"(for {_installed.runtime.endpoint}); uninstall it first"
            )
        check_moto_internals()
        patches = []
        for target in HOOK_TARGETS:
            owner, name, original = target.resolve()
            patches.append(_Patch(owner, name, original, _REPLACEMENTS[target.qualname](original)))
        for patch in patches:
            setattr(patch.owner, patch.name, patch.replacement)
        _installed.patches = patches
        _installed.runtime = runtime
        for esm in _all_moto_mappings():
            _detach_sqs_push(esm)


def remove() -> None:
    """Restore every patched moto function and re-attach the SQS mappings detached from moto's push."""
    with _installed.lock:
        for patch in reversed(_installed.patches):
            setattr(patch.owner, patch.name, patch.original)
        _installed.patches = []
        _installed.runtime = None
        for queue, key, esm in _installed.detached:
            queue.lambda_event_source_mappings.setdefault(key, esm)
        _installed.detached = []


def _all_moto_mappings() -> list[Any]:
    from moto.awslambda.models import lambda_backends

    return [
        esm
        for per_account in list(lambda_backends.values())
        for backend in list(per_account.values())
        for esm in list(backend._event_source_mappings.values())
    ]


def _detach_sqs_push(esm: Any) -> None:
    """Take an SQS mapping off moto's inline delivery (inside SendMessage, one message per call)."""
    if esm.event_source_arn.split(":")[2] != "sqs":
        return
    from moto.sqs.models import sqs_backends

    for queue in list(sqs_backends[esm.account_id][esm.region].queues.values()):
        if (
            queue.queue_arn == esm.event_source_arn
            and queue.lambda_event_source_mappings.get(esm.function_arn) is esm
        ):
            del queue.lambda_event_source_mappings[esm.function_arn]
            _installed.detached.append((queue, esm.function_arn, esm))


def detach_sqs_mapping(uuid: str) -> None:
    """Detach one mapping by UUID (the pollers call this for mappings made before ``apply``)."""
    with _installed.lock:
        for esm in _all_moto_mappings():
            if esm.uuid == uuid:
                _detach_sqs_push(esm)


def _runtime_or_none() -> HookedRuntime | None:
    return _installed.runtime


def _replace_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        runtime = _runtime_or_none()
        if runtime is None:
            return original(self, body, request_headers, response_headers)
        event = _event_bytes(body)
        invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        spec = function_spec(self)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runtime.invoke_async(spec, event, source="lambda:Invoke")
            return b""
        try:
            result = runtime.invoke_sync(spec, event)
        except TooManyRequestsError:
            raise _throttled() from None
        if result.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
        response_headers["x-amz-executed-version"] = spec.version
        return result.payload

    return invoke


def _wrap_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, account_id: str, spec: dict[str, Any], region: str, version: Any = 1) -> None:
        original(self, account_id, spec, region, version)
        setattr(self, DEAD_LETTER_ATTRIBUTE, spec.get("DeadLetterConfig") or None)
        setattr(self, LOGGING_ATTRIBUTE, spec.get("LoggingConfig") or None)

    return __init__


def _wrap_update_configuration(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            setattr(self, DEAD_LETTER_ATTRIBUTE, config_updates["DeadLetterConfig"] or None)
        if "LoggingConfig" in config_updates:
            setattr(self, LOGGING_ATTRIBUTE, config_updates["LoggingConfig"] or None)
        return original(self, config_updates)

    return update_configuration


def _wrap_get_configuration(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = original(self, on_create)
        dead_letter = getattr(self, DEAD_LETTER_ATTRIBUTE, None)
        if dead_letter and dead_letter.get("TargetArn"):
            config["DeadLetterConfig"] = {"TargetArn": dead_letter["TargetArn"]}
        config["LoggingConfig"] = {
            "LogFormat": "Text",
            "LogGroup": f"/aws/lambda/{self.function_name}",
            **(getattr(self, LOGGING_ATTRIBUTE, None) or {}),
        }
        return config

    return get_configuration


def _replace_send_kinesis_message(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_kinesis_message(
        self: Any,
        function_name: str,
        kinesis_stream: str,
        kinesis_partition_key: str,
        kinesis_sequence_number: str,
        kinesis_data: str,
        kinesis_shard_id: str,
    ) -> None:
        runtime = _runtime_or_none()
        if runtime is None:
            return original(
                self,
                function_name,
                kinesis_stream,
                kinesis_partition_key,
                kinesis_sequence_number,
                kinesis_data,
                kinesis_shard_id,
            )
        runtime.nudge()  # the poller reads the record, batched, with retries
        return None

    return send_kinesis_message


def _replace_send_sns_message(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_sns_message(
        self: Any, function_name: str, message: str, subject: str | None = None, qualifier: str | None = None
    ) -> None:
        runtime = _runtime_or_none()
        if runtime is None:
            return original(self, function_name, message, subject, qualifier)
        from moto.awslambda.exceptions import LambdaClientError

        try:
            fn = self.get_function(function_name, qualifier)
        except LambdaClientError:
            log.warning("SNS could not deliver to Lambda function %s: it does not exist", function_name)
            return None
        context = getattr(_tls, "sns", None) or {}
        event = events.sns_event(
            topic_arn=context.get("topic_arn", ""),
            subscription_arn=context.get("subscription_arn", ""),
            message_id=context.get("message_id", ""),
            message=message,
            subject=subject,
            message_attributes=context.get("message_attributes"),
        )
        runtime.invoke_async(function_spec(fn), json.dumps(event).encode(), source="sns")
        return None

    return send_sns_message


def _wrap_subscription_publish(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        if self.protocol != "lambda" or _runtime_or_none() is None:
            return original(
                self,
                message,
                message_id,
                subject,
                message_attributes,
                group_id,
                deduplication_id,
                message_structure,
            )
        _tls.sns = {
            "topic_arn": self.topic.arn,
            "subscription_arn": self.arn,
            "message_id": message_id,
            "message_attributes": message_attributes,
        }
        try:
            return original(
                self,
                message,
                message_id,
                subject,
                message_attributes,
                group_id,
                deduplication_id,
                message_structure,
            )
        finally:
            _tls.sns = None

    return publish


def _wrap_create_event_source_mapping(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        esm = original(self, spec)
        runtime = _runtime_or_none()
        if runtime is None:
            return esm
        service = esm.event_source_arn.split(":")[2]
        if service == "sqs":
            with _installed.lock:
                _detach_sqs_push(esm)
        positions = None
        if service == "kinesis":
            positions = shard_positions(esm.account_id, esm.region, esm.event_source_arn)
        runtime.mapping_created(mapping_spec(esm), positions)
        return esm

    return create_event_source_mapping


def _wrap_send_event(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        _tls.s3 = (bucket, key)
        try:
            return original(account_id, event_name, bucket, key)
        finally:
            _tls.s3 = None

    return send_event


def _replace_invoke_awslambda(original: Callable[..., Any]) -> Callable[..., Any]:
    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        runtime = _runtime_or_none()
        if runtime is None:
            return original(account_id, event_body, fn_arn, region_name)
        from moto.awslambda.exceptions import LambdaClientError

        try:
            fn = _lambda_backend(account_id, region_name).get_function(fn_arn)
        except LambdaClientError:
            log.warning("S3 could not deliver to Lambda function %s: it does not exist", fn_arn)
            return None
        bucket, key = getattr(_tls, "s3", None) or (None, None)
        version_id = key.version_id if key is not None and getattr(bucket, "is_versioned", False) else None
        event = events.complete_s3_event(event_body, account_id=account_id, version_id=version_id)
        runtime.invoke_async(function_spec(fn), json.dumps(event).encode(), source="s3")
        return None

    return _invoke_awslambda


_REPLACEMENTS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "LambdaFunction.invoke": _replace_invoke,
    "LambdaFunction.__init__": _wrap_init,
    "LambdaFunction.update_configuration": _wrap_update_configuration,
    "LambdaFunction.get_configuration": _wrap_get_configuration,
    "LambdaBackend.send_kinesis_message": _replace_send_kinesis_message,
    "LambdaBackend.send_sns_message": _replace_send_sns_message,
    "LambdaBackend.create_event_source_mapping": _wrap_create_event_source_mapping,
    "send_event": _wrap_send_event,
    "_invoke_awslambda": _replace_invoke_awslambda,
    "Subscription.publish": _wrap_subscription_publish,
}

__all__ = [
    "CALL_SITES",
    "HOOK_TARGETS",
    "PINNED_MOTO_VERSION",
    "CallSite",
    "HookTarget",
    "TooManyRequestsError",
    "apply",
    "check_moto_internals",
    "detach_sqs_mapping",
    "find_function",
    "find_shape_problems",
    "installed_runtime",
    "list_mappings",
    "moto_version",
    "remove",
    "shard_positions",
]
