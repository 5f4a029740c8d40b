"""Direct invokes through the emulator's Lambda API run the function's real code."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from runtime_support import create_function, handler_zip, invocation_logs, log_events, publish_handler_layer

CONTEXT_HANDLER = """
    import os

    def handler(event, context):
        return {
            "echo": event,
            "greeting": os.environ["GREETING"],
            "function": context.function_name,
            "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn,
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "lambda_env": {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_TIMEOUT",
                                                          "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")},
        }
"""

FAILING_HANDLER = """
    def handler(event, context):
        print("about to fail")
        raise ValueError(f"bad order {event['order']}")
"""


def _invoke(aws, name, payload=None, **kwargs):
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def test_given_a_function_when_invoked_then_the_handler_result_comes_back_with_its_env_and_context(
    aws, lambda_runtime, tmp_path, runtime_emulator
):
    arn = create_function(
        aws,
        "echo",
        handler_zip(tmp_path, CONTEXT_HANDLER),
        timeout=7,
        MemorySize=256,
        env={"GREETING": "hello"},
    )

    response, body = _invoke(aws, "echo", {"order": 42})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["echo"] == {"order": 42}
    assert (body["greeting"], body["function"], body["memory"], body["arn"]) == ("hello", "echo", 256, arn)
    assert re.fullmatch(r"[0-9a-f-]{36}", body["request_id"])
    assert 0 < body["remaining_ms"] <= 7000
    # the function runs with its execution role's temporary credentials from the emulator's STS
    access_key = body["lambda_env"].pop("AWS_ACCESS_KEY_ID")
    assert access_key.startswith("ASIA")
    assert body["lambda_env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "echo",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "7",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": runtime_emulator.endpoint,
    }
    assert lambda_runtime.metrics("echo").invocations == 1


def test_given_a_handler_that_raises_when_invoked_then_the_error_is_unhandled_with_aws_error_payload(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "failing", handler_zip(tmp_path, FAILING_HANDLER))

    response, body = _invoke(aws, "failing", {"order": 7}, LogType="Tail")

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad order 7"
    assert any("raise ValueError" in frame for frame in body["stackTrace"])
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in tail
    assert "[ERROR] ValueError: bad order 7" in tail
    metrics = lambda_runtime.metrics("failing")
    assert (metrics.invocations, metrics.errors) == (1, 1)


def test_given_a_handler_slower_than_its_timeout_when_invoked_then_it_is_killed_and_reported_timed_out(
    aws, lambda_runtime, tmp_path
):
    source = """
        import time

        def handler(event, context):
            print("sleeping", flush=True)
            time.sleep(3600)  # beyond the test's own timeout: only the kill at 1 s ends it
            return "never"
    """
    create_function(aws, "sleepy", handler_zip(tmp_path, source), timeout=1)

    response, body = _invoke(aws, "sleepy")

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    (messages,) = invocation_logs(aws, "/aws/lambda/sleepy")
    assert "sleeping" in messages
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in messages)
    assert messages[-1].startswith("REPORT") and "Status: timeout" in messages[-1]
    assert lambda_runtime.metrics("sleepy").timeouts == 1


def test_given_a_handler_that_cannot_be_imported_when_invoked_then_the_runtime_names_the_import_error(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "broken", handler_zip(tmp_path, "import not_a_module_anywhere\n"))

    response, body = _invoke(aws, "broken")

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'app': No module named 'not_a_module_anywhere'"


def test_given_a_handler_that_prints_and_uses_powertools_when_invoked_then_its_lines_reach_cloudwatch_logs(
    aws, lambda_runtime, tmp_path
):
    source = """
        from aws_lambda_powertools import Logger

        logger = Logger(service="orders")

        @logger.inject_lambda_context
        def handler(event, context):
            print(f"plain line for {event['id']}")
            logger.info("structured line", extra={"order_id": event["id"]})
            return "ok"
    """
    # powertools is not in the runtime: the function gets it from its layer, as on AWS
    create_function(
        aws, "logger", handler_zip(tmp_path, source), Layers=[publish_handler_layer(aws, tmp_path)]
    )

    _invoke(aws, "logger", {"id": "A-1"})

    logs = aws.client("logs")
    found = logs.filter_log_events(logGroupName="/aws/lambda/logger", filterPattern="plain")["events"]
    assert [e["message"] for e in found] == ["plain line for A-1"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", found[0]["logStreamName"])
    (messages,) = invocation_logs(aws, "/aws/lambda/logger")
    assert messages[0].startswith("START RequestId: ") and messages[0].endswith(" Version: $LATEST")
    assert messages[-2].startswith("END RequestId: ")
    assert messages[-1].startswith("REPORT RequestId: ") and "Billed Duration:" in messages[-1]
    structured = [json.loads(m) for m in messages if m.startswith("{")]
    assert [(s["message"], s["order_id"], s["service"], s["function_name"]) for s in structured] == [
        ("structured line", "A-1", "orders", "logger")
    ]


def test_given_a_logging_config_with_a_log_group_when_invoked_then_the_logs_go_to_that_group_as_json(
    aws, lambda_runtime, tmp_path
):
    source = """
        def handler(event, context):
            print("hello from a custom group")
    """
    create_function(
        aws,
        "custom-logs",
        handler_zip(tmp_path, source),
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/tenantml/custom"},
    )

    _invoke(aws, "custom-logs")

    assert log_events(aws, "/aws/lambda/custom-logs") == []
    (messages,) = invocation_logs(aws, "/tenantml/custom")
    assert "hello from a custom group" in messages
    assert json.loads(messages[0])["type"] == "platform.start"
    assert json.loads(messages[-1])["type"] == "platform.report"
    config = aws.client("lambda").get_function_configuration(FunctionName="custom-logs")
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/tenantml/custom"}


def test_given_an_event_invocation_when_invoked_then_it_returns_202_at_once_and_runs_in_the_background(
    aws, lambda_runtime, tmp_path
):
    source = """
        import os
        import time

        def handler(event, context):
            while not os.path.exists(event["gate"]):  # held until the test has its answer
                time.sleep(0.01)
            print(f"background {event['n']}")
    """
    create_function(aws, "background", handler_zip(tmp_path, source), timeout=60)
    gate = tmp_path / "gate"

    response = aws.client("lambda").invoke(
        FunctionName="background", InvocationType="Event", Payload=json.dumps({"n": 3, "gate": str(gate)})
    )

    # the answer came while the handler was still held: the invoke did not wait for it
    assert response["StatusCode"] == 202
    gate.touch()
    assert lambda_runtime.wait_idle(30)
    assert "background 3" in invocation_logs(aws, "/aws/lambda/background")[0]


def test_given_reserved_concurrency_zero_when_invoked_then_the_call_is_throttled(
    aws, lambda_runtime, tmp_path
):
    create_function(
        aws, "switched-off", handler_zip(tmp_path, "def handler(event, context):\n    return 1\n")
    )
    lam = aws.client("lambda")
    lam.put_function_concurrency(FunctionName="switched-off", ReservedConcurrentExecutions=0)
    no_retries = aws.boto3_session.client(
        "lambda",
        endpoint_url=aws.endpoint,
        region_name=aws.region,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )

    with pytest.raises(ClientError) as raised:
        no_retries.invoke(FunctionName="switched-off", Payload=b"{}")

    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert lambda_runtime.metrics("switched-off").throttles == 1
    assert lambda_runtime.metrics("switched-off").invocations == 0


def test_given_invocations_when_they_finish_then_the_aws_lambda_metrics_are_published(
    aws, lambda_runtime, tmp_path
):
    create_function(aws, "counted", handler_zip(tmp_path, FAILING_HANDLER))

    _invoke(aws, "counted", {"order": 1})
    _invoke(aws, "counted", {"order": 2})

    cloudwatch = aws.client("cloudwatch")
    sums = {}
    for name in ("Invocations", "Errors"):
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=name,
            Dimensions=[{"Name": "FunctionName", "Value": "counted"}],
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Sum"],
        )
        sums[name] = sum(p["Sum"] for p in stats["Datapoints"])
    assert sums == {"Invocations": 2.0, "Errors": 2.0}


def test_given_a_handler_that_calls_aws_when_invoked_then_its_boto3_client_reaches_the_emulator(
    aws, lambda_runtime, tmp_path
):
    source = """
        import boto3

        def handler(event, context):
            boto3.client("s3").put_object(Bucket=event["bucket"], Key="from-lambda.txt", Body=context.aws_request_id)
            return "written"
    """
    aws.client("s3").create_bucket(
        Bucket="handler-output", CreateBucketConfiguration={"LocationConstraint": aws.region}
    )
    create_function(aws, "writer", handler_zip(tmp_path, source), timeout=10)

    response, body = _invoke(aws, "writer", {"bucket": "handler-output"})

    assert (response.get("FunctionError"), body) == (None, "written")
    (run,) = lambda_runtime.history("writer")
    stored = (
        aws.client("s3").get_object(Bucket="handler-output", Key="from-lambda.txt")["Body"].read().decode()
    )
    assert stored == run.request_id
