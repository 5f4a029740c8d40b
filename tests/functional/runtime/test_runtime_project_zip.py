"""The project's own packaged handler (lambdas/monitor) runs from its real zip behind a Kinesis mapping."""

from __future__ import annotations

import json
import time

from runtime_support import create_queue, drain_queue, invocation_logs, role_arn

from infra.assets import build_lambda_bundle

STREAM = "tenant-inference-log"
FUNCTION = "tenant-monitor"


def _valid_record() -> bytes:
    return json.dumps(
        {
            "request_id": "req-1",
            "model_version": "3",
            "features": {"age": 41, "plan": "pro"},
            "prediction": 0.87,
            "latency_ms": 12.5,
            "timestamp": time.time(),
        }
    ).encode()


def test_given_the_monitor_zip_behind_a_kinesis_mapping_when_a_malformed_record_arrives_then_it_is_counted_not_retried(
    aws, lambda_runtime, tmp_path
):
    bundle = build_lambda_bundle("monitor", tmp_path / "build")
    kinesis, lam = aws.client("kinesis"), aws.client("lambda")
    aws.client("s3").create_bucket(
        Bucket="acme-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    failures_url, failures_arn = create_queue(aws, "tenant-monitor-dlq")
    model_spec = json.dumps(
        {
            "name": "churn",
            "problem": "classification",
            "target": "target",
            "primary_metric": "roc_auc",
            "minimum_metric": 0.8,
        }
    )
    function_arn = lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role_arn(aws),
        Handler="lambdas.monitor.handler.handler",
        Code={"ZipFile": bundle.path.read_bytes()},
        Timeout=30,
        MemorySize=512,
        Environment={
            "Variables": {
                "POWERTOOLS_SERVICE_NAME": "tenantml-monitor",
                "TENANTML_TENANT": "acme",
                "TENANTML_ARTIFACTS_BUCKET": "acme-artifacts",
                "TENANTML_MODEL_SPEC": model_spec,
                "TENANTML_MODEL_PACKAGE_GROUP": "acme-churn",
            }
        },
        LoggingConfig={"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{FUNCTION}"},
    )["FunctionArn"]
    lam.create_event_source_mapping(
        FunctionName=function_arn,
        EventSourceArn=stream_arn,
        StartingPosition="LATEST",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    kinesis.put_records(
        StreamName=STREAM,
        Records=[
            {"Data": _valid_record(), "PartitionKey": "m"},
            {"Data": b"{not json", "PartitionKey": "m"},
        ],
    )
    assert lambda_runtime.wait_idle(30)

    # then one invocation of the real handler saw both records: the malformed one is counted and
    # skipped (a retry could never parse it), the valid one has no training baseline to compare with
    runs = invocation_logs(aws, f"/aws/lambda/{FUNCTION}")
    batch_logs = [json.loads(m) for run in runs for m in run if '"inference log batch"' in m]
    assert [(b["received"], b["malformed"], b["unmonitored"]) for b in batch_logs] == [(2, 1, 1)]
    assert {b["function_name"] for b in batch_logs} == {FUNCTION}
    (only,) = lambda_runtime.history(FUNCTION)
    assert only.json() == {"batchItemFailures": []}
    assert drain_queue(aws, failures_url) == []
