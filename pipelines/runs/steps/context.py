"""What every step command of the pipeline image shares: its job's settings, the run record, failure.

A step runs as a SageMaker processing job started by the tenant's state machine
(``infra/orchestration_definition.py``). It learns its run from two places only:

- the job's ``Environment`` (``TENANTML_RUN_ID``, ``TENANTML_TENANT``, the buckets, the model package
  group, the KMS key and the image URI: :class:`StepEnvironment`);
- the execution input the state machine's Start state wrote to ``runs/<run_id>/input/execution.json``,
  downloaded to ``/opt/ml/processing/input/run`` (:data:`RUN_INPUT_PATH`): the run id, trigger and
  data object, and under ``settings`` the tenant's model spec and retraining window (the Configure
  state puts them there: a processing job's environment values are limited to 256 characters).

Every path is a real ``/opt/ml/...`` path resolved through :func:`core.sagemaker_paths.opt_ml`.
Outputs go to the definition's ``ProcessingOutputConfig`` local paths; the run record
(``runs/<run_id>/run.json``) is rewritten in S3 directly at every step change, so ``tenantml runs``
and ``up`` see a running run. A failing command writes ``/opt/ml/output/failure`` (the job's
``FailureReason``), marks its step failed in the run record and exits 1; the state machine's failure
path then runs ``cleanup``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from core.errors import Problem, TenantmlError, TenantResourcesError
from core.sagemaker_paths import opt_ml
from core.spec import ModelSpec
from pipelines.data.uris import s3_uri
from pipelines.registry.lineage import code_revision
from pipelines.runs.execution_input import REPRODUCE_FIELDS, reproduce_problems
from pipelines.runs.records import (
    RUN_RECORD_NAME,
    STEPS,
    RunRecord,
    StepName,
    StepRecord,
    StepStatus,
    run_prefix,
)

log = logging.getLogger(__name__)

# the container paths of infra/orchestration_definition.py (the same strings: pipelines may not import infra)
PROCESSING_ROOT = "/opt/ml/processing"
RUN_INPUT_PATH = f"{PROCESSING_ROOT}/input/run"
TRAIN_INPUT_PATH = f"{PROCESSING_ROOT}/input/train"
HOLDOUT_INPUT_PATH = f"{PROCESSING_ROOT}/input/holdout"
MODEL_INPUT_PATH = f"{PROCESSING_ROOT}/input/model"
DECISION_INPUT_PATH = f"{PROCESSING_ROOT}/input/decision"
OUTPUT_PATH = f"{PROCESSING_ROOT}/output"
EXECUTION_INPUT_NAME = "execution.json"
DECISION_NAME = "decision.json"
FAILURE_FILE = "/opt/ml/output/failure"
#: where RecordFailure puts the failure path's input (``{"failed_step", "failure": {"Error", "Cause"}}``)
FAILURE_RECORD_NAME = "failure.json"
#: the run record's ``executor``: every step is a SageMaker job
EXECUTOR = "sagemaker"
_FAILURE_LIMIT = 1024
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: field -> the job environment variable the state machine sets (``_environment`` of the definition)
_ENVIRONMENT = {
    "run_id": "TENANTML_RUN_ID",
    "tenant": "TENANTML_TENANT",
    "artifacts_bucket": "TENANTML_ARTIFACTS_BUCKET",
    "models_bucket": "TENANTML_MODELS_BUCKET",
    "model_package_group": "TENANTML_MODEL_PACKAGE_GROUP",
    "kms_key_arn": "TENANTML_KMS_KEY_ARN",
    "image_uri": "TENANTML_IMAGE_URI",
}


@dataclass(frozen=True, kw_only=True)
class StepEnvironment:
    """The job's ``Environment``, as the state machine sets it."""

    run_id: str
    tenant: str
    artifacts_bucket: str
    models_bucket: str
    model_package_group: str
    kms_key_arn: str
    image_uri: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StepEnvironment:
        missing = [variable for variable in _ENVIRONMENT.values() if not environ.get(variable)]
        if missing:
            raise TenantResourcesError(
                [
                    Problem(f"environment: {v}", "is missing; the pipeline state machine sets it")
                    for v in missing
                ],
                headline="the step's job environment is incomplete",
            )
        return cls(**{name: environ[variable] for name, variable in _ENVIRONMENT.items()})


@dataclass(frozen=True, kw_only=True)
class ReproduceRequest:
    """The execution input's ``reproduce`` block: the registered version a re-run compares with."""

    version: int
    model_package_arn: str
    artifact_uri: str
    sha256: str
    data_sha256: str
    hyperparameters: Mapping[str, str]
    holdout_fraction: float
    code_revision: str

    @classmethod
    def parse(cls, block: Any, where: str) -> tuple[ReproduceRequest | None, list[Problem]]:
        problems = [Problem(f"{where}: {p.location}", p.message, p.value) for p in reproduce_problems(block)]
        if problems:
            return None, problems
        values = {name: block[name] for name in REPRODUCE_FIELDS}
        values["hyperparameters"] = dict(block["hyperparameters"])
        values["holdout_fraction"] = float(block["holdout_fraction"])
        return cls(**values), []


