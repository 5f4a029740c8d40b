"""SageMaker training and processing jobs, run for real by the emulator (moto only records them).

moto 5.2.5 answers ``CreateTrainingJob`` and ``CreateProcessingJob`` with a job that is
``Completed`` at once, having run nothing, and drops the request's ``Environment``. With a
:class:`JobRunner` installed (:func:`install`), the create call still returns at once, as on AWS,
and the job then runs in the background the way SageMaker documents it:

- status ``InProgress`` (``SecondaryStatus`` Starting, Downloading, Training, Uploading) and then
  ``Completed``, ``Failed`` or ``Stopped``, with ``FailureReason`` and timestamps, in moto's own
  job record, so ``DescribeTrainingJob`` / ``DescribeProcessingJob`` report it; at most
  ``max_concurrent`` jobs run at once, the others wait ``InProgress``/Starting;
- everything the platform does for the job is done **as the job's role** (``RoleArn``), with
  credentials from the emulator's STS: pulling the image (ECR ``BatchGetImage``: a tag never pushed
  fails the job, naming the image), downloading channels and inputs, uploading outputs, writing
  logs; the container gets the same credentials, so IAM enforcement applies to the job as on AWS;
- a job directory stands for ``/opt/ml`` (``TENANTML_OPT_ML``, see :mod:`core.sagemaker_paths`):
  training jobs get ``input/config/{hyperparameters,resourceconfig,inputdataconfig}.json`` and each
  channel under ``input/data/<channel>/``; processing inputs land at their ``LocalPath``;
- the command is the image's entry point run from this checkout with the emulator's interpreter
  (``sys.executable -m pipelines.container ...``, see :mod:`tenantml.emulator.images`), in its own
  process group, with cwd = the project root; any other entry point fails the job. The process is
  forked from a zygote that has the image's third-party libraries imported already
  (:mod:`tenantml.emulator.job_zygote`: 2 s of imports saved per job, the same process otherwise),
  or started cold when the job's environment changes what those imports read;
- stdout and stderr go to CloudWatch Logs (``/aws/sagemaker/TrainingJobs`` or ``ProcessingJobs``,
  stream ``<job name>/algo-1-<epoch>``) while the job runs;
- ``StoppingCondition.MaxRuntimeInSeconds`` ends the job (SIGTERM, then SIGKILL after a grace);
  ``StopTrainingJob`` / ``StopProcessingJob`` stop it;
- on exit 0 the training job packs ``/opt/ml/model`` into ``<S3OutputPath>/<job>/output/model.tar.gz``
  (and ``/opt/ml/output/data`` into ``output.tar.gz``); a processing job uploads each output's
  ``LocalPath`` to its ``S3Uri``. On a non-zero exit, ``FailureReason`` is ``/opt/ml/output/failure``
  or ``AlgorithmError: ... exit code N``.

Only possible when moto runs in this process, like the Lambda runtime. What is patched in moto is
listed in :func:`_patch_moto`; each patch checks the shape it relies on first.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from core.errors import EmulatorError
from core.sagemaker_paths import OPT_ML, OPT_ML_ENV
from tenantml.emulator.images import ENTRYPOINT, PROJECT_ROOT, parse_image_uri
from tenantml.emulator.job_zygote import ZygoteChild, ZygoteClient, ZygoteError
from tenantml.emulator.session import aws_env, is_in_process

log = logging.getLogger("tenantml.emulator.jobs")

JobKind = Literal["training", "processing"]
#: a job's container process: forked warm from the zygote, or started cold
JobProcess = subprocess.Popen[bytes] | ZygoteChild
LOG_GROUPS: Mapping[str, str] = {
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
}
#: SageMaker's default when a job names no StoppingCondition (1 day)
DEFAULT_MAX_RUNTIME = 86400
#: AWS gives a stopped container 120 s after SIGTERM; the emulator scales that down
DEFAULT_STOP_GRACE = 2.0
#: how often buffered log lines are flushed to CloudWatch Logs while a job runs
_LOG_FLUSH_INTERVAL = 1.0
_FAILURE_REASON_LIMIT = 1024
#: interpreters an entry point may name; the emulator runs its own instead
_PYTHONS = ("python", "python3")


class JobSetupError(EmulatorError):
    """A job cannot run as requested; its message becomes the job's FailureReason."""


