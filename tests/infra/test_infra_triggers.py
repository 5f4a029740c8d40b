"""PythonFunction and its S3, Kinesis and SNS triggers."""

from __future__ import annotations

import base64
import hashlib

import pytest
from infra_support import ACCOUNT_ID, BOUNDARY_ARN, bodies, only, policy, role_policy, statement, synth

from core.errors import ConstructPropsError
from infra import actions, cdk
from infra.storage import SecureBucket, SecureBucketProps
from infra.streaming import InferenceStream, InferenceStreamProps
from infra.triggers import RUNTIME, PythonFunction

DLQ_ARN = "${aws_sqs_queue.monitor_dead_letters.arn}"
FUNCTION_ARN = "${aws_lambda_function.monitor.arn}"


def test_given_a_function_when_synthesized_then_it_runs_the_handler_package_with_tracing_and_json_logs(
    stack, function
):
    # when
    text, _doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_lambda_function",
        {
            "function_name": "tenantml-acme-dev-monitor",
            "runtime": RUNTIME,
            "handler": "lambdas.monitor.handler.handler",
            "role": "${aws_iam_role.monitor_role.arn}",
            "timeout": 60,
            "memory_size": 512,
            "tracing_config": [{"mode": "Active"}],
            "logging_config": [{"log_format": "JSON", "log_group": "/aws/lambda/tenantml-acme-dev-monitor"}],
        },
    )
    assert function.function_arn == FUNCTION_ARN


def test_given_a_function_when_synthesized_then_failed_events_go_to_an_encrypted_dead_letter_queue_once(
    stack, function
):
    # when
    _, doc = synth(stack)

    # then: one path (the on-failure destination); a dead_letter_config too would deliver every event twice
    fn = only(doc, "aws_lambda_function")
    assert "dead_letter_config" not in fn
    assert only(doc, "aws_sqs_queue") == {
        "name": "tenantml-acme-dev-monitor-dlq",
        "kms_master_key_id": "${aws_kms_key.key.arn}",
        "kms_data_key_reuse_period_seconds": 300,
        "message_retention_seconds": 1_209_600,
    }
    assert only(doc, "aws_lambda_function_event_invoke_config") == {
        "function_name": "${aws_lambda_function.monitor.function_name}",
        "maximum_retry_attempts": 2,
        "destination_config": [{"on_failure": [{"destination": DLQ_ARN}]}],
    }


def test_given_a_function_when_synthesized_then_concurrency_is_reserved(stack, function_props):
    # given
    PythonFunction(stack, "Monitor", function_props(reserved_concurrency=7))

    # when
    text, _ = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text, "aws_lambda_function", {"reserved_concurrent_executions": 7}
    )


def test_given_a_function_when_synthesized_then_its_log_group_keeps_logs_for_the_retention_and_is_encrypted(
    stack, function_props
):
    # given
    PythonFunction(stack, "Monitor", function_props(log_retention_days=90))

    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_cloudwatch_log_group") == {
        "name": "/aws/lambda/tenantml-acme-dev-monitor",
        "retention_in_days": 90,
        "kms_key_id": "${aws_kms_key.key.arn}",
    }
    assert only(doc, "aws_lambda_function")["depends_on"] == [
        "aws_cloudwatch_log_group.monitor_logs",
        "aws_iam_role_policy.monitor_role_policy",
    ]


def test_given_a_function_when_synthesized_then_the_tenant_and_extra_variables_are_in_its_environment(
    stack, function_props
):
    # given
    PythonFunction(
        stack, "Monitor", function_props(environment={"TENANTML_STREAM_NAME": "${aws_kinesis_stream.s.name}"})
    )

    # when
    _, doc = synth(stack)

    # then
    (env,) = only(doc, "aws_lambda_function")["environment"]
    assert env["variables"] == {
        "POWERTOOLS_SERVICE_NAME": "tenantml-monitor",
        "TENANTML_TENANT": "acme",
        "TENANTML_STREAM_NAME": "${aws_kinesis_stream.s.name}",
    }


