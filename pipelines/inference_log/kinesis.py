"""Kinesis ``PutRecords`` for the inference log: a lean client, its limits and which errors to retry.

:class:`PutRecordsClient` builds the request body in one call (CBOR by default, as the Kinesis SDKs
send it; JSON on request), signs it with botocore's SigV4 signer and sends it on a keep-alive
connection; :func:`kinesis_client_factory` gives boto3's client instead. The logger
(:mod:`pipelines.inference_log.logger`) takes either through a factory.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any, Literal

import cbor2
import orjson

#: PutRecords limits
MAX_RECORDS_PER_CALL = 500


MAX_BYTES_PER_CALL = 5 * 1024 * 1024


MAX_BYTES_PER_RECORD = 1024 * 1024


#: PutRecords' content type per wire protocol
CONTENT_TYPES = {"cbor": "application/x-amz-cbor-1.1", "json": "application/x-amz-json-1.1"}


#: PutRecordsClient's code for a 200 answer it cannot read as PutRecords' result
INVALID_RESPONSE = "InvalidResponse"


#: error codes worth retrying (whole call or a failed entry)
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "RequestTimeout",
        INVALID_RESPONSE,
    }
)


class PutRecordsClient:
    """``PutRecords`` only, without botocore's per-record Python work.

    boto3's ``put_records`` spends about 20 us per record validating, serializing and parsing in
    Python, more than the server spends on a one-row prediction. This client builds the request
    body in one call, signs it with botocore's SigV4 signer and the session's usual credential
    chain (environment, profile, IRSA, instance role), sends it with urllib3 on a keep-alive
    connection and returns the response in boto3's shape; errors are raised as botocore
    ``ClientError`` with the service's error code, so retry handling is the same. The endpoint is
    botocore's (``AWS_ENDPOINT_URL`` and ``endpoint_url`` honoured).

    ``protocol="cbor"`` (the default) sends Kinesis' CBOR wire format, ``application/x-amz-cbor-1.1``,
    which the AWS SDKs for Java and the Kinesis Producer Library use by default: record data
    travels as raw bytes. The JSON protocol (boto3's) carries it as base64, a third more bytes to
    encode, sign (SigV4 hashes the whole body) and send: for a 100-row request in the serving
    benchmark, CBOR took the worker's logging CPU from about 86 to 64 us (with format 3 records).
    ``protocol="json"`` remains for endpoints that speak no CBOR.
    """

    TARGET = "Kinesis_20131202.PutRecords"

    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        *,
        timeout: float = 10,
        protocol: Literal["cbor", "json"] = "cbor",
        role_arn: str | None = None,
        session: Any = None,
    ) -> None:
        if protocol not in CONTENT_TYPES:
            raise ValueError(f"protocol: expected 'cbor' or 'json', got {protocol!r}")
        self.protocol = protocol
        import botocore.session
        import urllib3

        if session is not None:  # e.g. a role's refreshable session the caller made
            self._session = session
        elif role_arn:
            from pipelines.role_session import role_session

            # the role's refreshable credentials: get_credentials() below renews them before expiry
            self._session = role_session(
                role_arn, region=region, endpoint_url=endpoint_url, session_name="tenantml-inference-log"
            )
        else:
            self._session = botocore.session.get_session()
        client = self._session.create_client("kinesis", region_name=region, endpoint_url=endpoint_url)
        self.endpoint_url = client.meta.endpoint_url.rstrip("/") + "/"
        self.region = client.meta.region_name
        self._pool = urllib3.PoolManager(
            maxsize=2, retries=False, timeout=urllib3.Timeout(connect=2, read=timeout)
        )
        # resolve credentials and import the signer now rather than on the first flush under load
        self._session.get_credentials()
        from botocore.auth import SigV4Auth  # noqa: F401
        from botocore.awsrequest import AWSRequest  # noqa: F401

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import ClientError, EndpointConnectionError
        from urllib3.exceptions import HTTPError

        if self.protocol == "cbor":
            body = cbor2.dumps({"StreamName": StreamName, "Records": Records})
        else:
            body = put_records_body(StreamName, Records)
        request = AWSRequest(
            method="POST",
            url=self.endpoint_url,
            data=body,
            headers={"Content-Type": CONTENT_TYPES[self.protocol], "X-Amz-Target": self.TARGET},
        )
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ClientError(
                {"Error": {"Code": "NoCredentials", "Message": "no AWS credentials"}}, "PutRecords"
            )
        SigV4Auth(credentials.get_frozen_credentials(), "kinesis", self.region).add_auth(request)
        try:
            response = self._pool.request(
                "POST", self.endpoint_url, body=body, headers=dict(request.headers.items())
            )
        except HTTPError as err:
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=err) from err
        data = _response_body(response)
        if response.status != 200:
            error_type = data.get("__type") or response.headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
            code = str(error_type or f"HTTP{response.status}").rsplit("#", 1)[-1]
            if response.status >= 500 and not error_type:
                code = "ServiceUnavailable"
            message = data.get("message") or data.get("Message") or ""
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": response.status},
                },
                "PutRecords",
            )
        results = data.get("Records")
        if type(results) is not list or len(results) != len(Records):
            # a 200 that is not PutRecords' answer (a proxy's page, a cut-off body): what was
            # stored is unknown, so the call is retried rather than counted as delivered
            raise ClientError(
                {
                    "Error": {
                        "Code": INVALID_RESPONSE,
                        "Message": f"a 200 answer without the {len(Records)} record results: "
                        f"{data.get('message') or f'fields {list(data)}'}",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": response.status},
                },
                "PutRecords",
            )
        return data


def _response_body(response: Any) -> dict[str, Any]:
    """The response's document, CBOR or JSON by its content type (an error from a proxy may be neither)."""
    raw = response.data
    if not raw:
        return {}
    try:
        if "cbor" in response.headers.get("Content-Type", ""):
            data = cbor2.loads(raw)
        else:
            data = orjson.loads(raw)
    except (cbor2.CBORDecodeError, orjson.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        return {"message": raw[:200].decode(errors="replace")}
    return data


def put_records_body(stream_name: str, records: list[dict[str, Any]]) -> bytes:
    """The PutRecords JSON body, written as bytes: base64 needs no JSON escaping, and turning each
    record's base64 into a str for orjson to copy again cost as much as encoding it."""
    b2a, dumps = binascii.b2a_base64, orjson.dumps
    entries = b"},{".join(
        b'"Data":"%b","PartitionKey":%b' % (b2a(r["Data"], newline=False), dumps(r["PartitionKey"]))
        for r in records
    )
    return (
        b'{"StreamName":%b,"Records":[{%b}]}' % (dumps(stream_name), entries)
        if records
        else (b'{"StreamName":%b,"Records":[]}' % dumps(stream_name))
    )


def put_records_client_factory(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    protocol: Literal["cbor", "json"] = "cbor",
    role_arn: str | None = None,
    session: Any = None,
) -> Callable[[], Any]:
    """A factory for :class:`PutRecordsClient` (made when the logger starts), signing as ``role_arn``
    (assumed through STS) or with ``session``'s credentials if given."""
    return lambda: PutRecordsClient(
        region, endpoint_url, protocol=protocol, role_arn=role_arn, session=session
    )


def kinesis_client_factory(region: str | None = None, endpoint_url: str | None = None) -> Callable[[], Any]:
    """A factory for a boto3 Kinesis client whose only retries are the logger's own."""

    def make() -> Any:
        import boto3
        from botocore.config import Config

        # parameter validation walks every record in Python; the logger builds the request itself
        config = Config(
            retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10, parameter_validation=False
        )
        return boto3.client("kinesis", region_name=region, endpoint_url=endpoint_url, config=config)

    return make


def error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_connection_error(err: Exception) -> bool:
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    return isinstance(err, BotoConnectionError | ReadTimeoutError)
