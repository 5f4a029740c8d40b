"""The project's own packaged handler (lambdas/monitor) runs from its real zip behind a Kinesis mapping:
a batch of inference logs starts the monitoring processing job."""

from __future__ import annotations

import json
import time

from runtime_support import create_queue, drain_queue, invocation_logs, publish_handler_layer, role_arn

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


def test_given_the_monitor_zip_behind_a_kinesis_mapping_when_records_arrive_then_the_monitoring_job_starts(
    aws, lambda_runtime, tmp_path
):
    bundle = build_lambda_bundle("monitor", tmp_path / "build")
    kinesis, lam = aws.client("kinesis"), aws.client("lambda")
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
        # its package: the zip and the layer the stack attaches (the runtime adds boto3 only)
        Layers=[publish_handler_layer(aws, tmp_path, "monitor")],
        Timeout=30,
        MemorySize=512,
        Environment={
            "Variables": {
                "POWERTOOLS_SERVICE_NAME": "tenantml-monitor",
                "TENANTML_TENANT": "acme",
                "TENANTML_ARTIFACTS_BUCKET": "acme-artifacts",
                "TENANTML_MODEL_SPEC": model_spec,
                "TENANTML_MODEL_PACKAGE_GROUP": "acme-churn",
                "TENANTML_NAME_PREFIX": "tenantml-acme-dev",
                "TENANTML_STREAM_NAME": STREAM,
                "TENANTML_IMAGE_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-acme-dev-images:v1",
                "TENANTML_MONITORING_ROLE_ARN": role_arn(aws),
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

    # then one invocation of the real handler started one monitoring job (the records only signal
    # traffic: the job reads the stream from its checkpoints) and reported no failed record
    runs = invocation_logs(aws, f"/aws/lambda/{FUNCTION}")
    started = [json.loads(m) for run in runs for m in run if "monitoring job" in m and "started" in m]
    assert len(started) == 1 and started[0]["records"] == 2
    assert {b["function_name"] for b in started} == {FUNCTION}
    (only,) = lambda_runtime.history(FUNCTION)
    assert only.json()["batchItemFailures"] == [] and only.json()["outcome"] == "started"
    jobs = aws.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert [j["ProcessingJobName"] for j in jobs] == [only.json()["job"]]
    assert drain_queue(aws, failures_url) == []
