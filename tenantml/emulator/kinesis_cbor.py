"""Kinesis' CBOR wire protocol in front of moto, which speaks only Kinesis' JSON protocol.

The AWS SDKs for Java, the Kinesis Producer Library and tenantml's inference logger send
Kinesis requests as CBOR (``Content-Type: application/x-amz-cbor-1.1``): the same document as
the JSON protocol, with blobs (record data) as CBOR byte strings instead of base64 text and
timestamps as CBOR epoch times. :class:`KinesisCborMiddleware` wraps moto's WSGI application:
a CBOR request becomes the JSON request moto understands, and moto's answer goes back as CBOR.
With IAM enforced, the client's signature is checked over the CBOR body it signed
(:func:`signed_request`), not over the JSON moto sees.
Which fields are blobs or timestamps comes from botocore's Kinesis service model, so every
operation converts, not only ``PutRecords``. Other requests pass through untouched.
"""

from __future__ import annotations

import base64
import contextvars
import io
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import cbor2
import orjson

CBOR_CONTENT_TYPE = "application/x-amz-cbor-1.1"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
#: set on a request this middleware re-encoded: its SigV4 signature covers the CBOR body, not the
#: JSON moto sees, so moto's signature check (with IAM enforced) must not recompute it
TRANSCODED_HEADER = "X-Tenantml-Cbor-Transcoded"
_TRANSCODED_ENVIRON = "HTTP_" + TRANSCODED_HEADER.upper().replace("-", "_")
_TARGET_PREFIX = "Kinesis_20131202."
#: the body and content type the client signed, while moto answers the transcoded request (moto runs
#: in the middleware's thread): the signature check verifies the client's signature over them
_SIGNED_REQUEST: contextvars.ContextVar[tuple[bytes, str] | None] = contextvars.ContextVar(
    "tenantml_cbor_signed_request", default=None
)
#: moto answers some errors (an unknown access key, a bad signature) as an XML document
_XML_ERROR = re.compile(rb"<Code>([^<]+)</Code>.*?<Message>([^<]*)</Message>", re.DOTALL)


def signed_request() -> tuple[bytes, str] | None:
    """The CBOR body and content type of the request being answered, as its client signed them."""
    return _SIGNED_REQUEST.get()


Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@cache
def _kinesis_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("kinesis")


def _convert(value: Any, shape: Any, blob: Callable[[Any], Any], timestamp: Callable[[Any], Any]) -> Any:
    """``value`` with every blob and timestamp member of ``shape`` passed through the given function."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _convert(v, members.get(k), blob, timestamp) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_convert(v, shape.member, blob, timestamp) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _convert(v, shape.value, blob, timestamp) for k, v in value.items()}
    if kind == "blob":
        return blob(value)
    if kind == "timestamp":
        return timestamp(value)
    return value


def _blob_to_base64(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else value


def _base64_to_blob(value: Any) -> Any:
    return base64.b64decode(value) if isinstance(value, str) else value


def _datetime_to_epoch(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


def _epoch_to_datetime(value: Any) -> Any:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value


class KinesisCborMiddleware:
    """WSGI middleware: CBOR Kinesis requests in, JSON to ``app``, CBOR back (see the module docstring)."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        environ.pop(_TRANSCODED_ENVIRON, None)  # only this middleware may say so, never a client
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not environ.get("CONTENT_TYPE", "").startswith(CBOR_CONTENT_TYPE) or not target.startswith(
            _TARGET_PREFIX
        ):
            return self.app(environ, start_response)
        operation = self._operation(target[len(_TARGET_PREFIX) :])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            document = cbor2.loads(raw) if raw else {}
        except cbor2.CBORDecodeError as err:
            return self._error(start_response, 400, "SerializationException", f"the body is not CBOR: {err}")
        if not isinstance(document, dict):
            return self._error(start_response, 400, "SerializationException", "the body is not a CBOR map")
        if operation is not None:
            document = _convert(document, operation.input_shape, _blob_to_base64, _datetime_to_epoch)
        body = orjson.dumps(document)
        inner = {
            **environ,
            "CONTENT_TYPE": JSON_CONTENT_TYPE,
            _TRANSCODED_ENVIRON: "1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        token = _SIGNED_REQUEST.set((raw, environ.get("CONTENT_TYPE", "")))
        try:
            chunks = self.app(inner, capture)
            try:
                answer = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        finally:
            _SIGNED_REQUEST.reset(token)
        status = captured["status"]
        try:
            reply = orjson.loads(answer) if answer else {}
        except orjson.JSONDecodeError:
            xml = _XML_ERROR.search(answer)
            reply = (
                {"__type": xml.group(1).decode(), "message": xml.group(2).decode(errors="replace")}
                if xml
                else {"__type": "InternalFailure", "message": answer[:200].decode(errors="replace")}
            )
        if status.startswith("2") and operation is not None and operation.output_shape is not None:
            reply = _convert(reply, operation.output_shape, _base64_to_blob, _epoch_to_datetime)
        return self._respond(start_response, status, reply, captured["headers"])

    @staticmethod
    def _operation(name: str) -> Any:
        model = _kinesis_model()
        return model.operation_model(name) if name in model.operation_names else None

    @staticmethod
    def _respond(
        start_response: StartResponse, status: str, document: Any, headers: list[tuple[str, str]] = ()
    ) -> list[bytes]:
        body = cbor2.dumps(document, datetime_as_timestamp=True)
        kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
        start_response(
            status, [*kept, ("Content-Type", CBOR_CONTENT_TYPE), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _error(self, start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
        reason = {400: "Bad Request"}.get(status, "Error")
        return self._respond(
            start_response,
            f"{status} {reason}",
            {"__type": code, "message": message},
            [("x-amzn-ErrorType", code)],
        )


__all__ = ["CBOR_CONTENT_TYPE", "TRANSCODED_HEADER", "KinesisCborMiddleware", "signed_request"]
