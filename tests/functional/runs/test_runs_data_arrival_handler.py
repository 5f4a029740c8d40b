"""The slim data-arrival Lambda handler, called directly under moto with the stack's environment:
it starts one execution of the pipeline state machine per dataset object version."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest
from runs_support import REGION, load_event
from wait_support import wait_until

from core.errors import TenantResourcesError
from lambdas.data_arrival import handler as arrival
from pipelines.runs.execution_input import run_id_for_data

KEY = "incoming/daily export.parquet"  # the sample event carries it URL-encoded: daily+export.parquet
# a machine that stays RUNNING until stopped, whether or not this process's moto executes machines
# (the in-process emulator turns that on process-wide)
WAIT = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}})


@dataclass
class LambdaContext:
    function_name: str = "tenantml-acme-dev-data-arrival"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:123456789012:function:tenantml-acme-dev-data-arrival"
    )
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def machine(aws, boto_session) -> str:
    sfn = boto_session.client("stepfunctions")
    return sfn.create_state_machine(
        name="tenantml-acme-dev-pipeline",
        definition=WAIT,
        roleArn="arn:aws:iam::123456789012:role/tenantml-acme-dev-pipeline-role",
    )["stateMachineArn"]


@pytest.fixture
def lambda_env(monkeypatch, resources, spec, machine):
    """The variables the tenant stack sets on the data-arrival function."""
    for name, value in {
        **resources.to_env(),
        "TENANTML_TENANT": "acme",
        "TENANTML_MODEL_SPEC": spec.model_dump_json(),
        "TENANTML_PIPELINE_STATE_MACHINE_ARN": machine,
        "POWERTOOLS_SERVICE_NAME": "tenantml-data-arrival",
    }.items():
        monkeypatch.setenv(name, value)
    # the handler keeps its client for warm invocations; each test starts cold, inside its own mock
    monkeypatch.setattr(arrival, "_clients", {})


def _event_for(s3, bucket: str, key: str = KEY) -> tuple[dict, str]:
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    event = copy.deepcopy(load_event("s3_object_created.json"))
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["object"].update(versionId=put["VersionId"], eTag=put["ETag"].strip('"'), size=8)
    if key != KEY:
        record["object"]["key"] = key
    return event, put["VersionId"]


def test_one_execution_per_object_version_however_often_the_event_arrives(
    clients, resources, lambda_env, machine, boto_session
):
    # given the sample event for a new object version
    event, version = _event_for(clients.s3, resources.data_bucket)
    run_id = run_id_for_data(resources.data_bucket, KEY, version)

    # when it is delivered twice while the execution runs, and again once it has ended
    first = arrival.handler(event, LambdaContext())
    second = arrival.handler(event, LambdaContext())
    sfn = boto_session.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    sfn.stop_execution(executionArn=executions[0]["executionArn"])
    # (a stop takes effect asynchronously when this process's moto executes machines)
    wait_until(
        lambda: sfn.describe_execution(executionArn=executions[0]["executionArn"])["status"] != "RUNNING",
        timeout=30,
        message="the execution stopped",
    )
    third = arrival.handler(event, LambdaContext())

    # then one execution, named by the run id, with the contract's input: Step Functions answers a
    # redelivery of the same input to a running execution with that execution (as on AWS), and
    # one to an ended execution with ExecutionAlreadyExists, which the handler skips as a duplicate
    assert [r["outcome"] for r in first["runs"]] == ["started"]
    assert [r["outcome"] for r in second["runs"]] == ["started"]
    assert [r["outcome"] for r in third["runs"]] == ["duplicate"]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["name"] for e in executions] == [run_id]
    body = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert body == {
        "run_id": run_id,
        "tenant": "acme",
        "model": "cancer",
        "trigger": "data-arrival",
        "data": {"bucket": resources.data_bucket, "key": KEY, "version_id": version},
        "cause": None,
    }


def test_objects_that_are_not_datasets_start_nothing(clients, resources, lambda_env, machine, boto_session):
    event, _ = _event_for(clients.s3, resources.data_bucket, "incoming/readme.txt")
    assert arrival.handler(event, LambdaContext()) == {"runs": [], "feature_jobs": []}
    assert boto_session.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_a_missing_state_machine_variable_is_named(clients, resources, lambda_env, monkeypatch):
    monkeypatch.delenv("TENANTML_PIPELINE_STATE_MACHINE_ARN")
    event, _ = _event_for(clients.s3, resources.data_bucket)
    with pytest.raises(TenantResourcesError, match="TENANTML_PIPELINE_STATE_MACHINE_ARN"):
        arrival.handler(event, LambdaContext())