def test_given_a_function_when_synthesized_then_its_code_is_the_built_zip_with_its_hash(
    stack, function, tmp_path
):
    # when
    _, doc = synth(stack)
    fn = only(doc, "aws_lambda_function")

    # then
    built = (tmp_path / "lambda-build" / "monitor.zip").read_bytes()
    assert fn["filename"].startswith("assets/") and fn["filename"].endswith("/monitor.zip")
    assert fn["source_code_hash"] == base64.b64encode(hashlib.sha256(built).digest()).decode()


def test_given_a_function_when_synthesized_then_its_role_is_capped_and_may_write_logs_and_dead_letters(
    stack, function
):
    # when
    _, doc = synth(stack)

    # then
    role = bodies(doc, "aws_iam_role")["monitor_role"]
    assert role["name"] == "tenantml-acme-dev-fn-monitor"
    assert role["permissions_boundary"] == BOUNDARY_ARN
    assert policy(role, "assume_role_policy")["Statement"][0]["Principal"] == {
        "Service": ["lambda.amazonaws.com"]
    }
    granted = role_policy(doc, "monitor_role")
    assert statement(granted, "WriteLogs")["Resource"] == ["${aws_cloudwatch_log_group.monitor_logs.arn}:*"]
    assert statement(granted, "WriteLogs")["Action"] == sorted(actions.LOGS_WRITE)
    assert statement(granted, "SendDeadLetters")["Resource"] == [DLQ_ARN]
    assert "sqs:SendMessage" in statement(granted, "SendDeadLetters")["Action"]
    assert statement(granted, "TenantKeyEncryptDecrypt")["Resource"] == ["${aws_kms_key.key.arn}"]


def test_given_a_handler_package_that_does_not_exist_when_a_function_is_built_then_the_path_is_named(
    stack, function_props
):
    # when
    with pytest.raises(FileNotFoundError) as caught:
        PythonFunction(stack, "Ghost", function_props(handler_package="ghost"))

    # then
    assert str(caught.value) == "lambdas/ghost/handler.py does not exist"


# --- triggers -----------------------------------------------------------------------------------


def test_given_an_s3_trigger_when_synthesized_then_only_objects_created_under_the_prefix_invoke_the_function(
    stack, naming, key, function
):
    # given
    bucket = SecureBucket(stack, "Data", SecureBucketProps(naming=naming, component="data", key=key))

    # when
    function.add_s3_trigger(bucket, "incoming/")
    _, doc = synth(stack)

    # then
    notification = only(doc, "aws_s3_bucket_notification")
    assert notification["bucket"] == "${aws_s3_bucket.data.id}"
    assert notification["lambda_function"] == [
        {
            "id": "monitor-on-incoming",
            "lambda_function_arn": FUNCTION_ARN,
            "events": ["s3:ObjectCreated:*"],
            "filter_prefix": "incoming/",
        }
    ]
    assert notification["depends_on"] == ["aws_lambda_permission.monitor_allow_s3"]
    assert only(doc, "aws_lambda_permission") == {
        "statement_id": "AllowS3Invoke",
        "action": "lambda:InvokeFunction",
        "function_name": "${aws_lambda_function.monitor.function_name}",
        "principal": "s3.amazonaws.com",
        "source_arn": "${aws_s3_bucket.data.arn}",
        "source_account": ACCOUNT_ID,
    }


def test_given_a_kinesis_trigger_when_synthesized_then_the_mapping_reports_partial_batch_failures(
    stack, naming, key, function
):
    # given
    stream = InferenceStream(stack, "Stream", InferenceStreamProps(naming=naming, key=key))

    # when
    function.add_kinesis_trigger(stream, batch_size=100, window_seconds=2)
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_lambda_event_source_mapping") == {
        "function_name": FUNCTION_ARN,
        "event_source_arn": "${aws_kinesis_stream.stream.arn}",
        "starting_position": "LATEST",
        "batch_size": 100,
        "maximum_batching_window_in_seconds": 2,
        "function_response_types": ["ReportBatchItemFailures"],
        "bisect_batch_on_function_error": True,
        "maximum_retry_attempts": 3,
        "destination_config": [{"on_failure": [{"destination_arn": DLQ_ARN}]}],
    }
    granted = role_policy(doc, "monitor_role")
    assert statement(granted, "ReadInferenceStream")["Resource"] == ["${aws_kinesis_stream.stream.arn}"]


