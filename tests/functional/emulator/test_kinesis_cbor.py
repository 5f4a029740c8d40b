"""The emulator speaks Kinesis' CBOR protocol (what the AWS SDKs for Java, the KPL and tenantml's
inference logger send) in front of moto, which speaks only JSON."""

from __future__ import annotations

import os

import boto3
import cbor2
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tenantml.emulator import server as emulator_server
from tenantml.emulator.kinesis_cbor import CBOR_CONTENT_TYPE

REGION = "eu-west-1"
STREAM = "cbor-log"


@pytest.fixture
def endpoint(emulator: emulator_server.EmulatorServer) -> str:
    emulator_server.reset(emulator.endpoint)
    return emulator.endpoint


@pytest.fixture
def kinesis(endpoint: str):
    client = boto3.client(
        "kinesis",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_stream(StreamName=STREAM, ShardCount=1)
    return client


def _call(endpoint: str, operation: str, body: bytes) -> urllib3.BaseHTTPResponse:
    """A signed Kinesis request with a CBOR body, as the AWS SDK for Java sends it."""
    headers = {"Content-Type": CBOR_CONTENT_TYPE, "X-Amz-Target": f"Kinesis_20131202.{operation}"}
    request = AWSRequest(method="POST", url=f"{endpoint}/", data=body, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), "kinesis", REGION).add_auth(request)
    return urllib3.request("POST", f"{endpoint}/", body=body, headers=dict(request.headers.items()))


def _shard_iterator(kinesis) -> str:
    shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    return kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]


def test_records_put_as_cbor_byte_strings_read_back_byte_for_byte(endpoint, kinesis):
    # given binary record data, not valid UTF-8 and not base64
    blobs = [os.urandom(1000) + b"\xff\x00", b"TML\x04\x00", os.urandom(50_000)]
    body = cbor2.dumps(
        {
            "StreamName": STREAM,
            "Records": [{"Data": blob, "PartitionKey": f"k{i}"} for i, blob in enumerate(blobs)],
        }
    )
    # when they are put over CBOR
    response = _call(endpoint, "PutRecords", body)
    # then the answer is CBOR in boto3's shape
    assert response.status == 200 and response.headers["Content-Type"] == CBOR_CONTENT_TYPE
    answer = cbor2.loads(response.data)
    assert answer["FailedRecordCount"] == 0 and len(answer["Records"]) == 3
    assert all(r["SequenceNumber"] for r in answer["Records"])
    # and the JSON protocol (boto3) reads the exact bytes
    records = kinesis.get_records(ShardIterator=_shard_iterator(kinesis))["Records"]
    assert [r["Data"] for r in records] == blobs


def test_a_cbor_get_records_answers_data_as_byte_strings(endpoint, kinesis):
    kinesis.put_record(StreamName=STREAM, Data=b"\x00\x01binary", PartitionKey="k")
    response = _call(endpoint, "GetRecords", cbor2.dumps({"ShardIterator": _shard_iterator(kinesis)}))
    assert response.status == 200
    record = cbor2.loads(response.data)["Records"][0]
    assert record["Data"] == b"\x00\x01binary" and record["PartitionKey"] == "k"


def test_service_errors_come_back_as_cbor_with_their_code(endpoint, kinesis):
    body = cbor2.dumps({"StreamName": "no-such-stream", "Records": [{"Data": b"x", "PartitionKey": "k"}]})
    response = _call(endpoint, "PutRecords", body)
    assert response.status == 400
    assert cbor2.loads(response.data)["__type"].endswith("ResourceNotFoundException")


def test_a_body_that_is_not_cbor_is_a_serialization_error(endpoint, kinesis):
    response = _call(endpoint, "PutRecords", b"\xff\xff{not cbor")
    assert response.status == 400
    error = cbor2.loads(response.data)
    assert error["__type"] == "SerializationException" and "not CBOR" in error["message"]
    # and nothing was stored
    assert kinesis.get_records(ShardIterator=_shard_iterator(kinesis))["Records"] == []
