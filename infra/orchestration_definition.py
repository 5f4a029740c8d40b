"""The tenant's training pipeline as an Amazon States Language definition (a pure function).

::

    Configure (the model spec into the run's data) -> Start (input document to S3) -> Prepare (processing job) -> Train (training job)
      -> Evaluate (processing job) -> ReadDecision -> Decide: approved | pending -> Register (processing
      job) -> Notify -> Done;  rejected -> Notify -> Done

A reproduce run (trigger ``reproduce``, the input's ``reproduce`` block naming a registered version)
takes the same states with the version's recorded hyperparameters (ReproduceSettings) up to Train,
then branches (AfterTrain) to Compare (processing job: packs what Train made as Register would and
compares it with the registered archive) -> ReadReproduction -> Reproduced. It never registers,
notifies or moves an alias; its result is ``runs/<run_id>/reproduce/reproduction.json`` and the
execution's output.

Every step is a SageMaker job running the tenant's one image (``python -m pipelines.container
<command>``) with S3 in and S3 out under ``runs/<run_id>/`` of the artifacts bucket; nothing is
handed between steps in memory. The execution name is the run id (the idempotency: a second start
for the same run is ``ExecutionAlreadyExists``), and the execution's own status is the truth.

Every Task retries transient errors with backoff, has a ``TimeoutSeconds`` and catches everything
into the failure path: ``<Step>Failed`` (names the step) -> RecordFailure (``runs/<run_id>/failure.json``)
-> Cleanup (processing job: marks ``run.json`` failed, removes what the run put into the models bucket
and the registry) -> Alert (ONE message to the tenant's ``alerts`` topic: run id, step, cause) ->
RunFailed (Fail). Each failure-path Task catches into the next, so a killed, timed-out or
unstartable step still ends in exactly one alert and a failed execution.

ARNs and names arrive as Terraform references (``${...}``) and are interpolated at apply time; the
definition itself never depends on where it runs (the emulator runs this very document).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConstructPropsError, Problem

#: the image's entry point (Dockerfile); each step names its command after it
CONTAINER_ENTRYPOINT = ("python", "-m", "pipelines.container")
#: SageMaker's limits on a job name
JOB_NAME_MAX = 63
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
#: the 12 hex digits of a fresh UUID's last group: new for every attempt (SageMaker never reuses a
#: job name, so a retried step needs a new one), 48 random bits
_ATTEMPT_SUFFIX = "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4)"
ATTEMPT_SUFFIX_LENGTH = 12
#: SageMaker's cap on MaxRuntimeInSeconds (28 days)
MAX_RUNTIME_SECONDS = 28 * 24 * 3600

#: the container paths each command reads and writes (mapped by core.sagemaker_paths.opt_ml outside one)
PROCESSING_ROOT = "/opt/ml/processing"
RUN_INPUT_PATH = f"{PROCESSING_ROOT}/input/run"
TRAIN_INPUT_PATH = f"{PROCESSING_ROOT}/input/train"
HOLDOUT_INPUT_PATH = f"{PROCESSING_ROOT}/input/holdout"
MODEL_INPUT_PATH = f"{PROCESSING_ROOT}/input/model"
DECISION_INPUT_PATH = f"{PROCESSING_ROOT}/input/decision"
OUTPUT_PATH = f"{PROCESSING_ROOT}/output"
#: the execution input, as Start writes it; every command reads it from RUN_INPUT_PATH
EXECUTION_INPUT_NAME = "execution.json"
#: what Evaluate writes for the state machine to branch on: {"status": approved|pending|rejected, ...}
DECISION_NAME = "decision.json"
#: what Compare writes: registered and reproduced sha256, the differing archive members
REPRODUCTION_NAME = "reproduction.json"
#: the trigger of a re-run of a registered version (``pipelines.runs.execution_input``)
REPRODUCE_TRIGGER = "reproduce"
DECISIONS = ("approved", "pending", "rejected")

#: the step commands of the image (``python -m pipelines.container <command>``)
STEP_COMMANDS = ("prepare", "train", "evaluate", "register", "cleanup", "compare")

_SMALL_TASK_TIMEOUT = 120
#: queueing and instance start-up a job may spend before its own runtime starts counting
_JOB_START_MARGIN = 900
#: added to the search budget for loading data, the final fit and saving the model
_TRAINING_MARGIN = 900

_SAGEMAKER_TRANSIENT = ("SageMaker.AmazonSageMakerException",)
_SMALL_TASK_TRANSIENT = ("States.TaskFailed",)


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """Instance and runtime of one kind of job."""

    instance_type: str = "ml.m5.large"
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600


@dataclass(frozen=True, kw_only=True)
class PipelineDefinitionProps:
    """What the definition names; strings may be Terraform references."""

    #: the tenant's name prefix (``tenantml-<tenant>-<env>``): every job name starts ``<prefix>-``
    prefix: str
    tenant: str
    model_name: str
    #: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``
    image_uri: str
    #: the role every job runs as (passed to SageMaker by the state machine's role)
    job_role_arn: str
    artifacts_bucket: str
    models_bucket: str
    kms_key_arn: str
    alerts_topic_arn: str
    model_package_group: str
    #: the training job's hyperparameters (string values), from the tenant's model spec
    hyperparameters: Mapping[str, str]
    search_timeout_seconds: int
    #: the tenant's model spec (JSON-ready), which the step commands read from the run input: a
    #: processing job's environment values are limited to 256 characters, too few for a spec
    model_spec: Mapping[str, Any] = field(default_factory=dict)
    #: how far back a retrain's prepare step reads labelled traffic (the monitoring spec's quality window)
    retraining_window_hours: int = 24
    processing: JobSettings = field(default_factory=JobSettings)
    training_instance_type: str = "ml.m5.large"
    training_volume_size_gb: int = 30

    def __post_init__(self) -> None:
        problems = []
        longest = job_name_length(self.prefix, max(STEP_COMMANDS, key=len))
        if longest > JOB_NAME_MAX:
            problems.append(
                Problem("prefix", f"makes job names of {longest} characters; SageMaker allows {JOB_NAME_MAX}")
            )
        if not re.fullmatch(r"[a-z0-9](-?[a-z0-9])*", self.prefix):
            problems.append(Problem("prefix", "lowercase letters, digits and single '-'", self.prefix))
        bad = sorted(k for k, v in self.hyperparameters.items() if not isinstance(v, str))
        if bad:
            problems.append(Problem("hyperparameters", "SageMaker takes string values only", bad))
        if not 1 <= self.search_timeout_seconds <= MAX_RUNTIME_SECONDS - _TRAINING_MARGIN:
            problems.append(Problem("search_timeout_seconds", "out of range", self.search_timeout_seconds))
        if problems:
            raise ConstructPropsError(problems)

    @property
    def training_runtime_seconds(self) -> int:
        return self.search_timeout_seconds + _TRAINING_MARGIN


def job_name_length(prefix: str, step: str) -> int:
    """The length of every job name of ``step``: ``<prefix>-<step>-<12 hex>``."""
    return len(prefix) + 1 + len(step) + 1 + ATTEMPT_SUFFIX_LENGTH


def job_name_expression(prefix: str, step: str) -> str:
    """An intrinsic that makes ``<prefix>-<step>-<12 hex>``, new at every attempt (Parameters are
    evaluated again when a Retry runs the state again)."""
    return f"States.Format('{prefix}-{step}-{{}}', {_ATTEMPT_SUFFIX})"


def _run_uri(bucket: str, relative: str) -> str:
    """``s3://<bucket>/runs/<run_id>/<relative>`` as an intrinsic over the execution input."""
    return f"States.Format('s3://{bucket}/runs/{{}}/{relative}', $.run_id)"