@dataclass(frozen=True, kw_only=True)
class ExecutionInput:
    """``runs/<run_id>/input/execution.json``: the execution input plus the Configure state's settings."""

    run_id: str
    tenant: str
    model: str
    trigger: str
    data_bucket: str
    data_key: str
    data_version_id: str | None
    cause: Mapping[str, Any] | None
    spec: ModelSpec
    retraining_window_hours: int
    #: set for trigger ``reproduce`` (and only then): the version the run re-makes
    reproduce: ReproduceRequest | None = None

    @property
    def data_uri(self) -> str:
        return f"s3://{self.data_bucket}/{self.data_key}"

    @classmethod
    def read(cls, directory: Path, env: StepEnvironment) -> ExecutionInput:
        path = directory / EXECUTION_INPUT_NAME
        where = f"{RUN_INPUT_PATH}/{EXECUTION_INPUT_NAME}"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise TenantResourcesError([Problem(where, "is missing; the Start state writes it")]) from err
        except (ValueError, UnicodeDecodeError) as err:
            raise TenantResourcesError([Problem(where, f"is not valid JSON: {err}")]) from err
        problems: list[Problem] = []
        if not isinstance(document, dict):
            raise TenantResourcesError([Problem(where, "must be a JSON object", type(document).__name__)])
        data = document.get("data") if isinstance(document.get("data"), dict) else {}
        settings = document.get("settings") if isinstance(document.get("settings"), dict) else {}
        for name in ("run_id", "tenant", "model", "trigger"):
            if not isinstance(document.get(name), str) or not document.get(name):
                problems.append(Problem(f"{where}: {name}", "must be a non-empty string", document.get(name)))
        for name in ("bucket", "key"):
            if not isinstance(data.get(name), str) or not data.get(name):
                problems.append(
                    Problem(f"{where}: data.{name}", "must be a non-empty string", data.get(name))
                )
        if document.get("run_id") not in (None, env.run_id):
            problems.append(
                Problem(
                    f"{where}: run_id",
                    f"differs from the job's TENANTML_RUN_ID {env.run_id}",
                    document["run_id"],
                )
            )
        spec: ModelSpec | None = None
        try:
            spec = ModelSpec.model_validate(settings.get("model_spec"))
        except ValidationError as err:
            problems.extend(
                Problem(f"{where}: settings.model_spec.{'.'.join(map(str, e['loc']))}", e["msg"])
                for e in err.errors(include_url=False)
            )
        window = settings.get("retraining_window_hours", 24)
        if not isinstance(window, int) or window < 1:
            problems.append(
                Problem(f"{where}: settings.retraining_window_hours", "must be a positive integer", window)
            )
        reproduce = None
        if document.get("trigger") == "reproduce":
            reproduce, found = ReproduceRequest.parse(document.get("reproduce"), where)
            problems.extend(found)
        if problems or spec is None:
            raise TenantResourcesError(problems, headline="the run's execution input cannot be used")
        return cls(
            run_id=document["run_id"],
            tenant=document["tenant"],
            model=document["model"],
            trigger=document["trigger"],
            data_bucket=data["bucket"],
            data_key=data["key"],
            data_version_id=data.get("version_id") or None,
            cause=document.get("cause"),
            spec=spec,
            retraining_window_hours=window,
            reproduce=reproduce,
        )


