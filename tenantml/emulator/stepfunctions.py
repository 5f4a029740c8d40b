"""Step Functions in the emulator: moto's interpreter, a SageMaker integration, and the execution's role.

moto 5.2.5 ships an interpreter for state machines (ported from LocalStack), used when its config
says ``{"stepfunctions": {"execute_state_machine": True}}``. Three things keep it from running the
tenant pipeline as AWS would, and :func:`enable` fixes each without editing moto's files:

- it lists ``sagemaker`` as an unsupported integration (it forwards the call and cannot wait):
  :class:`StateTaskServiceSageMaker` answers ``arn:aws:states:::sagemaker:<action>`` with AWS's
  request shapes (PascalCase, as on AWS), and ``createTrainingJob.sync`` /
  ``createProcessingJob.sync`` wait for the job to end: ``Completed`` gives the job's description
  as the task's output, ``Failed``/``Stopped`` fail the state with ``States.TaskFailed`` and the
  job's description (JSON, ``FailureReason`` included) as the cause, as AWS reports a job that ended
  badly; a task that times out, or an execution that stops, stops its job;
- every service call of an execution is signed with fixed fake keys (``ak``/``sk``) to
  ``localhost:$MOTO_PORT``: here it goes to this emulator and signs with the **state machine's
  role** (or the task's ``Credentials.RoleArn``), with credentials from the emulator's STS, so IAM
  enforcement applies to state machines as to Lambda functions (Map and Parallel branches included:
  they pass the same role down);
- ``aws-sdk:`` integrations pass a streaming body (``s3:getObject``'s ``Body``) on as a stream, which
  no intrinsic can read: it is read into the string AWS hands on;
- an API error of an integration (throttling, access denied, validation) becomes
  ``SageMaker.AmazonSageMakerException`` with AWS's cause text (``... (Service: AmazonSageMaker; Status
  Code: 400; Error Code: AccessDeniedException; ...)``). A definition can thus retry API errors as
  transient without retrying a job that failed on its own.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.errors import EmulatorError
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, admin_credentials

log = logging.getLogger("tenantml.emulator.stepfunctions")

#: how often a ``.sync`` task asks for its job's status (AWS polls too; its interval is not documented)
SYNC_POLL_SECONDS = 0.25
#: the error a failed SageMaker API call raises in a state (the name the Step Functions docs use)
SAGEMAKER_ERROR = "SageMaker.AmazonSageMakerException"
#: the error of a ``.sync`` task whose job ended ``Failed`` or ``Stopped`` (cause: the job's description)
JOB_FAILED_ERROR = "States.TaskFailed"
#: SageMaker actions whose ``.sync`` form waits for the job: (describe call, name parameter, status key)
_SYNC_JOBS: dict[str, tuple[str, str, str]] = {
    "create_training_job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "create_processing_job": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
}
_STOP_CALLS = {"create_training_job": "stop_training_job", "create_processing_job": "stop_processing_job"}

_state: dict[str, Any] = {"endpoint": None, "patched": False}
_lock = threading.Lock()


def _credentials_for(role_arn: str | None, region: str) -> dict[str, str]:
    """The role's STS credentials (the account's administrator when no role is known)."""
    from tenantml.emulator.iam_enforcement import role_credentials

    if role_arn and role_arn.startswith("arn:"):
        return role_credentials(role_arn, "StepFunctions", region)
    return admin_credentials(EMULATOR_ACCOUNT_ID)


def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``, pointed at this emulator and signing as the execution's role."""
    import boto3
    from botocore.config import Config

    endpoint = _state["endpoint"]
    if endpoint is None:
        raise EmulatorError("Step Functions ran a task, but no emulator endpoint is known (call enable())")
    credentials = _credentials_for(getattr(state_credentials, "role_arn", None), region)
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=60,
            read_timeout=300,
        ),
    )


