"""churn's training pipeline end to end in the emulator, as `up` runs it: the synthesized stack applied with
IAM enforced, the image pushed, the sample dropped under ``incoming/``; the data-arrival function starts
an execution of the state machine, whose steps run as real SageMaker jobs (as the job role, with logs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wait_support import wait_until

from core.spec import load_specs
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHAMPION
from pipelines.runs.execution_input import run_id_for_data
from tenantml.emulator import commands, iam_enforcement, jobs
from tenantml.emulator.images import push_local_image
from tenantml.emulator.session import AwsSession
from tenantml.executions import execution_arn, follow_execution, run_outcome
from tenantml.sample_data import SAMPLE_KEY, upload_sample_dataset
from tenantml.synthesis import synth

ROOT = Path(__file__).resolve().parents[3]
#: the pipeline's jobs run the sample's search; generous for a loaded 2-core machine
RUN_TIMEOUT_S = 600


@pytest.fixture
def churn(aws: AwsSession, emulator, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """churn applied with IAM enforced, its image pushed, functions and jobs running as in `up`."""
    from tenantml.emulator.runtime import install, uninstall

    spec = next(s for s in load_specs(ROOT / "tenants") if s.name == "churn")
    previous = iam_enforcement.set_enforced(True)
    runtime = install(aws.endpoint, spec.region, code_cache_dir=tmp_path / "code")
    runner = None
    try:
        out = tmp_path / "out"
        synth([spec], out)
        [applied] = commands.apply_tenants(out, ["churn"], tmp_path / "state", aws)
        admin = aws.for_account(spec.account_id)
        push_local_image(
            admin.client("ecr", spec.region), applied.outputs["image_repository_name"], spec.image_tag
        )
        runner = jobs.install(aws.endpoint)
        sns, sqs = admin.client("sns", spec.region), admin.client("sqs", spec.region)
        queue = sqs.create_queue(QueueName="churn-alerts-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=applied.outputs["alerts_topic_arn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        yield {
            "spec": spec,
            "outputs": applied.outputs,
            "admin": admin,
            "runtime": runtime,
            "queue": queue,
            "client": lambda service: admin.client(service, spec.region),
        }
    finally:
        if runner is not None:
            jobs.uninstall(timeout=10)
        uninstall(timeout=10)
        iam_enforcement.set_enforced(previous)


def _drop_sample(churn: dict[str, Any]) -> tuple[str, str]:
    """The sample under incoming/, as a team drops it; the run id its version gives."""
    s3, bucket = churn["client"]("s3"), churn["outputs"]["data_bucket_name"]
    upload_sample_dataset(s3, bucket)
    version = s3.head_object(Bucket=bucket, Key=SAMPLE_KEY)["VersionId"]
    return run_id_for_data(bucket, SAMPLE_KEY, version), version


def _execution_arn(churn: dict[str, Any], run_id: str) -> str:
    return execution_arn(churn["outputs"]["pipeline_state_machine_arn"], run_id)


def _finished(churn: dict[str, Any], run_id: str, states: list[str] | None = None) -> dict[str, Any]:
    """Followed as `up` follows it (each state it enters reported once)."""
    return follow_execution(
        churn["client"]("stepfunctions"),
        execution_arn(churn["outputs"]["pipeline_state_machine_arn"], run_id),
        timeout=RUN_TIMEOUT_S,
        on_state=(states.append if states is not None else None),
    )


def _started(churn: dict[str, Any], run_id: str) -> None:
    sfn = churn["client"]("stepfunctions")

    def exists() -> bool:
        try:
            sfn.describe_execution(executionArn=_execution_arn(churn, run_id))
        except sfn.exceptions.ExecutionDoesNotExist:
            return False
        return True

    wait_until(exists, timeout=120, message=f"the data-arrival function started {run_id}")


def _jobs_by_step(sagemaker: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for summary in sagemaker.list_processing_jobs()["ProcessingJobSummaries"]:
        job = sagemaker.describe_processing_job(ProcessingJobName=summary["ProcessingJobName"])
        found.setdefault(job["AppSpecification"]["ContainerArguments"][0], []).append(job)
    for summary in sagemaker.list_training_jobs()["TrainingJobSummaries"]:
        job = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        found.setdefault("train", []).append(job)
    return found


def _run_record(churn: dict[str, Any], run_id: str) -> dict[str, Any]:
    body = churn["client"]("s3").get_object(
        Bucket=churn["outputs"]["artifacts_bucket_name"], Key=f"runs/{run_id}/run.json"
    )["Body"]
    return json.loads(body.read())


def _alerts(churn: dict[str, Any]) -> list[str]:
    sqs, bodies = churn["client"]("sqs"), []
    while batch := sqs.receive_message(
        QueueUrl=churn["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages"):
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=churn["queue"], ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_a_dropped_file_runs_the_state_machine_whose_jobs_register_a_version_naming_the_tenant_image(
    churn: dict[str, Any],
) -> None:
    spec, outputs, client = churn["spec"], churn["outputs"], churn["client"]
    # when: the sample lands under incoming/
    run_id, version_id = _drop_sample(churn)
    _started(churn, run_id)
    states: list[str] = []
    execution = _finished(churn, run_id, states)

    # then: the execution succeeded through every step, each a real job that completed as the job role
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    # the job steps last long enough to be seen by the follower's polls (Notify may pass between two)
    steps = ["Prepare", "Train", "Evaluate", "Register"]
    assert [s for s in states if s in steps] == steps, states
    outcome = run_outcome(client("s3"), outputs["artifacts_bucket_name"], run_id, execution)
    assert outcome["status"] == "succeeded" and outcome["alias"] == "champion", outcome
    sagemaker, logs = client("sagemaker"), client("logs")
    by_step = _jobs_by_step(sagemaker)
    assert {step: len(found) for step, found in by_step.items()} == {
        "prepare": 1,
        "train": 1,
        "evaluate": 1,
        "register": 1,
    }
    image = f"{spec.account_id}.dkr.ecr.{spec.region}.amazonaws.com/{outputs['image_repository_name']}:1.0.0"
    for step, [job] in by_step.items():
        status = job.get("TrainingJobStatus") or job.get("ProcessingJobStatus")
        assert status == "Completed", (step, job.get("FailureReason"))
        assert job["RoleArn"] == outputs["training_role_arn"]
        name = job.get("TrainingJobName") or job.get("ProcessingJobName")
        group = "/aws/sagemaker/TrainingJobs" if step == "train" else "/aws/sagemaker/ProcessingJobs"
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
        assert streams, f"{step}: no log stream for {name}"
    assert by_step["train"][0]["AlgorithmSpecification"]["TrainingImage"] == image

    # then: a registered champion naming the tenant's image, its sha256 that of the models bucket object
    record = _run_record(churn, run_id)
    assert record["status"] == "succeeded" and record["data_version_id"] == version_id
    registry = open_registry(sagemaker, outputs["model_package_group_name"])
    version = registry.get_version_by_alias(CHAMPION)
    assert version.version == record["model_version"] and version.image_uri == image
    bucket, key = version.model_data_url.removeprefix("s3://").split("/", 1)
    assert bucket == outputs["models_bucket_name"]
    stored = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == version.lineage.artifact_sha256
    # Notify's one message: the run finished
    assert [run_id in body and "finished" in body for body in _alerts(churn)] == [True]

    # when: S3 redelivers the event
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "awsRegion": spec.region,
                "s3": {
                    "bucket": {"name": outputs["data_bucket_name"]},
                    "object": {"key": SAMPLE_KEY, "versionId": version_id, "size": 1, "eTag": "x"},
                },
            }
        ]
    }
    answer = client("lambda").invoke(
        FunctionName=outputs["data_arrival_function_name"], Payload=json.dumps(event).encode()
    )
    # then: the same run id, a duplicate: no second execution
    assert json.loads(answer["Payload"].read())["runs"][0]["outcome"] == "duplicate"
    executions = client("stepfunctions").list_executions(
        stateMachineArn=outputs["pipeline_state_machine_arn"]
    )
    assert [e["name"] for e in executions["executions"]] == [run_id]


def test_a_training_job_stopped_mid_run_fails_the_run_through_the_failure_path_with_one_alert(
    churn: dict[str, Any],
) -> None:
    client = churn["client"]
    run_id, _ = _drop_sample(churn)
    _started(churn, run_id)
    sagemaker = client("sagemaker")

    # when: the training job is stopped while it runs
    def training_job() -> str | None:
        for summary in sagemaker.list_training_jobs()["TrainingJobSummaries"]:
            if summary["TrainingJobStatus"] == "InProgress":
                return summary["TrainingJobName"]
        return None

    job = wait_until(training_job, timeout=RUN_TIMEOUT_S, message="the Train step's job is running")
    sagemaker.stop_training_job(TrainingJobName=job)
    execution = _finished(churn, run_id)
    outcome = run_outcome(client("s3"), churn["outputs"]["artifacts_bucket_name"], run_id, execution)
    assert outcome["status"] == "failed" and outcome["failed_state"] == "Train", outcome

    # then: the execution failed down the failure path, once: no retry of a job that ended on its own
    assert execution["status"] == "FAILED" and execution["error"] == "tenantml.PipelineRunFailed"
    assert len(sagemaker.list_training_jobs()["TrainingJobSummaries"]) == 1
    record = _run_record(churn, run_id)
    assert record["status"] == "failed" and record["failed_step"] == "train"
    assert record["failed_state"] == "Train" and job in record["error"] and "Stopped" in record["error"]
    cleanup = _jobs_by_step(sagemaker)["cleanup"]
    assert [j["ProcessingJobStatus"] for j in cleanup] == ["Completed"]
    # exactly one message reaches a subscriber of the alerts topic
    alerts = _alerts(churn)
    assert len(alerts) == 1, alerts
    assert run_id in alerts[0] and "failed in step Train" in alerts[0]
