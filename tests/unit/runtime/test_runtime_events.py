"""Pure pieces of the Lambda runtime: event shapes, partial batch responses, the code cache."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest

from core.errors import LambdaCodeError
from tenantml.emulator.runtime.codecache import CodeCache
from tenantml.emulator.runtime.events import (
    complete_s3_event,
    failed_item_ids,
    kinesis_event,
    kinesis_failure_record,
)

ARRIVED = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
RECORDS = [
    {"SequenceNumber": "7", "PartitionKey": "k", "Data": b'{"a": 1}', "ApproximateArrivalTimestamp": ARRIVED},
    {"SequenceNumber": "8", "PartitionKey": "k", "Data": b"x", "ApproximateArrivalTimestamp": ARRIVED},
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, []),
        ({"batchItemFailures": []}, []),
        ({"other": 1}, []),
        ({"batchItemFailures": [{"itemIdentifier": "8"}]}, ["8"]),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"id": "8"}]}, None),
        ({"batchItemFailures": "8"}, None),
    ],
)
def test_given_a_partial_batch_response_then_the_failed_ids_follow_aws_rules(payload, expected):
    assert failed_item_ids(payload) == expected


def test_given_kinesis_records_then_the_event_has_aws_fields_and_base64_data():
    event = kinesis_event(
        RECORDS,
        shard_id="shardId-000000000000",
        stream_arn="arn:aws:kinesis:eu-west-1:1:stream/s",
        region="eu-west-1",
        role_arn="arn:aws:iam::1:role/r",
    )

    first = event["Records"][0]
    assert first["kinesis"]["data"] == "eyJhIjogMX0="
    assert first["kinesis"]["approximateArrivalTimestamp"] == ARRIVED.timestamp()
    assert first["eventID"] == "shardId-000000000000:7"
    assert (first["eventSource"], first["eventName"], first["invokeIdentityArn"]) == (
        "aws:kinesis",
        "aws:kinesis:record",
        "arn:aws:iam::1:role/r",
    )


def test_given_a_failed_kinesis_batch_then_the_destination_record_holds_its_metadata_not_its_data():
    record = kinesis_failure_record(
        RECORDS,
        shard_id="shardId-000000000000",
        stream_arn="arn:s",
        function_arn="arn:f",
        request_id="r-1",
        condition="RetryAttemptsExhausted",
        attempts=3,
        function_error=True,
    )

    assert record["KinesisBatchInfo"] == {
        "shardId": "shardId-000000000000",
        "startSequenceNumber": "7",
        "endSequenceNumber": "8",
        "approximateArrivalOfFirstRecord": "2026-01-02T03:04:05.678Z",
        "approximateArrivalOfLastRecord": "2026-01-02T03:04:05.678Z",
        "batchSize": 2,
        "streamArn": "arn:s",
    }
    assert record["requestContext"] == {
        "requestId": "r-1",
        "functionArn": "arn:f",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_given_moto_s3_event_then_the_key_keeps_its_slashes_and_gains_aws_fields():
    event = {
        "Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "incoming%2Fday+1.csv", "size": 1}}}]
    }

    record = complete_s3_event(event, account_id="123456789012", version_id="v1")["Records"][0]

    assert record["s3"]["object"]["key"] == "incoming/day+1.csv"
    assert record["s3"]["object"]["versionId"] == "v1"
    assert record["s3"]["bucket"]["ownerIdentity"] == {"principalId": "123456789012"}
    assert record["userIdentity"] == {"principalId": "AWS:123456789012"}


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_given_a_zip_when_extracted_twice_then_the_same_folder_named_by_its_sha256_is_reused(tmp_path):
    cache = CodeCache(tmp_path)
    code = _zip({"app.py": "x = 1\n", "pkg/__init__.py": ""})

    first = cache.extract("fn", code)
    second = cache.extract("fn", code)

    assert first == second
    assert len(first.name) == 64
    assert (first / "pkg" / "__init__.py").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging folder left behind


def test_given_a_zip_with_an_entry_leaving_the_folder_then_extraction_is_refused(tmp_path):
    with pytest.raises(LambdaCodeError) as raised:
        CodeCache(tmp_path).extract("evil", _zip({"../outside.py": "x = 1\n"}))

    assert str(raised.value) == (
        "the code of Lambda function 'evil' has an unsafe entry '../outside.py' (absolute or leaving the package); "
        "rebuild the zip with relative paths"
    )
    assert list(tmp_path.iterdir()) == []


def test_given_bytes_that_are_not_a_zip_then_extraction_names_the_function(tmp_path):
    with pytest.raises(LambdaCodeError, match="the code of Lambda function 'odd' is not a zip file"):
        CodeCache(tmp_path).extract("odd", b"not a zip")
