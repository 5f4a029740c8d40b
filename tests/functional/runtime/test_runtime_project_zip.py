"""The project's own packaged handler (lambdas/monitor) runs from its real zip behind a Kinesis mapping."""

from __future__ import annotations

import json
import time

from runtime_support import create_queue, drain_queue, invocation_logs, role_arn

from infra.assets import build_lambda_bundle

STREAM = "tenant-inference-log"
FUNCTION = "tenant-monitor"


def _valid_record() -> bytes:
    return json.dumps({
        "request_id": "req-1", "model_version": "3", "features": {"age": 41, "plan": "pro"},
        "prediction": 0.87, "latency_ms": 12.5, "timestamp": time.time(),
    }).encode()


def test_given_the_monitor_zip_behind_a_kinesis_mapping_when_a_malformed_record_arrives_then_it_is_reported_retried_and_sent_on(
        aws, lambda_runtime, tmp_path):
    bundle = build_lambda_bundle("monitor", tmp_path / "build")
    kinesis, lam = aws.client("kinesis"), aws.client("lambda")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    failures_url, failures_arn = create_queue(aws, "tenant-monitor-dlq")
    function_arn = lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=role_arn(aws), Handler="lambdas.monitor.handler.handler",
        Code={"ZipFile": bundle.path.read_bytes()}, Timeout=30, MemorySize=512,
        Environment={"Variables": {"POWERTOOLS_SERVICE_NAME": "tenantml-monitor", "TENANTML_TENANT": "acme"}},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{FUNCTION}"},
    )["FunctionArn"]
    lam.create_event_source_mapping(
        FunctionName=function_arn, EventSourceArn=stream_arn, StartingPosition="LATEST", BatchSize=10,
        MaximumBatchingWindowInSeconds=1, FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    put = kinesis.put_records(StreamName=STREAM, Records=[
        {"Data": _valid_record(), "PartitionKey": "m"},
        {"Data": b"{not json", "PartitionKey": "m"},
    ])
    malformed_seq = put["Records"][1]["SequenceNumber"]
    assert lambda_runtime.wait_idle(30)

    runs = invocation_logs(aws, f"/aws/lambda/{FUNCTION}")
    batch_logs = [json.loads(m) for run in runs for m in run if '"inference log batch"' in m]
    assert [(b["records"], b["malformed"]) for b in batch_logs] == [(1, 1), (0, 1)]  # the retry holds only the bad one
    assert {b["service"] for b in batch_logs} == {"tenantml-monitor"}
    assert {b["function_name"] for b in batch_logs} == {FUNCTION}
    (first, retry) = lambda_runtime.history(FUNCTION)
    assert first.json() == {"batchItemFailures": [{"itemIdentifier": malformed_seq}]}
    assert retry.json() == {"batchItemFailures": [{"itemIdentifier": malformed_seq}]}
    (message,) = drain_queue(aws, failures_url)
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (malformed_seq, malformed_seq, 1)