def test_given_an_sns_trigger_when_synthesized_then_the_topic_may_invoke_the_function_through_a_subscription(
    stack, function
):
    # given
    topic_arn = "${aws_sns_topic.alerts.arn}"

    # when
    function.add_sns_trigger(topic_arn)
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_sns_topic_subscription") == {
        "topic_arn": topic_arn,
        "protocol": "lambda",
        "endpoint": FUNCTION_ARN,
        "depends_on": ["aws_lambda_permission.monitor_allow_sns"],
    }
    permission = only(doc, "aws_lambda_permission")
    assert permission["principal"] == "sns.amazonaws.com"
    assert permission["source_arn"] == topic_arn
    assert permission["action"] == "lambda:InvokeFunction"


def test_given_a_traced_function_when_synthesized_then_its_role_may_send_traces(stack, function):
    # when
    _, doc = synth(stack)

    # then
    assert only(doc, "aws_lambda_function")["tracing_config"] == [{"mode": "Active"}]
    granted = {a for st in role_policy(doc, "monitor_role")["Statement"] for a in st["Action"]}
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= granted


def test_given_a_function_with_a_dead_letter_queue_when_synthesized_then_it_is_created_after_its_role_policy(
    stack, function
):
    # when
    _, doc = synth(stack)

    # then
    assert "aws_iam_role_policy.monitor_role_policy" in only(doc, "aws_lambda_function").get("depends_on", [])


# --- props rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timeout_seconds": 0}, ("timeout_seconds", "Lambda allows 1 to 900 seconds", 0)),
        ({"timeout_seconds": 901}, ("timeout_seconds", "Lambda allows 1 to 900 seconds", 901)),
        ({"memory_mb": 127}, ("memory_mb", "Lambda allows 128 to 10240 MB", 127)),
        ({"memory_mb": 10241}, ("memory_mb", "Lambda allows 128 to 10240 MB", 10241)),
        (
            {"reserved_concurrency": 0},
            ("reserved_concurrency", "must be at least 1 (0 would disable the function)", 0),
        ),
        ({"max_retry_attempts": -1}, ("max_retry_attempts", "asynchronous invokes retry 0 to 2 times", -1)),
        ({"max_retry_attempts": 3}, ("max_retry_attempts", "asynchronous invokes retry 0 to 2 times", 3)),
        (
            {"environment": {"AWS_REGION": "x", "MODE": "y", "AWS_PROFILE": "z"}},
            ("environment", "AWS_* variables are reserved by Lambda", ["AWS_PROFILE", "AWS_REGION"]),
        ),
    ],
    ids=[
        "timeout-0",
        "timeout-901",
        "memory-127",
        "memory-10241",
        "concurrency-0",
        "retries-negative",
        "retries-3",
        "reserved-env",
    ],
)
def test_given_a_broken_function_setting_when_props_are_built_then_the_field_and_value_are_named(
    function_props, fields, expected
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        function_props(**fields)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [expected]
    assert f"{expected[0]}: {expected[1]}" in str(caught.value)


def test_given_several_broken_function_settings_when_props_are_built_then_one_error_lists_them_all(
    function_props,
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        function_props(timeout_seconds=0, memory_mb=64, reserved_concurrency=0)

    # then
    assert [p.location for p in caught.value.problems] == [
        "timeout_seconds",
        "memory_mb",
        "reserved_concurrency",
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"timeout_seconds": 1},
        {"timeout_seconds": 900},
        {"memory_mb": 128},
        {"memory_mb": 10240},
        {"reserved_concurrency": 1},
        {"max_retry_attempts": 0},
        {"max_retry_attempts": 2},
        {"environment": {"MODE": "batch", "NOT_AWS_X": "1"}},
    ],
    ids=[
        "timeout-1",
        "timeout-900",
        "memory-128",
        "memory-10240",
        "concurrency-1",
        "retries-0",
        "retries-2",
        "env",
    ],
)
def test_given_function_settings_within_limits_when_props_are_built_then_they_are_kept(
    function_props, fields
):
    # when
    props = function_props(**fields)

    # then
    assert {name: getattr(props, name) for name in fields} == fields
    assert props.component == "monitor"
