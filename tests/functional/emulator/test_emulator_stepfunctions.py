"""State machines in the emulator: moto's interpreter, the SageMaker integration, calls signed as the machine's role."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_emulator_jobs import (
    BUCKET,
    CLUSTER,
    JOB_ACTIONS,
    REGION,
    _parquet,
    _role,
    _training_job,
)
from wait_support import wait_until

from tenantml.emulator import iam_enforcement, jobs
from tenantml.emulator.images import push_local_image
from tenantml.emulator.session import AwsSession
from tenantml.emulator.stepfunctions import JOB_FAILED_ERROR, SAGEMAKER_ERROR

REPOSITORY = "tenantml-sfn-test"


@pytest.fixture
def world(aws: AwsSession) -> Iterator[dict[str, str]]:
    runner = jobs.install(aws.endpoint, max_concurrent=2)
    try:
        aws.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        ecr = aws.client("ecr")
        uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
        push_local_image(ecr, REPOSITORY, "1.0.0")
        sns, sqs = aws.client("sns"), aws.client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        yield {"image": f"{uri}:1.0.0", "topic": topic, "queue": queue}
        runner.wait_idle(30)
    finally:
        jobs.uninstall(timeout=10)


def _machine(aws: AwsSession, name: str, definition: dict, role: str) -> str:
    sfn = aws.client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]


def _run(aws: AwsSession, machine: str, name: str, payload: dict) -> dict:
    sfn = aws.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    return wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=120,
        interval=0.2,
        message=f"execution {name} never ended",
    )


def _alert_step(topic: str) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": topic, "Message.$": "$.error"},
        "Next": "Failed",
    }


def test_a_training_job_sync_task_then_a_publish_succeeds(aws: AwsSession, world: dict[str, str]) -> None:
    # given: a machine whose role may start jobs, pass the job role and publish
    aws.client("s3").put_object(Bucket=BUCKET, Key="data/train/part-0.parquet", Body=_parquet())
    job_role = _role(aws, "sfn-job-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    machine_role = _role(
        aws, "sfn-role", "states.amazonaws.com", ["sagemaker:*", "iam:PassRole", "sns:Publish"]
    )
    train = _training_job("placeholder", world["image"], job_role)
    del train["TrainingJobName"]
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {**train, "TrainingJobName.$": "$.job"},
                "ResultPath": "$.training",
                "Next": "Notify",
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": world["topic"],
                    "Message.$": "$.training.ModelArtifacts.S3ModelArtifacts",
                },
                "End": True,
            },
        },
    }
    machine = _machine(aws, "train-and-notify", definition, machine_role)

    # when
    execution = _run(aws, machine, "run-1", {"job": "sfn-train-1"})

    # then: the job really ran (its model is where the task's output says) and the message went out
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    artifact = f"s3://{BUCKET}/jobs/sfn-train-1/output/model.tar.gz"
    assert aws.client("s3").head_object(Bucket=BUCKET, Key="jobs/sfn-train-1/output/model.tar.gz")
    messages = aws.client("sqs").receive_message(QueueUrl=world["queue"], WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in messages] == [artifact]


def test_a_failed_job_fails_the_state_and_a_catch_publishes_the_error(
    aws: AwsSession, world: dict[str, str]
) -> None:
    job_role = _role(aws, "sfn-job-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    machine_role = _role(
        aws, "sfn-role", "states.amazonaws.com", ["sagemaker:*", "iam:PassRole", "sns:Publish"]
    )
    definition = {
        "StartAt": "Process",
        "States": {
            "Process": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
                "Parameters": {
                    "ProcessingJobName.$": "$.job",
                    "RoleArn": job_role,
                    "AppSpecification": {
                        "ImageUri": world["image"],
                        "ContainerArguments": ["no-such-command"],
                    },
                    "ProcessingResources": CLUSTER,
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}],
                "End": True,
            },
            "Alert": _alert_step(world["topic"]),
            "Failed": {"Type": "Fail", "Error": "PipelineFailed", "Cause": "a step failed"},
        },
    }
    machine = _machine(aws, "process-or-alert", definition, machine_role)

    execution = _run(aws, machine, "run-2", {"job": "sfn-process-1"})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "PipelineFailed"
    messages = aws.client("sqs").receive_message(QueueUrl=world["queue"], WaitTimeSeconds=5)["Messages"]
    alert = json.loads(messages[0]["Body"])
    # as on AWS: a job that ended Failed is States.TaskFailed (not the API error a Retry treats as
    # transient), and the cause is the job's description
    assert alert["Error"] == JOB_FAILED_ERROR
    job = json.loads(alert["Cause"])
    assert job["ProcessingJobName"] == "sfn-process-1" and job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError:") and "exit code 2" in job["FailureReason"]


def test_a_machine_whose_role_may_not_create_training_jobs_fails_with_access_denied(
    aws: AwsSession, world: dict[str, str]
) -> None:
    job_role = _role(aws, "sfn-job-role", "sagemaker.amazonaws.com", JOB_ACTIONS)
    machine_role = _role(aws, "sfn-weak-role", "states.amazonaws.com", ["sns:Publish"])
    train = _training_job("placeholder", world["image"], job_role)
    del train["TrainingJobName"]
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {**train, "TrainingJobName.$": "$.job"},
                "End": True,
            }
        },
    }
    machine = _machine(aws, "weak", definition, machine_role)
    previous = iam_enforcement.set_enforced(True)
    try:
        execution = _run(aws, machine, "run-3", {"job": "sfn-denied-1"})
    finally:
        iam_enforcement.set_enforced(previous)

    assert execution["status"] == "FAILED"
    assert execution["error"] == SAGEMAKER_ERROR
    assert "Error Code: AccessDeniedException" in execution["cause"]
    assert "sagemaker:CreateTrainingJob" in execution["cause"]
    assert "role/sfn-weak-role" in execution["cause"]  # signed as the machine's role, not moto's fake keys
    jobs_listed = aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    assert not jobs_listed
