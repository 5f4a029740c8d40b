"""The process of one Lambda execution environment: the emulator's stand-in for the AWS Python runtime.

Run as a script (``python -I -S bootstrap.py``), never imported by the handler's code, and
standard library only: the interpreter starts with the standard library alone on ``sys.path``
and the bootstrap puts ``_TENANTML_SYS_PATH`` (a JSON list: the function's code, its layers, the
runtime's boto3) in front of it before importing the handler, as AWS orders ``/var/task``,
``/opt/python`` and the runtime's libraries. The protocol with :mod:`tenantml.emulator.runtime.process`, over two
pipes whose descriptors are ``_TENANTML_CONTROL_FD`` (parent to us) and
``_TENANTML_RESULT_FD`` (us to parent):

1. *init*: import the handler named by ``_HANDLER``; an import error is kept and reported
   at the first invoke, as AWS does. Then write ``{"ready": true}`` as one JSON line to the
   result pipe (the parent starts the function timeout only now).
2. *invoke*, repeated while the environment is warm: read one header line (JSON: request
   id, deadline, ARN, log stream, ``event_length``) and then ``event_length`` bytes of event
   from the control pipe, call the handler with a real context object, flush the log and
   write :data:`END_MARKER` and the request id as one line to stdout (so the parent knows
   every log line of this invocation has arrived), then the outcome as one JSON line to the
   result pipe: ``{"ok": true, "payload": "<json>"}`` or ``{"ok": false, "error": {...}}``.
   Module globals persist between invocations, as in a warm AWS environment.
3. *exit* when the control pipe closes (the runtime stopped, or died: no orphan), or after
   reporting an init error (AWS discards an environment that failed to initialise).

stdout and stderr are the function's log; an unhandled error is also logged there the way
the AWS runtime logs it (``[ERROR] Type: message`` with the traceback, one log event).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The ``context`` argument of a handler, with the attributes the AWS Python runtime gives."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.function_name: str = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn: str = header["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id: str = header["request_id"]
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = header["log_stream_name"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms: int = int(header["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r}, "
            f"invoked_function_arn={self.invoked_function_arn!r})"
        )


class _InvokeError(Exception):
    """A runtime error (not the handler's own exception), reported with an AWS error type."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack or []


def _load_handler(spec: str) -> Any:
    """The handler function named ``module.path.function``, or an :class:`_InvokeError` as AWS names them."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError:
        raise _InvokeError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        ) from None
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as err:
        raise _InvokeError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {err}", _stack(err)
        ) from None
    except ImportError as err:
        raise _InvokeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}", _stack(err)
        ) from None
    except Exception as err:  # noqa: BLE001 - any error while importing user code is an init error
        raise _InvokeError(type(err).__name__, str(err), _stack(err)) from None
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InvokeError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return handler


def _stack(err: BaseException) -> list[str]:
    """The traceback as AWS lists it: one string per frame, innermost last."""
    return traceback.format_list(traceback.extract_tb(err.__traceback__))


def _error_body(error_type: str, message: str, stack: list[str], request_id: str) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def _log_error(body: dict[str, Any]) -> None:
    """Log an unhandled error as the AWS Python runtime does: one event, text or JSON."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON":
        line = json.dumps(
            {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "level": "ERROR",
                "message": body["errorMessage"],
                "logger": "root",
                "requestId": body["requestId"],
                "errorType": body["errorType"],
                "errorMessage": body["errorMessage"],
                "stackTrace": body["stackTrace"],
            }
        )
    else:
        trace = "".join(body["stackTrace"])
        text = f"[ERROR] {body['errorType']}: {body['errorMessage']}"
        if trace:
            text += "\nTraceback (most recent call last):\n" + trace
        line = text.rstrip("\n").replace("\n", "\r")  # \r keeps it one log event, like the AWS runtime
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _max_memory_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


#: written to stdout after each invocation's log; the parent cuts the log there
END_MARKER = "\x00tenantml-invocation-end:"


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the control pipe closed in the middle of an event")
    return data


def _invoke(
    handler: Any, init_error: _InvokeError | None, header: dict[str, Any], raw_event: bytes
) -> dict[str, Any]:
    request_id = header["request_id"]
    try:
        if init_error is not None:
            raise init_error
        try:
            event = json.loads(raw_event) if raw_event.strip() else {}
        except ValueError as err:
            raise _InvokeError("Runtime.UnmarshalError", f"Unable to unmarshal input: {err}") from None
        result = handler(event, LambdaContext(header))
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as err:
            raise _InvokeError("Runtime.MarshalError", f"Unable to marshal response: {err}") from None
        return {"ok": True, "payload": payload}
    except _InvokeError as err:
        return {"ok": False, "error": _error_body(err.error_type, str(err), err.stack, request_id)}
    except Exception as err:  # noqa: BLE001 - the handler's own error is the invocation's result
        return {"ok": False, "error": _error_body(type(err).__name__, str(err), _stack(err), request_id)}


def main() -> int:
    sys.path[:0] = json.loads(os.environ.pop("_TENANTML_SYS_PATH", "[]"))
    control = os.fdopen(int(os.environ.pop("_TENANTML_CONTROL_FD")), "rb")
    result_fd = int(os.environ.pop("_TENANTML_RESULT_FD"))
    for fd in (control.fileno(), result_fd):  # processes the handler starts must not hold our pipes open
        os.set_inheritable(fd, False)

    init_error: _InvokeError | None = None
    handler = None
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _InvokeError as err:
        init_error = err
    os.write(result_fd, b'{"ready": true}\n')

    while True:
        line = control.readline()
        if not line:
            return 0  # the runtime closed the environment (or is gone)
        header = json.loads(line)
        raw_event = _read_exactly(control, int(header.get("event_length", 0)))
        outcome = _invoke(handler, init_error, header, raw_event)
        if not outcome["ok"]:
            _log_error(outcome["error"])
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(1, f"{END_MARKER}{header['request_id']}\n".encode())
        outcome["max_memory_mb"] = _max_memory_mb()
        outcome["init_error"] = init_error is not None
        os.write(result_fd, json.dumps(outcome).encode() + b"\n")
        if init_error is not None:
            return 0


if __name__ == "__main__":
    sys.exit(main())
