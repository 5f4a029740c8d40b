"""The events Lambda hands a function for each trigger, shaped as AWS documents them."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus


def iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def iso_from_epoch(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- S3 ------------------------------------------------------------------------------------


def complete_s3_event(
    event: dict[str, Any], *, account_id: str, version_id: str | None = None
) -> dict[str, Any]:
    """Add the fields of AWS's S3 event that moto's notification leaves out (identity, sequencer, version)."""
    for record in event.get("Records", []):
        record.setdefault("userIdentity", {"principalId": f"AWS:{account_id}"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {"x-amz-request-id": "EMULATOR", "x-amz-id-2": "EMULATOR"})
        s3 = record.setdefault("s3", {})
        s3.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": account_id})
        obj = s3.setdefault("object", {})
        if "key" in obj:  # moto encodes "/" too; AWS keeps it: "incoming/day+1.csv"
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
        obj.setdefault("sequencer", f"{time.time_ns():016X}")
        if version_id:
            obj.setdefault("versionId", version_id)
    return event


# --- SNS -----------------------------------------------------------------------------------


def sns_event(
    *,
    topic_arn: str,
    subscription_arn: str,
    message_id: str,
    message: str,
    subject: str | None,
    message_attributes: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One SNS notification as a Lambda subscriber receives it."""
    attributes = {
        name: {
            "Type": value.get("Type", value.get("DataType", "String")),
            "Value": value.get("Value", value.get("StringValue", value.get("BinaryValue"))),
        }
        for name, value in (message_attributes or {}).items()
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": iso_now(),
                    "SignatureVersion": "1",
                    "Signature": "EMULATOR",
                    "SigningCertUrl": "EMULATOR",
                    "UnsubscribeUrl": "EMULATOR",
                    "MessageAttributes": attributes,
                },
            }
        ]
    }


# --- Kinesis -------------------------------------------------------------------------------


def kinesis_event(
    records: Sequence[Mapping[str, Any]], *, shard_id: str, stream_arn: str, region: str, role_arn: str
) -> dict[str, Any]:
    """A batch of records from ``GetRecords`` (boto3 shape) as a Kinesis event."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode(),
                    "approximateArrivalTimestamp": _epoch(record.get("ApproximateArrivalTimestamp")),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


def kinesis_failure_record(
    records: Sequence[Mapping[str, Any]],
    *,
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    request_id: str | None,
    condition: str,
    attempts: int,
    function_error: bool,
) -> dict[str, Any]:
    """What a stream mapping's on-failure destination receives: the failed batch's metadata, not its data."""
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso_now(),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["SequenceNumber"],
            "endSequenceNumber": records[-1]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso_from_epoch(
                _epoch(records[0].get("ApproximateArrivalTimestamp"))
            ),
            "approximateArrivalOfLastRecord": iso_from_epoch(
                _epoch(records[-1].get("ApproximateArrivalTimestamp"))
            ),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


def _epoch(value: Any) -> float:
    if value is None:
        return round(time.time(), 3)
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    return round(float(value), 3)


# --- SQS -----------------------------------------------------------------------------------


def sqs_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """A batch of messages from ``ReceiveMessage`` (boto3 shape) as an SQS event."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message.get("Body", ""),
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": base64.b64encode(value["BinaryValue"]).decode()
                        if value.get("BinaryValue")
                        else None,
                        "stringListValues": list(value.get("StringListValues") or []),
                        "binaryListValues": list(value.get("BinaryListValues") or []),
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def failed_item_ids(payload: Any) -> list[str] | None:
    """The ``itemIdentifier``s of a partial batch response; None when the response is malformed.

    AWS treats a response whose ``batchItemFailures`` holds an empty or missing identifier as
    a failure of the whole batch; an empty list or no ``batchItemFailures`` means success.
    """
    if not isinstance(payload, dict):
        return []
    failures = payload.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    ids = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if identifier in (None, ""):
            return None
        ids.append(str(identifier))
    return ids


__all__ = [
    "complete_s3_event",
    "failed_item_ids",
    "iso_now",
    "kinesis_event",
    "kinesis_failure_record",
    "sns_event",
    "sqs_event",
]
