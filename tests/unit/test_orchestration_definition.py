"""The pipeline's state machine definition: accepted by moto's ASL parser, every Task guarded
(Retry, Catch-all, TimeoutSeconds), every job bounded, job names valid for the longest tenant, and
the failure path publishing one alert (run through moto's interpreter)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from wait_support import wait_until

from core.errors import ConstructPropsError
from core.naming import Naming
from core.spec import TENANT_NAME_RE, Environment
from infra.orchestration_definition import (
    DECISIONS,
    JOB_NAME_MAX,
    JOB_NAME_PATTERN,
    STEP_COMMANDS,
    PipelineDefinitionProps,
    job_name_expression,
    pipeline_definition,
    pipeline_definition_json,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tenantml-acme-dev-pipeline"
SFN_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
#: the longest tenant name the spec allows (20 characters) in the longest environment
LONGEST = Naming(tenant="a" + "b" * 18 + "c", environment=Environment.STAGING.value, region=REGION)


def _props(prefix: str = "tenantml-acme-dev", **overrides: Any) -> PipelineDefinitionProps:
    fields: dict[str, Any] = {
        "prefix": prefix,
        "tenant": "acme",
        "model_name": "churn",
        "image_uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tenantml-acme-dev-images:2026.12.1",
        "job_role_arn": f"arn:aws:iam::{ACCOUNT}:role/tenantml-acme-dev-training",
        "artifacts_bucket": "tenantml-acme-dev-artifacts",
        "models_bucket": "tenantml-acme-dev-models",
        "kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234",
        "alerts_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:tenantml-acme-dev-alerts",
        "model_package_group": "tenantml-acme-dev-churn",
        "hyperparameters": {"model_name": "churn", "timeout_seconds": "600"},
        "search_timeout_seconds": 600,
    }
    fields.update(overrides)
    return PipelineDefinitionProps(**fields)


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}


def _run(client: Any, definition: dict[str, Any] | str, execution_input: dict[str, Any], name: str) -> dict:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    arn = client.create_state_machine(name=name, definition=text, roleArn=ROLE)["stateMachineArn"]
    execution = client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))
    return wait_until(
        lambda: (
            (d := client.describe_execution(executionArn=execution["executionArn"]))["status"] != "RUNNING"
            and d
        ),
        timeout=60,
        message="execution finished",
    )


def test_moto_parser_accepts_the_definition() -> None:
    with mock_aws(config=SFN_CONFIG):
        client = boto3.client("stepfunctions", region_name=REGION)
        arn = client.create_state_machine(
            name="tenantml-acme-dev-pipeline", definition=pipeline_definition_json(_props()), roleArn=ROLE
        )["stateMachineArn"]
        assert (
            json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])["StartAt"]
            == "Configure"
        )
        # the parser is real: a malformed document is refused
        with pytest.raises(ClientError, match="ASLParserException"):
            client.create_state_machine(
                name="broken", definition='{"StartAt": "X", "States": {}', roleArn=ROLE
            )


def test_every_transition_names_a_state_and_every_state_is_reachable() -> None:
    states = pipeline_definition(_props())["States"]
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        targets = {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])}
        assert targets <= states.keys(), f"{name} goes to unknown states {targets - states.keys()}"
        edges[name] = targets
    seen, todo = set(), ["Configure"]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(edges[current])
    assert seen == set(states)
    assert [states[n]["Type"] for n in ("Done", "RunFailed")] == ["Succeed", "Fail"]


def test_every_task_retries_times_out_and_catches_everything() -> None:
    props = _props()
    for name, task in _tasks(pipeline_definition(props)).items():
        assert task["TimeoutSeconds"] > 0, name
        assert task["Retry"] and all(r["BackoffRate"] > 1 and r["MaxAttempts"] >= 1 for r in task["Retry"]), (
            name
        )
        assert all("States.ALL" not in r["ErrorEquals"] for r in task["Retry"]), f"{name} retries everything"
        assert [c["ErrorEquals"] for c in task["Catch"]] == [["States.ALL"]], name
        parameters = task["Parameters"]
        if "sagemaker:" in task["Resource"]:
            assert task["Resource"].endswith(".sync"), name
            runtime = parameters["StoppingCondition"]["MaxRuntimeInSeconds"]
            assert task["TimeoutSeconds"] > runtime, f"{name}: the job's own limit must fire first"
            # every job runs the tenant image, with its command after the image's entry point
            image = parameters.get("AppSpecification", parameters.get("AlgorithmSpecification"))
            assert props.image_uri in (image.get("ImageUri"), image.get("TrainingImage")), name
            assert image["ContainerEntrypoint"] == ["python", "-m", "pipelines.container"]
            assert image["ContainerArguments"][0] in STEP_COMMANDS
            assert parameters["RoleArn"] == props.job_role_arn


def test_training_runtime_is_the_search_budget_plus_a_margin() -> None:
    train = pipeline_definition(_props(search_timeout_seconds=1800))["States"]["Train"]
    runtime = train["Parameters"]["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert 1800 < runtime <= 1800 + 3600
    # the spec's hyperparameters, which Configure puts beside the input (a reproduce run replaces them)
    assert train["Parameters"]["HyperParameters.$"] == "$.settings.hyperparameters"


def test_the_decision_branches_and_an_unknown_one_fails_the_run() -> None:
    states = pipeline_definition(_props())["States"]
    choices = {c["StringEquals"]: c["Next"] for c in states["Decide"]["Choices"]}
    assert choices == {"approved": "Register", "pending": "Register", "rejected": "Notify"}
    assert set(choices) == set(DECISIONS)
    assert states[states["Decide"]["Default"]]["Next"] == "RecordFailure"


def test_job_names_fit_the_boundary_and_sagemaker_for_the_longest_tenant() -> None:
    assert TENANT_NAME_RE.match(LONGEST.tenant) and len(LONGEST.tenant) == 20
    parameters = {f"{step}.$": job_name_expression(LONGEST.prefix, step) for step in STEP_COMMANDS}
    definition = {
        "StartAt": "Names",
        "States": {"Names": {"Type": "Pass", "Parameters": parameters, "End": True}},
    }
    with mock_aws(config=SFN_CONFIG):
        client = boto3.client("stepfunctions", region_name=REGION)
        first, second = (json.loads(_run(client, definition, {}, f"names-{n}")["output"]) for n in range(2))
    assert set(first) == set(STEP_COMMANDS)
    for step, name in first.items():
        assert name.startswith(f"{LONGEST.prefix}-{step}-"), name
        # the boundary's patterns: training-job/<prefix>-* and processing-job/<prefix>-*
        assert JOB_NAME_PATTERN.match(name) and len(name) <= JOB_NAME_MAX, (name, len(name))
    # a retried step (or a re-run) never reuses a job name
    assert not set(first.values()) & set(second.values())


def test_a_prefix_that_would_make_job_names_too_long_is_refused() -> None:
    with pytest.raises(ConstructPropsError) as caught:
        _props(prefix="tenantml-" + "x" * 40)
    assert caught.value.problems[0].location == "prefix"


def test_the_failure_path_records_the_failure_and_publishes_one_alert() -> None:
    """Runs the definition's own RecordFailure and Alert states in moto's interpreter, after a
    failing Start (its bucket does not exist). moto cannot run the SageMaker integration yet (the
    emulator adds it), so only Cleanup, the one job on the path, is replaced by a Pass here."""
    with mock_aws(config=SFN_CONFIG):
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="tenantml-acme-dev-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        # the failure object goes to a bucket that exists; Start writes to one that does not
        s3.create_bucket(Bucket="records", CreateBucketConfiguration={"LocationConstraint": REGION})
        definition = pipeline_definition(_props(alerts_topic_arn=topic, artifacts_bucket="missing-bucket"))
        states = definition["States"]
        states["RecordFailure"]["Parameters"]["Bucket"] = "records"
        states["Cleanup"] = {"Type": "Pass", "ResultPath": None, "Next": states["Cleanup"]["Next"]}
        client = boto3.client("stepfunctions", region_name=REGION)
        run_id = "run-0123456789abcdef"
        execution_input = {
            "run_id": run_id,
            "tenant": "acme",
            "model": "churn",
            "trigger": "data-arrival",
            "data": {"bucket": "tenantml-acme-dev-data", "key": "incoming/a.csv", "version_id": None},
            "cause": None,
        }
        result = _run(client, definition, execution_input, run_id)
        assert result["status"] == "FAILED"
        assert result["error"] == "tenantml.PipelineRunFailed"
        failure = json.loads(
            s3.get_object(Bucket="records", Key=f"runs/{run_id}/failure.json")["Body"].read()
        )
        assert failure["failed_step"] == "Start" and failure["failure"]["Error"]
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        bodies = [m["Body"] for m in messages.get("Messages", [])]
        assert len(bodies) == 1, bodies
        assert run_id in bodies[0] and "failed in step Start" in bodies[0]
        assert failure["failure"]["Error"] in bodies[0]


def test_configure_puts_the_model_spec_beside_the_input_that_start_writes_for_the_jobs() -> None:
    spec = {"name": "churn", "target": "target"}
    definition = pipeline_definition(_props(model_spec=spec, retraining_window_hours=48))
    configure = definition["States"]["Configure"]
    assert definition["StartAt"] == "Configure" and configure["Next"] == "Mode"
    assert definition["States"]["Mode"]["Default"] == "Start"
    assert configure["Result"] == {
        "model_spec": spec,
        "retraining_window_hours": 48,
        "hyperparameters": {"model_name": "churn", "timeout_seconds": "600"},
    }
    assert configure["ResultPath"] == "$.settings"
    assert definition["States"]["Start"]["Parameters"]["Body.$"] == "States.JsonToString($)"


def test_a_job_that_failed_is_not_retried_as_transient_but_an_api_error_is() -> None:
    """AWS: a job ending Failed/Stopped is States.TaskFailed; throttling and other API errors are
    SageMaker.AmazonSageMakerException. Only the latter may be worth another attempt."""
    for name, task in _tasks(pipeline_definition(_props())).items():
        if "sagemaker:" not in task["Resource"]:
            continue
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert retried == {"SageMaker.AmazonSageMakerException"}, name


ARTIFACTS = "tenantml-acme-dev-artifacts"
RECORDED = {"model_name": "churn", "timeout_seconds": "30", "seed": "7"}


def _without_jobs(definition: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """moto cannot run the SageMaker integration, nor hand on getObject's body (the emulator adds
    both): each job becomes a Pass with the same transitions, each getObject a Pass giving what it
    would read (``read``), so the definition's own Choice, Pass and putObject states decide the path."""
    for name, state in definition["States"].items():
        if state["Type"] != "Task" or not (
            "sagemaker:" in state["Resource"] or "getObject" in state["Resource"]
        ):
            continue
        replacement: dict[str, Any] = {"Type": "Pass", "ResultPath": None}
        if "getObject" in state["Resource"]:
            [field] = state["ResultSelector"]
            replacement = {"Type": "Pass", "Result": {field.removesuffix(".$"): read[name]}}
            replacement.update({k: state[k] for k in ("ResultPath", "OutputPath") if k in state})
        replacement.update({k: state[k] for k in ("Next", "End") if k in state})
        definition["States"][name] = replacement
    return definition


