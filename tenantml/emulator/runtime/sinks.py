"""Where an invocation's side products go, through the emulator's own API (boto3).

- the log lines, to CloudWatch Logs (one log stream per invocation);
- the ``AWS/Lambda`` metrics (Invocations, Errors, Throttles, Duration), to CloudWatch, so
  the stacks' alarms on ``AWS/Lambda Errors`` have data to evaluate;
- failed events and invocation records, to SQS queues, SNS topics or other functions
  (dead-letter queues and on-failure destinations).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from tenantml.emulator.runtime.process import InvocationResult, LogLine
from tenantml.emulator.session import AwsSession

log = logging.getLogger("tenantml.emulator.runtime")

#: the largest DLQ ErrorMessage attribute AWS sends
_ERROR_MESSAGE_LIMIT = 1024
#: put_log_events accepts at most this many events per call
_LOG_BATCH = 10_000


def _client_error_code(err: Exception) -> str:
    return getattr(err, "response", {}).get("Error", {}).get("Code", "")


class Sinks:
    """Writes logs, metrics and failure messages to the emulator."""

    def __init__(self, session: AwsSession, *, publish_metrics: bool = True) -> None:
        self.session = session
        self.publish_metrics = publish_metrics
        self._accounts: dict[str, AwsSession] = {}

    def _in(self, account: str | None) -> AwsSession:
        """The session acting in ``account`` (its administrator's, cached): a function's logs,
        metrics and failure targets live in the function's account, which moto finds by the key."""
        if not account or account == self.session.account_id:
            return self.session
        session = self._accounts.get(account)
        if session is None:
            session = self._accounts[account] = self.session.for_account(account)
        return session

    # --- CloudWatch Logs ---------------------------------------------------------------

    def write_log(
        self, region: str, group: str, stream: str, lines: Sequence[LogLine], account: str | None = None
    ) -> None:
        """Create ``group`` if needed, then ``stream`` with ``lines`` (empty lines are skipped)."""
        logs = self._in(account).client("logs", region)
        try:
            logs.create_log_group(logGroupName=group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        try:  # a warm execution environment writes each invocation to its one stream
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        events = [{"timestamp": line.timestamp_ms, "message": line.message} for line in lines if line.message]
        # stdout and stderr are read by different threads, so their lines can arrive out of time
        # order; CloudWatch Logs refuses a batch that is not chronological (sorted() is stable)
        events.sort(key=lambda event: event["timestamp"])
        for start in range(0, len(events), _LOG_BATCH):
            logs.put_log_events(
                logGroupName=group, logStreamName=stream, logEvents=events[start : start + _LOG_BATCH]
            )

    def write_invocation_log(self, region: str, result: InvocationResult, account: str | None = None) -> None:
        self.write_log(region, result.log_group, result.log_stream, result.log_lines, account)

    # --- CloudWatch metrics -------------------------------------------------------------

    def put_metrics(
        self,
        region: str,
        function_name: str,
        *,
        invocations: int = 0,
        errors: int = 0,
        throttles: int = 0,
        duration_ms: float | None = None,
        account: str | None = None,
    ) -> None:
        if not self.publish_metrics:
            return
        dimensions = [{"Name": "FunctionName", "Value": function_name}]
        now = datetime.now(UTC)
        data: list[dict[str, Any]] = [
            {
                "MetricName": name,
                "Value": float(value),
                "Unit": "Count",
                "Dimensions": dimensions,
                "Timestamp": now,
            }
            for name, value in (("Invocations", invocations), ("Errors", errors), ("Throttles", throttles))
            if value or name != "Throttles"
        ]
        if duration_ms is not None:
            data.append(
                {
                    "MetricName": "Duration",
                    "Value": duration_ms,
                    "Unit": "Milliseconds",
                    "Dimensions": dimensions,
                    "Timestamp": now,
                }
            )
        self._in(account).client("cloudwatch", region).put_metric_data(
            Namespace="AWS/Lambda", MetricData=data
        )

    # --- failure and success targets ----------------------------------------------------

    def send_to_dead_letter(
        self,
        target_arn: str,
        event: bytes,
        result: InvocationResult | None,
        error_code: int = 200,
        error_message: str | None = None,
    ) -> None:
        """The original event, with AWS's RequestID / ErrorCode / ErrorMessage attributes."""
        message = error_message
        if message is None and result is not None and result.error is not None:
            message = str(result.error.get("errorMessage", ""))
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": result.request_id if result else "unknown"},
            "ErrorCode": {"DataType": "Number", "StringValue": str(error_code)},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": (message or "unknown error")[:_ERROR_MESSAGE_LIMIT],
            },
        }
        self.deliver(target_arn, event.decode("utf-8", errors="replace"), attributes)

    def deliver(
        self,
        target_arn: str,
        body: str,
        attributes: dict[str, dict[str, str]] | None = None,
        invoke_function: Callable[[str, bytes], None] | None = None,
    ) -> None:
        """Send ``body`` to an SQS queue, an SNS topic or (with ``invoke_function``) a Lambda function."""
        parts = target_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        if service == "sqs":
            sqs = self._in(account).client("sqs", region)
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=account)["QueueUrl"]
            kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
            if attributes:
                kwargs["MessageAttributes"] = attributes
            sqs.send_message(**kwargs)
        elif service == "sns":
            kwargs = {"TopicArn": target_arn, "Message": body}
            if attributes:
                kwargs["MessageAttributes"] = attributes
            self._in(account).client("sns", region).publish(**kwargs)
        elif service == "lambda" and invoke_function is not None:
            invoke_function(target_arn, body.encode())
        else:
            log.warning(
                "the Lambda runtime cannot deliver to %s (only SQS, SNS and Lambda targets); dropped",
                target_arn,
            )


def invocation_record(
    result: InvocationResult | None,
    function_arn: str,
    event: bytes,
    *,
    condition: str,
    attempts: int,
    error_message: str | None = None,
) -> str:
    """The record an asynchronous invocation's on-failure / on-success destination receives."""
    response_context: dict[str, Any] = {
        "statusCode": 200,
        "executedVersion": result.version if result else "$LATEST",
    }
    response_payload: Any = None
    if result is not None:
        if result.error is not None:
            response_context["functionError"] = "Unhandled"
        response_payload = result.json()
    elif error_message:
        response_context = {"statusCode": 429, "functionError": "Throttled"}
        response_payload = {"errorMessage": error_message}
    try:
        request_payload: Any = json.loads(event) if event.strip() else {}
    except ValueError:
        request_payload = event.decode("utf-8", errors="replace")
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": _iso_now(),
            "requestContext": {
                "requestId": result.request_id if result else None,
                "functionArn": f"{function_arn}:$LATEST" if function_arn.count(":") == 6 else function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": request_payload,
            "responseContext": response_context,
            "responsePayload": response_payload,
        }
    )


def _iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


__all__ = ["Sinks", "invocation_record"]
