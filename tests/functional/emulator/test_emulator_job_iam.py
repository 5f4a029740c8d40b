"""Creating a SageMaker job under IAM enforcement: iam:PassRole on the job's role, and the job's ARN as the resource."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import AwsSession

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-demo-dev-images:1.0.0"


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _role(aws: AwsSession, name: str, statements: list[dict], boundary: list[dict] | None = None) -> str:
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    kwargs: dict = {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust)}
    if boundary is not None:
        document = json.dumps({"Version": "2012-10-17", "Statement": boundary})
        kwargs["PermissionsBoundary"] = iam.create_policy(
            PolicyName=f"{name}-boundary", PolicyDocument=document
        )["Policy"]["Arn"]
    arn = iam.create_role(**kwargs)["Role"]["Arn"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=policy)
    return arn


def _sagemaker_as(aws: AwsSession, role_arn: str) -> object:
    credentials = iam_enforcement.role_credentials(role_arn, "caller", REGION)
    return boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def _training(name: str, role: str) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": role,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://tenantml-demo-dev-artifacts/jobs"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def _processing(name: str, role: str) -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
    }


def _job_role(aws: AwsSession) -> str:
    return _role(aws, "tenantml-demo-dev-training", [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])


def _denied(call: object, **request: object) -> str:
    with pytest.raises(ClientError) as denied:
        call(**request)  # type: ignore[operator]
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    return denied.value.response["Error"]["Message"]


def test_a_caller_without_pass_role_on_the_job_role_cannot_create_either_kind_of_job(
    enforced: AwsSession,
) -> None:
    aws = enforced
    job_role = _job_role(aws)
    caller = _role(
        aws,
        "tenantml-demo-dev-states",
        [
            {
                "Effect": "Allow",
                "Action": ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"],
                "Resource": "*",
            }
        ],
    )
    sagemaker = _sagemaker_as(aws, caller)

    training = _denied(sagemaker.create_training_job, **_training("tenantml-demo-dev-train-1", job_role))
    processing = _denied(sagemaker.create_processing_job, **_processing("tenantml-demo-dev-prep-1", job_role))

    for message in (training, processing):
        assert f"is not authorized to perform: iam:PassRole on resource: {job_role}" in message
        assert "role/tenantml-demo-dev-states" in message
    admin = aws.client("sagemaker")
    assert admin.list_training_jobs()["TrainingJobSummaries"] == []
    assert admin.list_processing_jobs()["ProcessingJobSummaries"] == []


def test_pass_role_is_granted_only_when_passed_to_sagemaker(enforced: AwsSession) -> None:
    aws = enforced
    job_role = _job_role(aws)
    create = {"Effect": "Allow", "Action": "sagemaker:CreateTrainingJob", "Resource": "*"}
    to_lambda = _role(
        aws,
        "tenantml-demo-dev-to-lambda",
        [
            create,
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": job_role,
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
        ],
    )
    to_sagemaker = _role(
        aws,
        "tenantml-demo-dev-to-sagemaker",
        [
            create,
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": job_role,
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
    )

    message = _denied(
        _sagemaker_as(aws, to_lambda).create_training_job, **_training("tenantml-demo-dev-train-2", job_role)
    )
    created = _sagemaker_as(aws, to_sagemaker).create_training_job(
        **_training("tenantml-demo-dev-train-3", job_role)
    )

    assert "iam:PassRole" in message
    assert created["TrainingJobArn"].endswith(":training-job/tenantml-demo-dev-train-3")


def test_a_boundary_scoped_to_job_name_patterns_denies_other_names(enforced: AwsSession) -> None:
    aws = enforced
    job_role = _job_role(aws)
    account = aws.account_id
    patterns = [
        f"arn:aws:sagemaker:{REGION}:{account}:training-job/tenantml-demo-dev-*",
        f"arn:aws:sagemaker:{REGION}:{account}:processing-job/tenantml-demo-dev-*",
    ]
    grants = [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": job_role},
    ]
    boundary = [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"],
            "Resource": patterns,
        },
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": job_role},
    ]
    sagemaker = _sagemaker_as(aws, _role(aws, "tenantml-demo-dev-bounded", grants, boundary))

    outside_training = _denied(
        sagemaker.create_training_job, **_training("tenantml-other-dev-train-1", job_role)
    )
    outside_processing = _denied(
        sagemaker.create_processing_job, **_processing("tenantml-other-dev-prep-1", job_role)
    )
    inside_training = sagemaker.create_training_job(**_training("tenantml-demo-dev-train-4", job_role))
    inside_processing = sagemaker.create_processing_job(**_processing("tenantml-demo-dev-prep-4", job_role))

    assert (
        f"sagemaker:CreateTrainingJob on resource: arn:aws:sagemaker:{REGION}:{account}:"
        "training-job/tenantml-other-dev-train-1" in outside_training
    )
    assert "processing-job/tenantml-other-dev-prep-1" in outside_processing
    assert inside_training["TrainingJobArn"].endswith("training-job/tenantml-demo-dev-train-4")
    assert inside_processing["ProcessingJobArn"].endswith("processing-job/tenantml-demo-dev-prep-4")