def _execution_input(run_id: str, trigger: str) -> dict[str, Any]:
    from pipelines.runs.execution_input import pipeline_input

    reproduce = None
    if trigger == "reproduce":
        reproduce = {
            "version": 3,
            "model_package_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/tenantml-acme-dev-churn/3",
            "artifact_uri": f"s3://tenantml-acme-dev-models/models/sha256/{'a' * 64}/model.tar.gz",
            "sha256": "a" * 64,
            "data_sha256": "b" * 64,
            "hyperparameters": RECORDED,
            "holdout_fraction": "0.2",
            "code_revision": "abc123",
        }
    return pipeline_input(
        run_id=run_id,
        tenant="acme",
        model="churn",
        trigger=trigger,
        bucket="tenantml-acme-dev-data",
        key="incoming/a.parquet",
        version_id="v1",
        reproduce=reproduce,
    )


def _entered(client: Any, arn: str) -> list[str]:
    events = sorted(client.get_execution_history(executionArn=arn)["events"], key=lambda e: e["id"])
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


@pytest.mark.parametrize("trigger", ["reproduce", "manual"])
def test_a_reproduce_run_trains_with_the_recorded_settings_and_ends_in_compare_a_normal_run_never_does(
    trigger: str,
) -> None:
    with mock_aws(config=SFN_CONFIG):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": REGION})
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
        run_id = f"{trigger}-run"
        client = boto3.client("stepfunctions", region_name=REGION)
        # given what the (replaced) jobs would have written for each branch to read
        read = {"ReadDecision": {"status": "rejected"}, "ReadReproduction": {"matches": True, "version": 3}}
        definition = _without_jobs(pipeline_definition(_props(alerts_topic_arn=topic)), read)

        # when the run is executed by moto's interpreter
        result = _run(client, definition, _execution_input(run_id, trigger), run_id)

        # then
        assert result["status"] == "SUCCEEDED", result
        entered = _entered(client, result["executionArn"])
        written = json.loads(
            s3.get_object(Bucket=ARTIFACTS, Key=f"runs/{run_id}/input/execution.json")["Body"].read()
        )
    if trigger == "reproduce":
        assert entered == [
            "Configure",
            "Mode",
            "ReproduceSettings",
            "Start",
            "Prepare",
            "Train",
            "AfterTrain",
            "Compare",
            "ReadReproduction",
            "Reproduced",
        ]
        # Train's HyperParameters.$ reads these: the recorded ones, not the spec's
        assert written["settings"]["hyperparameters"] == RECORDED
        assert written["reproduce"]["version"] == 3
        # the comparison is the execution's output
        assert json.loads(result["output"]) == {"matches": True, "version": 3}
    else:
        assert "Compare" not in entered and "ReproduceSettings" not in entered
        assert entered[entered.index("Mode") :] == [
            "Mode",
            "Start",
            "Prepare",
            "Train",
            "AfterTrain",
            "Evaluate",
            "ReadDecision",
            "Decide",
            "Notify",
            "Done",
        ]
        assert written["settings"]["hyperparameters"] == {"model_name": "churn", "timeout_seconds": "600"}


def test_a_failed_compare_goes_down_the_failure_path_naming_the_step() -> None:
    states = pipeline_definition(_props())["States"]
    assert [c["Next"] for c in states["Compare"]["Catch"]] == ["CompareFailed"]
    assert states["CompareFailed"]["Parameters"]["failed_step"] == "Compare"
    assert states["CompareFailed"]["Next"] == "RecordFailure"
    # Compare never leads to Register, Notify or an alias: only to reading its own result
    assert (
        states["Compare"]["Next"] == "ReadReproduction" and states["ReadReproduction"]["Next"] == "Reproduced"
    )
    assert states["Compare"]["Parameters"]["AppSpecification"]["ContainerArguments"] == ["compare"]
