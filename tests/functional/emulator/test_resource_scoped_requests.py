"""Logs, Lambda and ECR requests are checked on their resource's ARN, not on the action alone.

moto 5.2.5 hands its IAM check ``"*"`` for these services, so a role scoped to one tenant's log
groups, functions or repository was allowed on every other's; the emulator names the resource.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, AwsSession

REGION = "eu-west-1"
ACCOUNT = EMULATOR_ACCOUNT_ID


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    previous = iam_enforcement.set_enforced(True)
    try:
        iam_enforcement.ensure_admin(ACCOUNT)
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _as_role(admin: AwsSession, name: str, statements: list[dict], service: str):
    """A client of ``service`` signing as a new role holding ``statements``."""
    iam = admin.client("iam")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="grants",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    creds = iam_enforcement.role_credentials(arn, name, REGION)
    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(service, endpoint_url=admin.endpoint)


def _denied(call, action: str, resource: str) -> None:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert f"perform: {action} on resource: {resource} because" in error["Message"]


def test_a_role_scoped_to_its_log_groups_is_denied_another_tenants(enforced: AwsSession) -> None:
    # given two tenants' Lambda log groups and a role that may write churn's only (the boundary's pattern)
    logs = enforced.client("logs", REGION)
    for tenant in ("churn", "fraud"):
        logs.create_log_group(logGroupName=f"/aws/lambda/{tenant}-dev-monitor")
    grant = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/churn-dev-*",
    }
    as_role = _as_role(enforced, "churn-monitor", [grant], "logs")
    event = [{"timestamp": 1_700_000_000_000, "message": "hi"}]

    # when it writes to both, then its own group is written
    as_role.create_log_stream(logGroupName="/aws/lambda/churn-dev-monitor", logStreamName="s")
    as_role.put_log_events(logGroupName="/aws/lambda/churn-dev-monitor", logStreamName="s", logEvents=event)

    # and the other tenant's is denied on the log stream's ARN
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fraud-dev-monitor:log-stream:s"
    _denied(
        lambda: as_role.create_log_stream(logGroupName="/aws/lambda/fraud-dev-monitor", logStreamName="s"),
        "logs:CreateLogStream",
        stream,
    )


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_role_scoped_to_its_functions_is_denied_another_tenants(enforced: AwsSession) -> None:
    # given two tenants' functions and a role that may read churn's only
    iam = enforced.client("iam")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    execution = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam = enforced.client("lambda", REGION)
    for tenant in ("churn", "fraud"):
        lam.create_function(
            FunctionName=f"{tenant}-dev-alarm",
            Runtime="python3.12",
            Role=execution,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
        )
    grant = {
        "Effect": "Allow",
        "Action": "lambda:GetFunctionConfiguration",
        "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:churn-dev-*",
    }
    as_role = _as_role(enforced, "churn-deployer", [grant], "lambda")

    # when it reads both, then its own is read and the other tenant's is denied on the function's ARN
    assert (
        as_role.get_function_configuration(FunctionName="churn-dev-alarm")["FunctionName"]
        == "churn-dev-alarm"
    )
    _denied(
        lambda: as_role.get_function_configuration(FunctionName="fraud-dev-alarm"),
        "lambda:GetFunctionConfiguration",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fraud-dev-alarm",
    )


def test_a_role_scoped_to_its_repository_is_denied_another_tenants(enforced: AwsSession) -> None:
    # given two tenants' image repositories and a role that may pull from churn's only
    ecr = enforced.client("ecr", REGION)
    for tenant in ("churn", "fraud"):
        ecr.create_repository(repositoryName=f"{tenant}-dev-serving")
    grant = {
        "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/churn-dev-*",
    }
    as_role = _as_role(enforced, "churn-serving", [grant], "ecr")
    image = [{"imageTag": "latest"}]

    # when it pulls from both, then its own answers (no such image yet) and the other tenant's is denied
    assert as_role.batch_get_image(repositoryName="churn-dev-serving", imageIds=image)["images"] == []
    _denied(
        lambda: as_role.batch_get_image(repositoryName="fraud-dev-serving", imageIds=image),
        "ecr:BatchGetImage",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/fraud-dev-serving",
    )