def _retry(errors: tuple[str, ...], attempts: int, interval: int) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": list(errors),
            "IntervalSeconds": interval,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
        }
    ]


def _catch(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": next_state}]


def _environment(props: PipelineDefinitionProps) -> dict[str, str]:
    return {
        "TENANTML_RUN_ID.$": "$.run_id",
        "TENANTML_TENANT": props.tenant,
        "TENANTML_ARTIFACTS_BUCKET": props.artifacts_bucket,
        "TENANTML_MODELS_BUCKET": props.models_bucket,
        "TENANTML_MODEL_PACKAGE_GROUP": props.model_package_group,
        "TENANTML_KMS_KEY_ARN": props.kms_key_arn,
        "TENANTML_IMAGE_URI": props.image_uri,
    }


def _input(name: str, uri_expression: str, local_path: str, *, dynamic: bool = True) -> dict[str, Any]:
    uri_key = "S3Uri.$" if dynamic else "S3Uri"
    return {
        "InputName": name,
        "S3Input": {
            uri_key: uri_expression,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _output(name: str, uri_expression: str, local_path: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri.$": uri_expression, "LocalPath": local_path, "S3UploadMode": "EndOfJob"},
    }


def _tags(props: PipelineDefinitionProps, step: str) -> list[dict[str, str]]:
    return [
        {"Key": "tenantml:tenant", "Value": props.tenant},
        {"Key": "tenantml:model", "Value": props.model_name},
        {"Key": "tenantml:step", "Value": step},
    ]


def _processing_task(
    props: PipelineDefinitionProps,
    step: str,
    *,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    next_state: str | None,
    catch_to: str,
    result_path: str | None = None,
) -> dict[str, Any]:
    settings = props.processing
    parameters: dict[str, Any] = {
        "ProcessingJobName.$": job_name_expression(props.prefix, step),
        "RoleArn": props.job_role_arn,
        "AppSpecification": {
            "ImageUri": props.image_uri,
            "ContainerEntrypoint": list(CONTAINER_ENTRYPOINT),
            "ContainerArguments": [step],
        },
        "Environment": _environment(props),
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": props.kms_key_arn},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.instance_type,
                "VolumeSizeInGB": settings.volume_size_gb,
                "VolumeKmsKeyId": props.kms_key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "Tags": _tags(props, step),
    }
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
        "Parameters": parameters,
        "ResultPath": result_path,
        "TimeoutSeconds": settings.max_runtime_seconds + _JOB_START_MARGIN,
        "Retry": _retry(_SAGEMAKER_TRANSIENT, attempts=2, interval=30),
        "Catch": _catch(catch_to),
    }
    if result_path is not None:
        state["ResultSelector"] = {"job_name.$": "$.ProcessingJobName", "job_arn.$": "$.ProcessingJobArn"}
    return _then(state, next_state)


def _then(state: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def _failed_pass(step: str) -> dict[str, Any]:
    """Names the failed step beside the run, then goes down the failure path."""
    return {
        "Type": "Pass",
        "Parameters": {
            "run_id.$": "$.run_id",
            "tenant.$": "$.tenant",
            "model.$": "$.model",
            "failed_step": step,
            # the Catch's {"Error", "Cause"} as a whole: Cause is not always there
            "failure.$": "$.failure",
        },
        "Next": "RecordFailure",
    }


def pipeline_definition(props: PipelineDefinitionProps) -> dict[str, Any]:
    """The state machine definition (a JSON-ready dict); see the module docstring."""
    art, models = props.artifacts_bucket, props.models_bucket
    run_input = _input("run", _run_uri(art, "input/"), RUN_INPUT_PATH)
    train_data = _run_uri(art, "data/train/")
    holdout_data = _run_uri(art, "data/holdout/")
    steps = (
        "Start",
        "Prepare",
        "Train",
        "Evaluate",
        "ReadDecision",
        "Register",
        "Notify",
        "Compare",
        "ReadReproduction",
    )
    states: dict[str, Any] = {
        "Configure": {
            "Type": "Pass",
            "Comment": "the tenant's settings beside the execution input: Start writes both for the jobs",
            "Result": {
                "model_spec": dict(props.model_spec),
                "retraining_window_hours": props.retraining_window_hours,
                "hyperparameters": dict(props.hyperparameters),
            },
            "ResultPath": "$.settings",
            "Next": "Mode",
        },
        "Mode": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.trigger", "StringEquals": REPRODUCE_TRIGGER, "Next": "ReproduceSettings"}
            ],
            "Default": "Start",
        },
        "ReproduceSettings": {
            "Type": "Pass",
            "Comment": "a re-run trains with the hyperparameters the version was trained with, not today's spec",
            "Parameters": {
                "model_spec.$": "$.settings.model_spec",
                "retraining_window_hours.$": "$.settings.retraining_window_hours",
                "hyperparameters.$": "$.reproduce.hyperparameters",
            },
            "ResultPath": "$.settings",
            "Next": "Start",
        },
        "Start": _then(
            {
                "Type": "Task",
                "Comment": "the execution input, for every job to read (S3 in, S3 out)",
                "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {
                    "Bucket": art,
                    "Key.$": f"States.Format('runs/{{}}/input/{EXECUTION_INPUT_NAME}', $.run_id)",
                    # a string body: an object body is not serialized by every SDK integration
                    "Body.$": "States.JsonToString($)",
                    "ContentType": "application/json",
                },
                "ResultPath": None,
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(_SMALL_TASK_TRANSIENT, attempts=3, interval=2),
                "Catch": _catch("StartFailed"),
            },
            "Prepare",
        ),
        "Prepare": _processing_task(
            props,
            "prepare",
            inputs=[run_input],
            outputs=[
                _output("train", train_data, f"{OUTPUT_PATH}/train"),
                _output("holdout", holdout_data, f"{OUTPUT_PATH}/holdout"),
                _output("report", _run_uri(art, "prepare/"), f"{OUTPUT_PATH}/report"),
            ],
            next_state="Train",
            catch_to="PrepareFailed",
            result_path="$.prepare",
        ),
        "Train": _then(
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName.$": job_name_expression(props.prefix, "train"),
                    "RoleArn": props.job_role_arn,
                    "AlgorithmSpecification": {
                        "TrainingImage": props.image_uri,
                        "TrainingInputMode": "File",
                        "ContainerEntrypoint": list(CONTAINER_ENTRYPOINT),
                        "ContainerArguments": ["train"],
                    },
                    "HyperParameters.$": "$.settings.hyperparameters",
                    "InputDataConfig": [
                        {
                            "ChannelName": "train",
                            "DataSource": {
                                "S3DataSource": {
                                    "S3DataType": "S3Prefix",
                                    "S3Uri.$": train_data,
                                    "S3DataDistributionType": "FullyReplicated",
                                }
                            },
                            "InputMode": "File",
                        }
                    ],
                    "OutputDataConfig": {
                        "S3OutputPath.$": f"States.Format('s3://{models}/training-jobs/{{}}/', $.run_id)",
                        "KmsKeyId": props.kms_key_arn,
                    },
                    "ResourceConfig": {
                        "InstanceCount": 1,
                        "InstanceType": props.training_instance_type,
                        "VolumeSizeInGB": props.training_volume_size_gb,
                        "VolumeKmsKeyId": props.kms_key_arn,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": props.training_runtime_seconds},
                    # the training container reads its channel and writes its model dir; SageMaker moves them
                    "EnableNetworkIsolation": True,
                    "Tags": _tags(props, "train"),
                },
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "model_artifact.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.train",
                "TimeoutSeconds": props.training_runtime_seconds + _JOB_START_MARGIN,
                "Retry": _retry(_SAGEMAKER_TRANSIENT, attempts=2, interval=30),
                "Catch": _catch("TrainFailed"),
            },
            "AfterTrain",
        ),
        "AfterTrain": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.trigger", "StringEquals": REPRODUCE_TRIGGER, "Next": "Compare"}],
            "Default": "Evaluate",
        },
        "Compare": _processing_task(
            props,
            "compare",
            inputs=[
                run_input,
                _input("model", "$.train.model_artifact", MODEL_INPUT_PATH),
                _input("train", train_data, TRAIN_INPUT_PATH),
            ],
            outputs=[_output("reproduce", _run_uri(art, "reproduce/"), f"{OUTPUT_PATH}/reproduce")],
            next_state="ReadReproduction",
            catch_to="CompareFailed",
            result_path="$.compare",
        ),
        "ReadReproduction": _then(
            {
                "Type": "Task",
                "Comment": "the comparison as the execution's output",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {
                    "Bucket": art,
                    "Key.$": f"States.Format('runs/{{}}/reproduce/{REPRODUCTION_NAME}', $.run_id)",
                },
                "ResultSelector": {"reproduction.$": "States.StringToJson($.Body)"},
                "OutputPath": "$.reproduction",
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(_SMALL_TASK_TRANSIENT, attempts=3, interval=2),
                "Catch": _catch("ReadReproductionFailed"),
            },
            "Reproduced",
        ),
        "Reproduced": {"Type": "Succeed"},
        "Evaluate": _processing_task(
            props,
            "evaluate",
            inputs=[
                run_input,
                _input("model", "$.train.model_artifact", MODEL_INPUT_PATH),
                _input("train", train_data, TRAIN_INPUT_PATH),
                _input("holdout", holdout_data, HOLDOUT_INPUT_PATH),
            ],
            outputs=[
                _output("evaluation", _run_uri(art, "evaluation/"), f"{OUTPUT_PATH}/evaluation"),
                _output("decision", _run_uri(art, "decision/"), f"{OUTPUT_PATH}/decision"),
            ],
            next_state="ReadDecision",
            catch_to="EvaluateFailed",
            result_path="$.evaluate",
        ),
        "ReadDecision": _then(
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {
                    "Bucket": art,
                    "Key.$": f"States.Format('runs/{{}}/decision/{DECISION_NAME}', $.run_id)",
                },
                "ResultSelector": {"decision.$": "States.StringToJson($.Body)"},
                "ResultPath": "$.gate",
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(_SMALL_TASK_TRANSIENT, attempts=3, interval=2),
                "Catch": _catch("ReadDecisionFailed"),
            },
            "Decide",
        ),
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.gate.decision.status", "StringEquals": "approved", "Next": "Register"},
                {"Variable": "$.gate.decision.status", "StringEquals": "pending", "Next": "Register"},
                {"Variable": "$.gate.decision.status", "StringEquals": "rejected", "Next": "Notify"},
            ],
            "Default": "DecideFailed",
        },
        "DecideFailed": {
            "Type": "Pass",
            "Parameters": {
                "run_id.$": "$.run_id",
                "tenant.$": "$.tenant",
                "model.$": "$.model",
                "failed_step": "Decide",
                "failure": {
                    "Error": "tenantml.UnknownDecision",
                    "Cause": f"{DECISION_NAME} has no status among {', '.join(DECISIONS)}",
                },
            },
            "Next": "RecordFailure",
        },
        "Register": _processing_task(
            props,
            "register",
            inputs=[
                run_input,
                _input("model", "$.train.model_artifact", MODEL_INPUT_PATH),
                _input("decision", _run_uri(art, "decision/"), DECISION_INPUT_PATH),
            ],
            outputs=[_output("registration", _run_uri(art, "register/"), f"{OUTPUT_PATH}/register")],
            next_state="Notify",
            catch_to="RegisterFailed",
            result_path="$.register",
        ),
        "Notify": _then(
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": props.alerts_topic_arn,
                    "Subject.$": "States.Format('tenantml: run {} of {} finished', $.run_id, $.model)",
                    "Message.$": (
                        "States.Format('Pipeline run {} of model {} (tenant {}) finished; gate: {}. "
                        f"Run record: s3://{art}/runs/{{}}/run.json', "
                        "$.run_id, $.model, $.tenant, $.gate.decision.status, $.run_id)"
                    ),
                },
                "ResultPath": None,
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(("SNS.AmazonSNSException",), attempts=3, interval=2),
                "Catch": _catch("NotifyFailed"),
            },
            "Done",
        ),
        "Done": {"Type": "Succeed"},
        # --- the failure path ---------------------------------------------------------------------
        "RecordFailure": _then(
            {
                "Type": "Task",
                "Comment": "the failure object beside the run record, whatever state the run record is in",
                "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {
                    "Bucket": art,
                    "Key.$": "States.Format('runs/{}/failure.json', $.run_id)",
                    # a string body: an object body is not serialized by every SDK integration
                    "Body.$": "States.JsonToString($)",
                    "ContentType": "application/json",
                },
                "ResultPath": None,
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(_SMALL_TASK_TRANSIENT, attempts=3, interval=2),
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.record_failure", "Next": "Cleanup"}
                ],
            },
            "Cleanup",
        ),
        "Cleanup": _then(
            {
                **_processing_task(
                    props,
                    "cleanup",
                    inputs=[_input("run", _run_uri(art, "input/"), RUN_INPUT_PATH)],
                    outputs=[_output("cleanup", _run_uri(art, "cleanup/"), f"{OUTPUT_PATH}/cleanup")],
                    next_state="Alert",
                    catch_to="Alert",
                    result_path=None,
                ),
                # a failed clean-up must not cost the alert: it is recorded and the path goes on
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_failure", "Next": "Alert"}
                ],
            },
            "Alert",
        ),
        "Alert": _then(
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": props.alerts_topic_arn,
                    "Subject.$": "States.Format('tenantml: run {} failed in {}', $.run_id, $.failed_step)",
                    "Message.$": (
                        "States.Format('Pipeline run {} of model {} (tenant {}) failed in step {}. "
                        f"Error and cause: {{}}. Run record: s3://{art}/runs/{{}}/run.json', "
                        "$.run_id, $.model, $.tenant, $.failed_step, States.JsonToString($.failure), $.run_id)"
                    ),
                    "MessageAttributes": {
                        "tenant": {"DataType": "String", "StringValue.$": "$.tenant"},
                        "run_id": {"DataType": "String", "StringValue.$": "$.run_id"},
                        "kind": {"DataType": "String", "StringValue": "pipeline-run-failed"},
                    },
                },
                "ResultPath": None,
                "TimeoutSeconds": _SMALL_TASK_TIMEOUT,
                "Retry": _retry(("SNS.AmazonSNSException",), attempts=3, interval=2),
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.alert_failure", "Next": "RunFailed"}
                ],
            },
            "RunFailed",
        ),
        "RunFailed": {
            "Type": "Fail",
            "Error": "tenantml.PipelineRunFailed",
            "Cause": "a pipeline step failed; see runs/<run_id>/failure.json and the alert",
        },
    }
    for step in steps:
        states[f"{step}Failed"] = _failed_pass(step)
    return {
        "Comment": f"tenantml training pipeline of model {props.model_name} (tenant {props.tenant})",
        "StartAt": "Configure",
        "States": states,
    }


def pipeline_definition_json(props: PipelineDefinitionProps) -> str:
    return json.dumps(pipeline_definition(props), sort_keys=True, separators=(",", ":"))


__all__ = [
    "CONTAINER_ENTRYPOINT",
    "DECISIONS",
    "JOB_NAME_MAX",
    "JOB_NAME_PATTERN",
    "REPRODUCE_TRIGGER",
    "REPRODUCTION_NAME",
    "STEP_COMMANDS",
    "JobSettings",
    "PipelineDefinitionProps",
    "job_name_expression",
    "job_name_length",
    "pipeline_definition",
    "pipeline_definition_json",
]