@dataclass
class Job:
    """One job the runner owns: the request as sent, moto's record of it, and the process."""

    kind: JobKind
    name: str
    account_id: str
    region: str
    request: dict[str, Any]
    record: Any
    process: JobProcess | None = None
    #: whether its process was forked from the zygote (None before it started)
    warm: bool | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def role_arn(self) -> str:
        return str(self.request.get("RoleArn") or "")

    @property
    def image_uri(self) -> str:
        if self.kind == "training":
            return str((self.request.get("AlgorithmSpecification") or {}).get("TrainingImage") or "")
        return str((self.request.get("AppSpecification") or {}).get("ImageUri") or "")

    @property
    def max_runtime(self) -> float:
        condition = self.request.get("StoppingCondition") or {}
        return float(condition.get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME)

    def command(self) -> list[str]:
        """What the container runs: ContainerEntrypoint + ContainerArguments, or the image's entry point."""
        spec = (
            self.request.get("AlgorithmSpecification")
            if self.kind == "training"
            else self.request.get("AppSpecification")
        ) or {}
        entrypoint = [str(a) for a in spec.get("ContainerEntrypoint") or []]
        arguments = [str(a) for a in spec.get("ContainerArguments") or []]
        if entrypoint:
            return entrypoint + arguments
        if self.kind == "training":
            return [*ENTRYPOINT, "train", *arguments]  # SageMaker runs `<image> train`
        return [*ENTRYPOINT, *arguments]


