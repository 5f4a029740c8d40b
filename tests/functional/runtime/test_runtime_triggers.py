"""S3, SNS and SQS triggers run the function's code; failed asynchronous events are retried, then dead-lettered."""

from __future__ import annotations

import json

from runtime_support import create_function, create_queue, drain_queue, handler_zip, invocation_logs, printed

BUCKET = "tenant-data"

RECORDING_HANDLER = """
    import json

    def handler(event, context):
        for record in event["Records"]:
            print("RECORD " + json.dumps(record))
        return {"seen": len(event["Records"])}
"""

ALWAYS_FAILING_HANDLER = """
    import json

    def handler(event, context):
        print("ATTEMPT " + json.dumps({"request_id": context.aws_request_id}))
        raise RuntimeError("downstream is down")
"""


def _notify_on_prefix(aws, function_arn: str, prefix: str) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "on-incoming",
                    "LambdaFunctionArn": function_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )


def test_given_a_bucket_notification_with_a_prefix_when_objects_land_then_only_keys_under_it_run_the_handler(
    aws, lambda_runtime, tmp_path
):
    arn = create_function(aws, "on-upload", handler_zip(tmp_path, RECORDING_HANDLER))
    _notify_on_prefix(aws, arn, "incoming/")
    s3 = aws.client("s3")

    s3.put_object(Bucket=BUCKET, Key="incoming/day 1.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/ignored.csv", Body=b"a,b\n")
    assert lambda_runtime.wait_idle(10)

    (record,) = printed(aws, "/aws/lambda/on-upload", "RECORD")
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == BUCKET
    assert record["s3"]["object"]["key"] == "incoming/day+1.csv"  # URL-encoded, as on AWS
    assert record["s3"]["object"]["size"] == 8
    assert record["s3"]["object"]["sequencer"]
    assert lambda_runtime.metrics("on-upload").invocations == 1


def test_given_a_failing_async_handler_when_s3_triggers_it_then_it_runs_three_times_and_the_event_lands_in_the_dlq(
    aws, lambda_runtime, tmp_path
):
    dlq_url, dlq_arn = create_queue(aws, "on-upload-dlq")
    arn = create_function(
        aws, "flaky", handler_zip(tmp_path, ALWAYS_FAILING_HANDLER), DeadLetterConfig={"TargetArn": dlq_arn}
    )
    _notify_on_prefix(aws, arn, "incoming/")

    aws.client("s3").put_object(Bucket=BUCKET, Key="incoming/x.csv", Body=b"1")
    assert lambda_runtime.wait_idle(15)

    attempts = printed(aws, "/aws/lambda/flaky", "ATTEMPT")
    assert len(attempts) == 3  # the first try and AWS's default 2 retries
    assert len({a["request_id"] for a in attempts}) == 1  # retries keep the request id
    (message,) = drain_queue(aws, dlq_url)
    event = json.loads(message["Body"])
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/x.csv"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "RequestID": attempts[0]["request_id"],
        "ErrorCode": "200",
        "ErrorMessage": "downstream is down",
    }
    metrics = lambda_runtime.metrics("flaky")
    assert (metrics.invocations, metrics.errors, metrics.dead_letters) == (3, 3, 1)
    config = aws.client("lambda").get_function_configuration(FunctionName="flaky")
    assert config["DeadLetterConfig"] == {"TargetArn": dlq_arn}


def test_given_an_event_invoke_config_when_an_async_invoke_fails_then_its_retries_and_on_failure_destination_apply(
    aws, lambda_runtime, tmp_path
):
    destination_url, destination_arn = create_queue(aws, "failures")
    create_function(aws, "no-retries", handler_zip(tmp_path, ALWAYS_FAILING_HANDLER))
    lam = aws.client("lambda")
    lam.put_function_event_invoke_config(
        FunctionName="no-retries",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": destination_arn}},
    )

    lam.invoke(FunctionName="no-retries", InvocationType="Event", Payload=json.dumps({"order": 9}))
    assert lambda_runtime.wait_idle(10)

    assert len(printed(aws, "/aws/lambda/no-retries", "ATTEMPT")) == 1
    (message,) = drain_queue(aws, destination_url)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"order": 9}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "downstream is down"


def test_given_an_sns_lambda_subscription_when_a_message_is_published_then_the_handler_gets_the_notification(
    aws, lambda_runtime, tmp_path
):
    arn = create_function(aws, "on-alarm", handler_zip(tmp_path, RECORDING_HANDLER))
    sns = aws.client("sns")
    topic_arn = sns.create_topic(Name="alarms")["TopicArn"]
    subscription_arn = sns.subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=arn)["SubscriptionArn"]

    message_id = sns.publish(
        TopicArn=topic_arn,
        Message='{"AlarmName": "errors"}',
        Subject="ALARM",
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": "acme"}},
    )["MessageId"]
    assert lambda_runtime.wait_idle(10)

    (record,) = printed(aws, "/aws/lambda/on-alarm", "RECORD")
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription_arn
    notification = record["Sns"]
    assert (notification["TopicArn"], notification["MessageId"], notification["Subject"]) == (
        topic_arn,
        message_id,
        "ALARM",
    )
    assert json.loads(notification["Message"]) == {"AlarmName": "errors"}
    assert notification["MessageAttributes"] == {"tenant": {"Type": "String", "Value": "acme"}}


def test_given_an_sqs_mapping_when_messages_are_sent_then_the_handler_gets_them_in_a_batch_and_they_are_deleted(
    aws, lambda_runtime, tmp_path
):
    arn = create_function(aws, "on-message", handler_zip(tmp_path, RECORDING_HANDLER))
    url, queue_arn = create_queue(aws, "work", VisibilityTimeout="30")
    lam = aws.client("lambda")
    lam.create_event_source_mapping(
        FunctionName=arn, EventSourceArn=queue_arn, BatchSize=3, MaximumBatchingWindowInSeconds=1
    )
    sqs = aws.client("sqs")

    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job {i}"} for i in range(3)]
    )
    assert lambda_runtime.wait_idle(10)

    batches = invocation_logs(aws, "/aws/lambda/on-message")
    assert len(batches) == 1
    records = printed(aws, "/aws/lambda/on-message", "RECORD")
    assert sorted(r["body"] for r in records) == ["job 0", "job 1", "job 2"]
    assert {r["eventSource"] for r in records} == {"aws:sqs"}
    assert records[0]["eventSourceARN"] == queue_arn
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == ("0", "0")