def _json_safe(value: Any) -> Any:
    """A service response as Step Functions passes it on: timestamps as epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _sagemaker_task_class() -> type:
    """Build the integration class (it subclasses moto's, which is imported only when enabled)."""
    import botocore.session
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    operations = botocore.session.get_session().get_service_model("sagemaker")

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        """``arn:aws:states:::sagemaker:<action>[.sync]``: request-response for every SageMaker action,
        ``.sync`` for training and processing jobs."""

        def __init__(self) -> None:
            super().__init__(supported_integration_patterns={ResourceCondition.Sync})

        def _operation(self) -> Any:
            api_action = self.resource.api_action
            name = api_action[:1].upper() + api_action[1:]
            try:
                return operations.operation_model(name)
            except Exception:  # noqa: BLE001 - botocore's OperationNotFoundError: not a SageMaker action
                return None

        def _get_supported_parameters(self) -> set[str] | None:
            operation = self._operation()
            if operation is None or operation.input_shape is None:
                return None
            return set(operation.input_shape.members)

        def _validate_service_integration_is_supported(self) -> None:
            super()._validate_service_integration_is_supported()
            condition = self.resource.condition
            if condition is not None and (
                condition != ResourceCondition.Sync or self._get_boto_service_action() not in _SYNC_JOBS
            ):
                raise ValueError(
                    f"The resource provided {self.resource.resource_arn} is not supported: SageMaker "
                    "supports .sync only for createTrainingJob and createProcessingJob here"
                )

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                error = ex.response.get("Error", {})
                metadata = ex.response.get("ResponseMetadata", {})
                cause = (
                    f"{error.get('Message', '')} (Service: AmazonSageMaker; Status Code: "
                    f"{metadata.get('HTTPStatusCode', 400)}; Error Code: {error.get('Code', '')}; "
                    f"Request ID: {metadata.get('RequestId', '')}; Proxy: null)"
                )
                return self._failure(env, cause)
            return super()._from_error(env=env, ex=ex)

        def _failure(self, env: Any, cause: str, error: str = SAGEMAKER_ERROR) -> Any:
            return FailureEvent(
                env=env,
                # "States." names are the interpreter's own: a custom name may not take that prefix
                error_name=(
                    StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
                    if error == JOB_FAILED_ERROR
                    else CustomErrorName(error)
                ),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=error,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            operation = self._operation()
            if operation is not None and operation.input_shape is not None:
                self._to_boto_request(normalised_parameters, operation.input_shape)
            client = boto_client_for(resource_runtime_part.region, "sagemaker", state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            env.stack.append(_json_safe(response))

        def _eval_integration_pattern(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            # moto's version needs a callback endpoint that only .waitForTaskToken integrations have
            env.stack.pop()  # the create call's response
            action = self._get_boto_service_action()
            describe, name_key, status_key = _SYNC_JOBS[action]
            client = boto_client_for(resource_runtime_part.region, "sagemaker", state_credentials)
            name = normalised_parameters[name_key]
            self.timeout.eval(env=env)
            deadline = time.monotonic() + float(env.stack.pop())
            while env.is_running() and time.monotonic() < deadline:
                job = _json_safe(getattr(client, describe)(**{name_key: name}))
                status = job.get(status_key)
                if status == "Completed":
                    env.stack.append(job)
                    return
                if status in ("Failed", "Stopped"):
                    # AWS: the job's own end is States.TaskFailed, the Describe* output the cause
                    cause = json.dumps(job, sort_keys=True, default=str)
                    raise FailureEventException(self._failure(env, cause, JOB_FAILED_ERROR))
                time.sleep(SYNC_POLL_SECONDS)
            # the task timed out or the execution stopped: Step Functions stops the job it started
            try:
                getattr(client, _STOP_CALLS[action])(**{name_key: name})
            except ClientError as err:
                log.warning("could not stop SageMaker job %s after its task ended: %s", name, err)
            if env.is_running():
                raise TimeoutError(f"the task waiting for {name} timed out")
            env.stack.append({})

    return StateTaskServiceSageMaker


def _fix_error_codes() -> None:
    """Give moto's Step Functions errors their AWS error code on the wire.

    moto 5.2.5's ``moto/stepfunctions/parser/api.py`` names each error's code in a ``code`` class
    attribute, but its base (``AWSError``) reads ``TYPE``, so ``InvalidDefinition``,
    ``ExecutionAlreadyExists``, ... reach clients with an empty code (``"__type": null``).
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for value in vars(api).values():
        if isinstance(value, type) and issubclass(value, AWSError) and value.TYPE is None:
            code = value.__dict__.get("code")
            if isinstance(code, str):
                value.TYPE = code


def _read_bodies(value: Any) -> Any:
    """A response with every streaming body read into a string, as the ``aws-sdk:`` integrations
    hand it on (``aws-sdk:s3:getObject`` gives ``Body`` as the object's text; moto passes the stream)."""
    if isinstance(value, dict):
        return {k: _read_bodies(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_read_bodies(v) for v in value]
    if hasattr(value, "read") and callable(value.read):
        value = value.read()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def _patch_aws_sdk_bodies() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    original = StateTaskServiceAwsSdk._eval_service_task
    if getattr(original, "_tenantml_reads_bodies", False):
        return

    def _eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original(self, env, *args, **kwargs)
        env.stack.append(_read_bodies(env.stack.pop()))

    _eval_service_task._tenantml_reads_bodies = True  # type: ignore[attr-defined]
    StateTaskServiceAwsSdk._eval_service_task = _eval_service_task  # type: ignore[method-assign]


def _patch_moto() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

    _fix_error_codes()
    _patch_aws_sdk_bodies()

    task_class = _sagemaker_task_class()
    original_factory = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return task_class()
        return original_factory(service_name)

    state_task_factory.state_task_service_for = state_task_service_for

    # every module that imported moto's boto_client_for by name gets ours (the modules are loaded
    # first, so none imports the original later)
    for module_name in _CLIENT_MODULES:
        importlib.import_module(module_name)
    from moto.stepfunctions.parser.asl.utils import boto_client

    original_client: Callable[..., Any] = boto_client.boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is (
            original_client
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


#: moto modules that call ``boto_client_for`` (checked by ``tests/functional/emulator/test_emulator_stepfunctions.py``)
_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


def enable(endpoint: str) -> None:
    """Run state machines in the in-process moto at ``endpoint`` (process-wide; idempotent)."""
    from moto.core.config import default_user_config

    with _lock:
        _state["endpoint"] = endpoint.rstrip("/")
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        if not _state["patched"]:
            _patch_moto()
            _state["patched"] = True


__all__ = ["JOB_FAILED_ERROR", "SAGEMAKER_ERROR", "SYNC_POLL_SECONDS", "boto_client_for", "enable"]