#: what the Dockerfile sets in the image: logs as they come, no bytecode written
_IMAGE_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _base_environment() -> dict[str, str]:
    """What every job's process environment starts from, before the job's own variables."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    return {**env, **_IMAGE_ENVIRONMENT}


# --- what a job's status looks like in moto's record ------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _set_status(job: Job, status: str | None = None, secondary: str | None = None, message: str = "") -> None:
    """Move the job's status (and, for training jobs, its secondary status) in moto's record."""
    record, now = job.record, _now()
    with job.lock:
        if job.kind == "training":
            if status is not None:
                record.training_job_status = status
            if secondary is not None and secondary != record.secondary_status:
                transitions = record.secondary_status_transitions
                if transitions and "EndTime" not in transitions[-1]:
                    transitions[-1]["EndTime"] = now
                transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
                record.secondary_status = secondary
        elif status is not None:
            record.processing_job_status = status
        record.last_modified_time = now


def _finish(job: Job, status: str, secondary: str, reason: str | None = None) -> None:
    now = _now()
    with job.lock:
        record = job.record
        if reason:
            record.failure_reason = reason[:_FAILURE_REASON_LIMIT]
            if job.kind == "processing":
                record.exit_message = reason[:_FAILURE_REASON_LIMIT]
        if job.kind == "training":
            record.training_end_time = now
            if status != "Completed":
                record.model_artifacts = None  # nothing was uploaded
        else:
            record.processing_end_time = now
    _set_status(job, status, secondary, reason or "")
    with job.lock:
        if job.kind == "training" and job.record.secondary_status_transitions:
            job.record.secondary_status_transitions[-1]["EndTime"] = now
    log.info("%s job %s: %s%s", job.kind, job.name, status, f" ({reason})" if reason else "")


def _is_terminal(job: Job) -> bool:
    status = job.record.training_job_status if job.kind == "training" else job.record.processing_job_status
    return status in ("Completed", "Failed", "Stopped")


def _reset_record(job: Job) -> None:
    """moto makes every job Completed at once, with end times: make it a job that has not started."""
    record, now = job.record, _now()
    record.failure_reason = None
    record.environment = dict(job.request.get("Environment") or {})
    if job.kind == "training":
        record.training_job_status = "InProgress"
        record.secondary_status = "Starting"
        record.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}
        ]
        record.training_start_time = None
        record.training_end_time = None
        record.final_metric_data_list = None
        algorithm = record.algorithm_specification
        if isinstance(algorithm, dict):  # moto adds a made-up metric definition
            original = (job.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions")
            if original:
                algorithm["MetricDefinitions"] = original
            else:
                algorithm.pop("MetricDefinitions", None)
    else:
        record.processing_job_status = "InProgress"
        record.processing_start_time = None
        record.processing_end_time = None
        record.exit_message = None
    record.last_modified_time = now


# --- S3 as the job's role ---------------------------------------------------------------------


def _split_s3(uri: str, what: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise JobSetupError(f"ClientError: {what} {uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _download_prefix(s3: Any, uri: str, target: Path, what: str) -> int:
    """Every object under the S3 prefix ``uri`` into ``target`` (SageMaker's S3Prefix, File mode)."""
    bucket, prefix = _split_s3(uri, what)
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a "folder" marker
            relative = key[len(prefix) :].lstrip("/") or PurePosixPath(key).name
            destination = target.joinpath(*PurePosixPath(relative).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            with destination.open("wb") as out:
                shutil.copyfileobj(body, out)
            count += 1
    if count == 0:
        raise JobSetupError(f"ClientError: {what}: no objects found under {uri}")
    return count


def _upload_dir(s3: Any, source: Path, uri: str, kms_key: str | None) -> int:
    bucket, prefix = _split_s3(uri, "output")
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = "/".join(part for part in (prefix.rstrip("/"), path.relative_to(source).as_posix()) if part)
        _put_file(s3, path, bucket, key, kms_key)
        count += 1
    return count


def _put_file(s3: Any, path: Path, bucket: str, key: str, kms_key: str | None) -> None:
    extra: dict[str, str] = {}
    if kms_key:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
    with path.open("rb") as body:
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)


def _pack(directory: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            tar.add(path, arcname=path.relative_to(directory).as_posix())


def _client_error(err: Exception) -> str:
    """AWS's wording of a failure the platform met on the job's behalf."""
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        return f"ClientError: {err}"
    return f"{type(err).__name__}: {err}"


# --- the runner -------------------------------------------------------------------------------


class JobRunner:
    """Runs the SageMaker jobs created in the in-process emulator at ``endpoint``."""

    def __init__(
        self,
        endpoint: str,
        *,
        max_concurrent: int = 2,
        work_dir: Path | None = None,
        python: str | None = None,
        stop_grace: float = DEFAULT_STOP_GRACE,
        project_root: Path = PROJECT_ROOT,
        warm: bool = True,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        #: fork job processes from a zygote with the image's libraries imported (:mod:`.job_zygote`)
        self.warm = warm
        self._zygote: ZygoteClient | None = None
        self.max_concurrent = max_concurrent
        self.python = python or sys.executable
        self.stop_grace = stop_grace
        self.project_root = project_root
        self._work_dir = work_dir
        self._own_work_dir: tempfile.TemporaryDirectory[str] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._jobs: dict[tuple[str, str, str, str], Job] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._stopping = threading.Event()
        #: observers of status changes (job, status), e.g. an event bus; errors in them are logged
        self.listeners: list[Callable[[Job, str], None]] = []

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> JobRunner:
        with self._lock:
            if self._executor is None:
                if self._work_dir is None:
                    self._own_work_dir = tempfile.TemporaryDirectory(prefix="tenantml-jobs-")
                    self._work_dir = Path(self._own_work_dir.name)
                self._stopping.clear()
                if self.warm and self._zygote is None:
                    self._zygote = ZygoteClient(self.python, _base_environment()).start()
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_concurrent, thread_name_prefix="tenantml-sagemaker-job"
                )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every running job (they end ``Stopped``) and wait up to ``timeout`` s for them."""
        self._stopping.set()
        with self._lock:
            jobs = list(self._jobs.values())
            executor, self._executor = self._executor, None
        for job in jobs:
            if not _is_terminal(job):
                self.stop_job(job)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.wait_idle(timeout)
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()
        if self._own_work_dir is not None:
            self._own_work_dir.cleanup()
            self._own_work_dir = None
            self._work_dir = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once no job is queued or running (False after ``timeout`` seconds)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout=timeout)

    # --- what the moto hooks call ---------------------------------------------------------

    def submit(
        self, kind: JobKind, record: Any, request: dict[str, Any], account_id: str, region: str
    ) -> Job:
        name = str(request.get("TrainingJobName" if kind == "training" else "ProcessingJobName"))
        job = Job(kind, name, account_id, region, dict(request), record)
        _reset_record(job)
        with self._lock:
            executor = self._executor
            self._jobs[(kind, account_id, region, name)] = job
            if executor is not None:
                self._active += 1
        if executor is None:
            _finish(job, "Failed", "Failed", "InternalServerError: the emulator's job runner is not running")
            return job
        self._notify(job, "InProgress")
        executor.submit(self._run_guarded, job)
        return job

    def find(self, kind: JobKind, account_id: str, region: str, name: str) -> Job | None:
        with self._lock:
            return self._jobs.get((kind, account_id, region, name))

    def stop_job(self, job: Job) -> None:
        """StopTrainingJob / StopProcessingJob: the job ends ``Stopped`` (its process is killed)."""
        if _is_terminal(job):
            return
        job.stop_requested.set()
        _set_status(job, "Stopping", "Stopping", "Stopping the job")
        self._terminate(job)

    # --- running one job ------------------------------------------------------------------

    def _run_guarded(self, job: Job) -> None:
        try:
            self._run(job)
        except Exception as err:  # a worker's boundary: the job must end, whatever broke
            log.exception("%s job %s failed inside the emulator", job.kind, job.name)
            if not _is_terminal(job):
                _finish(job, "Failed", "Failed", f"InternalServerError: {err}")
        finally:
            self._notify(job, self._status(job))
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _status(self, job: Job) -> str:
        record = job.record
        return str(record.training_job_status if job.kind == "training" else record.processing_job_status)

    def _notify(self, job: Job, status: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(job, status)
            except Exception:  # an observer never fails a job
                log.exception("a job status listener failed for %s", job.name)

    def _session(self, job: Job) -> tuple[Any, dict[str, str]]:
        """A boto3 session signing as the job's role, and the role's credentials."""
        import boto3

        from tenantml.emulator.iam_enforcement import role_credentials

        if not job.role_arn.startswith("arn:"):
            raise JobSetupError(f"ClientError: RoleArn {job.role_arn!r} is not a role ARN")
        try:
            credentials = role_credentials(job.role_arn, f"SageMaker-{job.name}", job.region)
        except Exception as err:
            raise JobSetupError(
                f"ClientError: SageMaker could not assume the role {job.role_arn}: {err}"
            ) from err
        session = boto3.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
            region_name=job.region,
        )
        return session, credentials

    def _client(self, session: Any, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        return session.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def _run(self, job: Job) -> None:
        if job.stop_requested.is_set() or self._stopping.is_set():
            _finish(job, "Stopped", "Stopped", "the job was stopped before it started")
            return
        started = time.monotonic()
        with job.lock:
            if job.kind == "training":
                job.record.training_start_time = _now()
            else:
                job.record.processing_start_time = _now()
        assert self._work_dir is not None
        root = self._work_dir / f"{job.kind}-{job.account_id}-{job.region}-{job.name}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        logs = _JobLog(job, self)
        try:
            session, credentials = self._session(job)
            logs.session = session
            command = self._resolve(job, session)
            _set_status(job, None, "Downloading", "Downloading input data")
            self._prepare(job, session, root)
            if job.stop_requested.is_set():
                _finish(job, "Stopped", "Stopped")
                return
            _set_status(job, None, "Training", "Training image download completed. Training in progress.")
            outcome = self._execute(job, command, root, credentials, logs, started)
            if outcome is not None:
                status, secondary, reason = outcome
                _finish(job, status, secondary, reason)
                return
            _set_status(job, None, "Uploading", "Uploading generated training model")
            self._collect(job, session, root)
            _finish(job, "Completed", "Completed")
        except JobSetupError as err:
            logs.add(str(err))
            _finish(job, "Failed", "Failed", str(err))
        except Exception as err:
            from botocore.exceptions import BotoCoreError, ClientError

            if not isinstance(err, (BotoCoreError, ClientError)):
                raise
            logs.add(_client_error(err))
            _finish(job, "Failed", "Failed", _client_error(err))
        finally:
            logs.close()
            shutil.rmtree(root, ignore_errors=True)

    def _resolve(self, job: Job, session: Any) -> list[str]:
        """Check the image exists in ECR (pulled as the role) and turn the entry point into a local command."""
        from botocore.exceptions import ClientError

        reference = parse_image_uri(job.image_uri)
        if reference is None:
            raise JobSetupError(
                f"CannotStartContainerError: the emulator runs only images from the tenant's ECR repository; "
                f"{job.image_uri!r} is not an ECR image URI"
            )
        ecr = self._client(session, "ecr", reference.region)
        try:
            found = ecr.batch_get_image(
                registryId=reference.account_id,
                repositoryName=reference.repository,
                imageIds=[reference.image_id],
            )
        except ClientError as err:
            raise JobSetupError(
                f"CannotStartContainerError: could not pull the image {job.image_uri}: {err}"
            ) from err
        if not found.get("images"):
            raise JobSetupError(
                f"CannotStartContainerError: image {job.image_uri} was not found in ECR "
                "(push it first: tenantml up pushes the tag the spec pins)"
            )
        command = job.command()
        if len(command) < 3 or command[0] not in _PYTHONS or tuple(command[1:3]) != ENTRYPOINT[1:]:
            raise JobSetupError(
                "ClientError: the emulator runs only the tenantml image's entry point "
                f"(python -m pipelines.container ...); the job asked for {command}"
            )
        return [self.python, *command[1:]]

    def _container_path(self, root: Path, path: str, what: str) -> Path:
        posix = PurePosixPath(path)
        if not posix.is_absolute() or not posix.is_relative_to(OPT_ML):
            raise JobSetupError(f"ClientError: {what} {path!r} must be an absolute path under /opt/ml")
        return root.joinpath(*posix.relative_to(OPT_ML).parts)

    def _prepare(self, job: Job, session: Any, root: Path) -> None:
        s3 = self._client(session, "s3")
        for folder in ("model", "output/data", "input/config", "code"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        if job.kind == "training":
            request = job.request
            config = root / "input" / "config"
            hyperparameters = {str(k): str(v) for k, v in (request.get("HyperParameters") or {}).items()}
            (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
            resource = request.get("ResourceConfig") or {}
            (config / "resourceconfig.json").write_text(
                json.dumps(
                    {
                        "current_host": "algo-1",
                        "hosts": ["algo-1"],
                        "current_instance_type": resource.get("InstanceType", "local"),
                        "network_interface_name": "eth0",
                    }
                ),
                encoding="utf-8",
            )
            channels = {}
            for channel in request.get("InputDataConfig") or []:
                name = channel.get("ChannelName")
                source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
                if source.get("S3DataType", "S3Prefix") != "S3Prefix" or not source.get("S3Uri"):
                    raise JobSetupError(
                        f"ClientError: channel {name!r}: the emulator supports S3DataSource with "
                        "S3DataType S3Prefix only"
                    )
                _download_prefix(
                    s3, source["S3Uri"], root / "input" / "data" / str(name), f"channel {name!r}"
                )
                channels[name] = {
                    "TrainingInputMode": channel.get("InputMode")
                    or (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File"),
                    "S3DistributionType": source.get("S3DistributionType", "FullyReplicated"),
                    "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                }
            (config / "inputdataconfig.json").write_text(json.dumps(channels), encoding="utf-8")
            return
        for item in job.request.get("ProcessingInputs") or []:
            name = item.get("InputName")
            source = item.get("S3Input") or {}
            if not source:
                raise JobSetupError(f"ClientError: processing input {name!r}: only S3Input is supported")
            if (
                source.get("S3DataType", "S3Prefix") != "S3Prefix"
                or source.get("S3InputMode", "File") != "File"
            ):
                raise JobSetupError(
                    f"ClientError: processing input {name!r}: the emulator supports S3Prefix in File mode only"
                )
            target = self._container_path(root, str(source.get("LocalPath")), f"input {name!r} LocalPath")
            _download_prefix(s3, str(source.get("S3Uri")), target, f"processing input {name!r}")
        for output in (job.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            local = (output.get("S3Output") or {}).get("LocalPath")
            if local:
                self._container_path(
                    root, str(local), f"output {output.get('OutputName')!r} LocalPath"
                ).mkdir(parents=True, exist_ok=True)

    def _environment(self, job: Job, root: Path, credentials: dict[str, str]) -> dict[str, str]:
        env = _base_environment()
        env.update({str(k): str(v) for k, v in (job.request.get("Environment") or {}).items()})
        env.update(aws_env(self.endpoint, job.region, credentials))
        env[OPT_ML_ENV] = str(root)
        env.update(_IMAGE_ENVIRONMENT)
        if job.kind == "training":
            env["TRAINING_JOB_NAME"] = job.name
            env["TRAINING_JOB_ARN"] = str(job.record.arn)
        else:
            env["PROCESSING_JOB_NAME"] = job.name
            env["PROCESSING_JOB_ARN"] = str(job.record.arn)
        return env

    def _execute(
        self,
        job: Job,
        command: list[str],
        root: Path,
        credentials: dict[str, str],
        logs: _JobLog,
        started: float,
    ) -> tuple[str, str, str] | None:
        """Run the container; None when it exited 0, else (status, secondary status, reason)."""
        process = self._start_process(command, self._environment(job, root, credentials))
        job.process, job.warm = process, isinstance(process, ZygoteChild)
        reader = threading.Thread(target=logs.pump, args=(process,), daemon=True, name=f"job-log-{job.name}")
        reader.start()
        deadline = started + job.max_runtime
        timed_out = False
        # a stop that came before the process existed found nothing to kill: it is sent from here
        stop_sent = False
        while True:
            try:
                code = process.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if job.stop_requested.is_set() and not stop_sent:
                    stop_sent = True
                    self._terminate(job)
                elif time.monotonic() >= deadline and not job.stop_requested.is_set():
                    timed_out = True
                    self._terminate(job)
        reader.join(5.0)
        job.process = None
        if timed_out:
            return (
                "Stopped",
                "MaxRuntimeExceeded",
                (
                    "MaxRuntimeExceeded: the job ran longer than StoppingCondition.MaxRuntimeInSeconds "
                    f"({job.max_runtime:g} s) and was stopped"
                ),
            )
        if job.stop_requested.is_set():
            return ("Stopped", "Stopped", "the job was stopped (StopTrainingJob/StopProcessingJob)")
        if code == 0:
            return None
        failure = root / "output" / "failure"
        reason = ""
        if failure.is_file():
            reason = failure.read_text(encoding="utf-8", errors="replace").strip()
        if not reason:
            reason = f"AlgorithmError: the container ({' '.join(job.command())}) exited with exit code {code}"
        return ("Failed", "Failed", reason)

    def _start_process(self, command: list[str], env: dict[str, str]) -> JobProcess:
        zygote = self._zygote
        if zygote is not None and not zygote.needs_cold_start(env):
            try:
                return zygote.spawn(command[2], command[3:], env=env, cwd=self.project_root)
            except ZygoteError as err:
                log.warning("starting the job's process cold: %s", err)
        return subprocess.Popen(
            command,
            cwd=self.project_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stop kills what it started too
        )

    def _terminate(self, job: Job) -> None:
        process = job.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def kill_later() -> None:
            try:
                process.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=kill_later, daemon=True, name=f"job-kill-{job.name}").start()

    def _collect(self, job: Job, session: Any, root: Path) -> None:
        s3 = self._client(session, "s3")
        if job.kind == "training":
            output = job.request.get("OutputDataConfig") or {}
            base = str(output.get("S3OutputPath") or "").rstrip("/")
            bucket, prefix = _split_s3(base, "OutputDataConfig.S3OutputPath")
            kms_key = output.get("KmsKeyId") or None
            key_prefix = "/".join(part for part in (prefix, job.name, "output") if part)
            archive = root.parent / f"{root.name}-model.tar.gz"
            try:
                _pack(root / "model", archive)
                _put_file(s3, archive, bucket, f"{key_prefix}/model.tar.gz", kms_key)
                data = root / "output" / "data"
                if any(p.is_file() for p in data.rglob("*")):
                    _pack(data, archive)
                    _put_file(s3, archive, bucket, f"{key_prefix}/output.tar.gz", kms_key)
            finally:
                archive.unlink(missing_ok=True)
            with job.lock:
                job.record.model_artifacts = {"S3ModelArtifacts": f"s3://{bucket}/{key_prefix}/model.tar.gz"}
            return
        config = job.request.get("ProcessingOutputConfig") or {}
        for output in config.get("Outputs") or []:
            target = output.get("S3Output") or {}
            if not target:
                continue
            local = self._container_path(root, str(target.get("LocalPath")), "output LocalPath")
            if local.is_dir():
                _upload_dir(s3, local, str(target.get("S3Uri")), config.get("KmsKeyId"))


class _JobLog:
    """The job's stdout/stderr, flushed to CloudWatch Logs as the job's role while it runs."""

    def __init__(self, job: Job, runner: JobRunner) -> None:
        self.job = job
        self.runner = runner
        self.session: Any = None
        self.group = LOG_GROUPS[job.kind]
        self.stream = f"{job.name}/algo-1-{int(time.time())}"
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stream_made = False
        self._broken = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name=f"job-logs-{job.name}")
        self._flusher.start()

    def add(self, line: str) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line})

    def pump(self, process: JobProcess) -> None:
        assert process.stdout is not None
        for raw in io.TextIOWrapper(process.stdout, encoding="utf-8", errors="replace"):
            line = raw.rstrip("\n")
            if line:
                self.add(line)

    def _flush_loop(self) -> None:
        while not self._stop.wait(_LOG_FLUSH_INTERVAL):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if not events or self.session is None or self._broken:
            if events and self.session is None:
                with self._lock:  # no credentials yet: keep them for the next flush
                    self._pending[:0] = events
            return
        from botocore.exceptions import BotoCoreError, ClientError

        logs = self.runner._client(self.session, "logs")
        try:
            if not self._stream_made:
                try:
                    logs.create_log_group(logGroupName=self.group)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
                except ClientError as err:  # the role may write streams into a group it cannot create
                    if "AccessDenied" not in str(err):
                        raise
                logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                self._stream_made = True
            for start in range(0, len(events), 10_000):
                logs.put_log_events(
                    logGroupName=self.group,
                    logStreamName=self.stream,
                    logEvents=events[start : start + 10_000],
                )
        except (BotoCoreError, ClientError) as err:
            # as on AWS, a role that may not write logs loses its logs, not its job
            log.warning("could not write the logs of %s job %s: %s", self.job.kind, self.job.name, err)
            self._broken = True

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(5.0)
        self.flush()


# --- hooking moto -----------------------------------------------------------------------------

_installed: dict[str, Any] = {"runner": None, "patched": False}
_install_lock = threading.Lock()


def installed_runner() -> JobRunner | None:
    return _installed["runner"]


def _patch_moto() -> None:
    """Route moto's SageMaker job calls to the installed runner (process-wide, idempotent).

    - ``SageMakerResponse.create_training_job`` / ``create_processing_job``: a name already used
      is AWS's ``ValidationException`` (moto replaced the old job); the request (``Environment``
      included, which moto drops) goes to the runner, which starts the job in the background;
    - ``stop_processing_job`` and the ``StopTrainingJob`` moto lacks: stop the running job.
    Without an installed runner, moto's own behaviour is kept.
    """
    if _installed["patched"]:
        return
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    for name in (
        "create_training_job",
        "create_processing_job",
        "stop_processing_job",
        "describe_training_job",
    ):
        if not callable(getattr(SageMakerResponse, name, None)):
            raise EmulatorError(f"moto's SageMakerResponse.{name} is gone; the job runner cannot hook it")

    def creating(kind: JobKind, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        name_key = "TrainingJobName" if kind == "training" else "ProcessingJobName"
        table = "training_jobs" if kind == "training" else "processing_jobs"

        def create(self: Any) -> Any:
            runner = installed_runner()
            if runner is None:
                return original(self)
            name = self._get_param(name_key)
            backend = self.sagemaker_backend
            if name in getattr(backend, table):
                raise ValidationError(
                    message=f"{'Training' if kind == 'training' else 'Processing'} job names must be unique "
                    f"within an AWS account and region, and a job with this name already exists ({name})"
                )
            result = original(self)
            request = json.loads(self.body) if self.body else {}
            runner.submit(kind, getattr(backend, table)[name], request, self.current_account, self.region)
            return result

        return create

    def stopping(kind: JobKind, original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        name_key = "TrainingJobName" if kind == "training" else "ProcessingJobName"
        table = "training_jobs" if kind == "training" else "processing_jobs"

        def stop(self: Any) -> Any:
            runner = installed_runner()
            name = self._get_param(name_key)
            if runner is None and original is not None:
                return original(self)
            if name not in getattr(self.sagemaker_backend, table):
                raise ValidationError(message=f"Could not find {kind} job '{name}'.")
            job = runner.find(kind, self.current_account, self.region, name) if runner else None
            if job is not None:
                runner.stop_job(job)  # type: ignore[union-attr]
            return EmptyResult()

        return stop

    SageMakerResponse.create_training_job = creating("training", SageMakerResponse.create_training_job)
    SageMakerResponse.create_processing_job = creating("processing", SageMakerResponse.create_processing_job)
    SageMakerResponse.stop_processing_job = stopping("processing", SageMakerResponse.stop_processing_job)
    SageMakerResponse.stop_training_job = stopping(
        "training", getattr(SageMakerResponse, "stop_training_job", None)
    )
    _installed["patched"] = True


def install(endpoint: str, **options: Any) -> JobRunner:
    """Start a :class:`JobRunner` and route the in-process moto's SageMaker jobs to it."""
    if not is_in_process(endpoint):
        raise EmulatorError(
            f"the SageMaker job runner needs the emulator to run in this process; {endpoint} is not one "
            "this process started (start it with tenantml.emulator.server.start)"
        )
    with _install_lock:
        if _installed["runner"] is not None:
            raise EmulatorError(
                "a SageMaker job runner is already installed in this process; uninstall it first"
            )
        _patch_moto()
        runner = JobRunner(endpoint, **options).start()
        from tenantml.emulator.eventbridge import job_state_change

        runner.listeners.append(job_state_change)  # state changes reach EventBridge, as on AWS
        _installed["runner"] = runner
    return runner


def uninstall(timeout: float = 10.0) -> None:
    """Stop the installed runner (running jobs end ``Stopped``); moto records jobs as before."""
    with _install_lock:
        runner, _installed["runner"] = _installed["runner"], None
    if runner is not None:
        runner.stop(timeout)


__all__ = [
    "DEFAULT_MAX_RUNTIME",
    "LOG_GROUPS",
    "Job",
    "JobRunner",
    "JobSetupError",
    "install",
    "installed_runner",
    "uninstall",
]
