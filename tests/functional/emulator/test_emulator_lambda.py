"""Lambda functions and their triggers: the code is read from the stack directory and recorded."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from core.errors import EmulatorApplyError
from core.terraform.diff import Action
from tenantml.emulator.apply import apply, destroy
from tenantml.emulator.state import load_state

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _zip(path: Path, body: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture
def stack_dir(tmp_path) -> Path:
    """A synthesized stack directory with one asset zip, as cdktf lays it out."""
    directory = tmp_path / "stacks" / "demo"
    _zip(directory / "assets" / "Fn_Code" / "1111" / "fn.zip", "def handler(event, context):\n    return 1\n")
    return directory


def _document() -> dict:
    return {
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_iam_role": {"fn": {"name": "demo-fn", "assume_role_policy": TRUST}},
            "aws_cloudwatch_log_group": {"fn": {"name": "/aws/lambda/demo-fn", "retention_in_days": 14}},
            "aws_sqs_queue": {
                "input": {"name": "demo-input", "visibility_timeout_seconds": 60},
                "dlq": {"name": "demo-dlq"},
            },
            "aws_kinesis_stream": {"events": {"name": "demo-events", "shard_count": 1}},
            "aws_sns_topic": {"alerts": {"name": "demo-alerts"}},
            "aws_sns_topic_subscription": {
                "alerts_to_queue": {
                    "topic_arn": "${aws_sns_topic.alerts.arn}",
                    "protocol": "sqs",
                    "endpoint": "${aws_sqs_queue.input.arn}",
                    "raw_message_delivery": True,
                }
            },
            "aws_lambda_function": {
                "fn": {
                    "function_name": "demo-fn",
                    "role": "${aws_iam_role.fn.arn}",
                    "handler": "handler.handler",
                    "runtime": "python3.12",
                    "filename": "assets/Fn_Code/1111/fn.zip",
                    "timeout": 30,
                    "memory_size": 256,
                    "reserved_concurrent_executions": 2,
                    "environment": {"variables": {"QUEUE_URL": "${aws_sqs_queue.input.url}", "STAGE": "dev"}},
                    "depends_on": ["aws_cloudwatch_log_group.fn"],
                }
            },
            "aws_lambda_event_source_mapping": {
                "from_queue": {
                    "function_name": "${aws_lambda_function.fn.function_name}",
                    "event_source_arn": "${aws_sqs_queue.input.arn}",
                    "batch_size": 5,
                    "function_response_types": ["ReportBatchItemFailures"],
                },
                "from_stream": {
                    "function_name": "${aws_lambda_function.fn.arn}",
                    "event_source_arn": "${aws_kinesis_stream.events.arn}",
                    "starting_position": "LATEST",
                    "batch_size": 100,
                },
            },
            "aws_lambda_permission": {
                "sns": {
                    "statement_id": "AllowSns",
                    "action": "lambda:InvokeFunction",
                    "principal": "sns.amazonaws.com",
                    "function_name": "${aws_lambda_function.fn.function_name}",
                    "source_arn": "${aws_sns_topic.alerts.arn}",
                }
            },
            "aws_lambda_function_event_invoke_config": {
                "fn": {
                    "function_name": "${aws_lambda_function.fn.function_name}",
                    "maximum_retry_attempts": 1,
                    "destination_config": {"on_failure": {"destination": "${aws_sqs_queue.dlq.arn}"}},
                }
            },
            "aws_dynamodb_table": {
                "seen": {
                    "name": "demo-seen",
                    "billing_mode": "PAY_PER_REQUEST",
                    "hash_key": "id",
                    "attribute": [{"name": "id", "type": "S"}],
                    "ttl": {"attribute_name": "expires", "enabled": True},
                }
            },
            "aws_sagemaker_model_package_group": {"registry": {"model_package_group_name": "demo-model"}},
        },
        "output": {"function_arn": {"value": "${aws_lambda_function.fn.arn}"}},
    }


def test_given_a_function_with_a_zip_when_applied_then_moto_stores_it_and_the_state_says_how_to_run_it(
    aws, stack_dir, tmp_path
):
    state_file = tmp_path / "demo.json"

    result = apply(_document(), state_file, aws, stack_dir=stack_dir)

    lam = aws.client("lambda")
    zip_path = stack_dir / "assets" / "Fn_Code" / "1111" / "fn.zip"
    configuration = lam.get_function(FunctionName="demo-fn")["Configuration"]
    assert configuration["CodeSize"] == zip_path.stat().st_size
    assert (
        configuration["CodeSha256"]
        == base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()
    )
    queue_url = aws.client("sqs").get_queue_url(QueueName="demo-input")["QueueUrl"]
    assert configuration["Environment"]["Variables"] == {"QUEUE_URL": queue_url, "STAGE": "dev"}
    assert lam.get_function_concurrency(FunctionName="demo-fn")["ReservedConcurrentExecutions"] == 2
    attributes = load_state(state_file).get("aws_lambda_function.fn").attributes
    assert attributes["code_path"] == str(zip_path.resolve())
    assert (
        attributes["handler"],
        attributes["runtime"],
        attributes["timeout"],
        attributes["memory_size"],
    ) == ("handler.handler", "python3.12", 30, 256)
    assert attributes["environment_variables"] == {"QUEUE_URL": queue_url, "STAGE": "dev"}
    assert attributes["invoke_arn"].endswith(f"/functions/{result.outputs['function_arn']}/invocations")
    mappings = {
        m["EventSourceArn"].split(":")[2]: m for m in lam.list_event_source_mappings()["EventSourceMappings"]
    }
    assert mappings["sqs"]["BatchSize"] == 5 and mappings["kinesis"]["BatchSize"] == 100
    policy = json.loads(lam.get_policy(FunctionName="demo-fn")["Policy"])
    assert policy["Statement"][0]["Sid"] == "AllowSns"
    (subscription,) = aws.client("sns").list_subscriptions()["Subscriptions"]
    assert (
        subscription["Endpoint"]
        == aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    )
    assert (
        aws.client("dynamodb").describe_time_to_live(TableName="demo-seen")["TimeToLiveDescription"][
            "TimeToLiveStatus"
        ]
        == "ENABLED"
    )
    assert apply(_document(), state_file, aws, stack_dir=stack_dir).applied == ()


def test_given_new_code_or_settings_when_applied_then_the_function_is_updated_in_place(
    aws, stack_dir, tmp_path
):
    state_file = tmp_path / "demo.json"
    apply(_document(), state_file, aws, stack_dir=stack_dir)
    new_zip = _zip(
        stack_dir / "assets" / "Fn_Code" / "2222" / "fn.zip", "def handler(event, context):\n    return 2\n"
    )
    changed = copy.deepcopy(_document())
    function = changed["resource"]["aws_lambda_function"]["fn"]
    function["filename"] = "assets/Fn_Code/2222/fn.zip"
    function["environment"]["variables"]["STAGE"] = "prod"

    result = apply(changed, state_file, aws, stack_dir=stack_dir)

    assert [(c.address, c.action) for c in result.applied] == [("aws_lambda_function.fn", Action.UPDATE)]
    configuration = aws.client("lambda").get_function(FunctionName="demo-fn")["Configuration"]
    assert configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    assert configuration["Environment"]["Variables"]["STAGE"] == "prod"
    assert (
        load_state(state_file).get("aws_lambda_function.fn").attributes["code_path"].endswith("2222/fn.zip")
    )


def test_given_a_missing_zip_when_applied_then_the_error_says_which_file_and_what_to_do(
    aws, stack_dir, tmp_path
):
    document = _document()
    document["resource"]["aws_lambda_function"]["fn"]["filename"] = "assets/Fn_Code/9999/fn.zip"

    with pytest.raises(EmulatorApplyError) as err:
        apply(document, tmp_path / "demo.json", aws, stack_dir=stack_dir)

    message = str(err.value)
    assert message.startswith(
        "aws_lambda_function.fn: create failed: "
        "the code of Lambda function 'demo-fn' is missing: cannot read "
    )
    assert str(stack_dir / "assets" / "Fn_Code" / "9999" / "fn.zip") in message
    assert "run `tenantml synth` again" in message
    assert "aws_lambda_function.fn" not in load_state(tmp_path / "demo.json").entries


def test_given_the_function_stack_when_destroyed_then_nothing_is_left(aws, stack_dir, tmp_path):
    state_file = tmp_path / "demo.json"
    apply(_document(), state_file, aws, stack_dir=stack_dir)

    destroy(state_file, aws)

    lam = aws.client("lambda")
    assert lam.list_functions()["Functions"] == []
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert aws.client("sns").list_subscriptions()["Subscriptions"] == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert aws.client("logs").describe_log_groups()["logGroups"] == []
    assert aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"] == []