@dataclass
class StepContext:
    """One step command's run: its settings, execution input, scratch directory and AWS clients."""

    env: StepEnvironment
    work: Path
    region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _execution: ExecutionInput | None = None

    @classmethod
    def from_job(cls, environ: Mapping[str, str], work: Path) -> StepContext:
        return cls(
            env=StepEnvironment.from_env(environ),
            work=work,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        )

    @property
    def run_id(self) -> str:
        return self.env.run_id

    @property
    def execution(self) -> ExecutionInput:
        if self._execution is None:
            self._execution = ExecutionInput.read(opt_ml(RUN_INPUT_PATH), self.env)
        return self._execution

    def client(self, service: str) -> Any:
        """Made on first use with the job's credentials (the job role's, from the container's environment)."""
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.session.Session(region_name=self.region).client(service)
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sagemaker(self) -> Any:
        return self.client("sagemaker")

    # --- S3 locations of the run ----------------------------------------------------------------

    def run_key(self, relative: str) -> str:
        return f"{run_prefix(self.run_id)}/{relative}"

    def run_uri(self, relative: str) -> str:
        return s3_uri(self.env.artifacts_bucket, self.run_key(relative))

    def output_dir(self, name: str) -> Path:
        """``/opt/ml/processing/output/<name>``: uploaded to ``runs/<run_id>/<name>/`` when the job ends well."""
        path = opt_ml(f"{OUTPUT_PATH}/{name}")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- the run record ------------------------------------------------------------------------

    def read_record(self) -> RunRecord | None:
        try:
            body = self.s3.get_object(Bucket=self.env.artifacts_bucket, Key=self.run_key(RUN_RECORD_NAME))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return RunRecord.model_validate_json(body["Body"].read())

    def new_record(self) -> RunRecord:
        execution = self.execution
        return RunRecord(
            run_id=self.run_id,
            tenant=self.env.tenant,
            model_name=execution.spec.name,
            trigger=execution.trigger,
            record_uri=self.run_uri(RUN_RECORD_NAME),
            executor=EXECUTOR,
            code_revision=code_revision(),
            started_at=datetime.now(UTC),
            steps=[StepRecord(name=name) for name in STEPS],
            data_uri=execution.data_uri,
            data_version_id=execution.data_version_id,
        )

    def record(self) -> RunRecord:
        """The run record, or a new one (the first step, or a run that failed before it wrote one)."""
        return self.read_record() or self.new_record()

    def save_record(self, record: RunRecord) -> None:
        self.s3.put_object(
            Bucket=self.env.artifacts_bucket,
            Key=self.run_key(RUN_RECORD_NAME),
            Body=record.model_dump_json(indent=2).encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )

    @contextmanager
    def step(self, record: RunRecord, name: StepName) -> Iterator[StepRecord]:
        """Mark ``name`` running, then succeeded or failed (with the error) in the saved run record."""
        step = record.step(name)
        step.status = StepStatus.RUNNING
        step.started_at = datetime.now(UTC)
        step.error = None
        self.save_record(record)
        started = time.perf_counter()
        try:
            yield step
        except Exception as err:
            step.status = StepStatus.FAILED
            step.error = describe(err)
            record.failed_step = name
            record.error = step.error
            record.error_type = type(err).__name__
            raise
        finally:
            step.seconds = round(time.perf_counter() - started, 3)
            step.finished_at = datetime.now(UTC)
            if step.status is StepStatus.RUNNING:
                step.status = StepStatus.SUCCEEDED
            self.save_record(record)


def describe(err: BaseException) -> str:
    """tenantml's own errors explain themselves; anything else is named by its type."""
    return str(err) if isinstance(err, TenantmlError) else f"{type(err).__name__}: {err}"


def unpack_single_archive(directory: Path, destination: Path) -> Path:
    """The one ``*.tar.gz`` a processing input downloaded (the training job's ``model.tar.gz``), unpacked."""
    archives = sorted(directory.rglob("*.tar.gz")) if directory.is_dir() else []
    if len(archives) != 1:
        raise TenantResourcesError(
            [
                Problem(
                    str(directory), f"must hold exactly one model archive (*.tar.gz), found {len(archives)}"
                )
            ]
        )
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archives[0], "r:gz") as archive:
        archive.extractall(destination, filter="data")
    return destination


def run_command(
    name: str, body: Callable[[StepContext], dict[str, Any] | None], argv: Sequence[str] = ()
) -> int:
    """Run one step command: 0 on success (a JSON summary on stdout), 1 with the failure file otherwise."""
    import tempfile

    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT, stream=sys.stderr)
    if argv:
        print(
            f"{name}: takes no arguments (got {' '.join(argv)}); its settings come from the job",
            file=sys.stderr,
        )
        _write_failure(f"{name}: unexpected arguments {list(argv)}")
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix=f"tenantml-{name}-") as scratch:
            context = StepContext.from_job(os.environ, Path(scratch))
            summary = body(context)
    # the job boundary: whatever a step raises becomes the job's FailureReason
    except Exception as err:
        message = describe(err)
        log.error("step %s failed: %s", name, message, exc_info=not isinstance(err, TenantmlError))
        _write_failure(message)
        return 1
    print(json.dumps({name: summary or {}}, default=str))
    return 0


def _write_failure(message: str) -> None:
    path = opt_ml(FAILURE_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:_FAILURE_LIMIT], encoding="utf-8")
    except OSError as err:
        print(f"could not write the failure reason to {path}: {err}", file=sys.stderr)


__all__ = [
    "DECISION_INPUT_PATH",
    "DECISION_NAME",
    "EXECUTION_INPUT_NAME",
    "FAILURE_FILE",
    "FAILURE_RECORD_NAME",
    "HOLDOUT_INPUT_PATH",
    "MODEL_INPUT_PATH",
    "OUTPUT_PATH",
    "RUN_INPUT_PATH",
    "TRAIN_INPUT_PATH",
    "ExecutionInput",
    "ReproduceRequest",
    "StepContext",
    "StepEnvironment",
    "describe",
    "run_command",
    "unpack_single_archive",
]
