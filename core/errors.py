"""One error hierarchy for tenantml, with a subclass per named condition.

Every user-facing error says what was wrong, where (file, field, record) and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


class TenantmlError(Exception):
    """Base class of every error tenantml raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, the bad value, and what is allowed."""

    location: str
    message: str
    value: object = None

    def __str__(self) -> str:
        shown = "" if self.value is None else f" (got {self.value!r})"
        return f"{self.location}: {self.message}{shown}"


class ProblemsError(TenantmlError):
    """An error that lists every problem found, not just the first."""

    headline = "invalid input"

    def __init__(self, problems: list[Problem], headline: str | None = None) -> None:
        self.problems = list(problems)
        if headline:
            self.headline = headline
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.headline} ({len(self.problems)} problem(s)):\n{lines}")


class TenantSpecError(ProblemsError):
    """One or more tenant spec files are invalid; nothing was written."""

    exit_code = 2
    headline = "invalid tenant spec"


class ConstructPropsError(ProblemsError):
    """A construct was given props that break one of its rules."""

    headline = "invalid construct props"


class UsageError(TenantmlError):
    """The command was called wrongly (unknown tenant, missing directory, ...)."""

    exit_code = 2


class DataValidationError(ProblemsError):
    """A dataset is unreadable (corrupt, empty, unknown format) or fails a data check.

    Each problem names the file and, for a failed check, the column and the check.
    """

    headline = "invalid dataset"


class DatasetTooLargeError(DataValidationError):
    """A dataset is bigger than the configured byte limit; it was not read."""

    headline = "dataset exceeds the size limit"


class DatasetNotFoundError(ProblemsError):
    """A dataset path or S3 object does not exist."""

    headline = "dataset not found"


class TrainingConfigError(ProblemsError):
    """Training hyperparameters (or the data they refer to) are invalid; nothing was trained."""

    headline = "invalid training configuration"


class ModelArtifactError(ProblemsError):
    """A model directory or archive is missing files, unsafe to extract, or fails its checksum."""

    headline = "invalid model artifact"


class ModelRegistryError(TenantmlError):
    """The model registry refused an operation or holds data tenantml cannot read."""


class ModelVersionNotFoundError(ModelRegistryError):
    """No model version with this number or alias exists in the model package group."""


class TerraformDocumentError(ProblemsError):
    """A synthesized Terraform JSON document cannot be read: a missing file or invalid JSON."""

    exit_code = 2
    headline = "the Terraform JSON document cannot be read"


class ModelNotApprovedError(ModelRegistryError):
    """A version that is not approved was asked to become champion; no alias moved."""

    exit_code = 2


# --- the embedded AWS emulator (tenantml/emulator) ---------------------------------------


class EmulatorError(TenantmlError):
    """Base class of the errors the embedded AWS emulator raises."""


class EmulatorPortInUseError(EmulatorError):
    """The port explicitly asked for the emulator is already taken by another process."""

    exit_code = 2


class EmulatorPlanError(ProblemsError):
    """A Terraform JSON document cannot be applied; nothing was created.

    Lists every problem at once: dependency cycles, references to resources that are not in
    the document, unsupported resource types and expressions.
    """

    exit_code = 2
    headline = "the stack cannot be applied to the emulator"


class EmulatorStateError(EmulatorError):
    """A state file is unreadable, corrupt or hand-edited; it is never silently re-created."""


class EmulatorStateLockedError(EmulatorStateError):
    """Another apply, plan or destroy of the same tenant holds its state file; nothing was changed."""


class EmulatorApplyError(EmulatorError):
    """An emulator call failed while applying one resource; the state file lists what exists."""

    def __init__(self, message: str, *, address: str | None = None, action: str | None = None) -> None:
        self.address = address
        self.action = action
        super().__init__(message)


class EmulatorInjectedFailureError(EmulatorApplyError):
    """A failure injected on purpose (``TENANTML_EMULATOR_FAIL_AT``) to test resuming."""


class AlarmDefinitionError(ProblemsError, EmulatorError):
    """A CloudWatch alarm the emulator's alarm evaluation cannot evaluate (each problem names the alarm and field)."""

    headline = "alarm cannot be evaluated"


# --- pipeline runs (pipelines/runs/steps, resources) --------------------------------------------


class TenantResourcesError(ProblemsError):
    """The stack outputs or environment variables a pipeline run needs are missing or unresolved."""

    exit_code = 2
    headline = "tenant resources are incomplete"


class ReproductionError(TenantmlError):
    """A registered version cannot be re-run from its lineage: it has no lineage or no recorded
    settings, the settings are invalid, or its data is gone or changed since it was trained."""

    exit_code = 2


class TrainingJobFailedError(TenantmlError):
    """A training job (in-process, SageMaker, emulated SageMaker) failed; ``reason`` says why."""

    def __init__(self, message: str, *, job_name: str | None = None, reason: str | None = None) -> None:
        self.job_name = job_name
        self.reason = reason
        super().__init__(message)


class SearchWorkerError(TenantmlError):
    """A hyperparameter search worker process ended without reporting its trial (killed by a
    signal, out of memory); the search stops, as it does when a trial raises."""


class PipelineRunError(TenantmlError):
    """A pipeline run failed: which run, which step, and why (the run record has the details)."""

    def __init__(self, message: str, *, run_id: str, step: str | None, reason: str) -> None:
        self.run_id = run_id
        self.step = step
        self.reason = reason
        super().__init__(message)


class PipelineExecutionTimeoutError(TenantmlError):
    """A pipeline run's state machine execution did not start or end in the time given."""


class RetrainContentionError(TenantmlError):
    """The retrain cooldown kept changing under concurrent alarms; the alarm Lambda's retry settles it."""


# --- model serving (pipelines/serving) ------------------------------------------------------


class ServingError(TenantmlError):
    """Base class of the errors the model server and batch inference raise."""


class ModelNotServableError(ServingError):
    """A model version cannot be served: no lineage to verify it, a failed checksum, or an
    artifact that does not load. The server never answers /ping with 200 for such a version."""


class ModelExportError(ServingError):
    """A fitted pipeline cannot be exported to ONNX, or its ONNX export disagrees with scikit-learn."""


class ServingConfigError(ServingError):
    """The server or batch job was configured wrongly (outputs file, tenant, stream, paths)."""

    exit_code = 2


class InferenceInputError(ServingError):
    """A request body the model cannot take; ``status_code`` is the HTTP status it maps to."""

    status_code = 400
    code = "invalid_input"

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        super().__init__(message)


class MonitoringError(TenantmlError):
    """Base class of the errors of drift and health monitoring (``pipelines.monitoring.monitor``, ``drift_report``)."""


class BaselineNotFoundError(MonitoringError):
    """No training baseline can be found for a model version seen on the stream."""


class NoSnapshotsError(MonitoringError):
    """No monitoring snapshot exists yet for a model (nothing was served, or the monitor never ran)."""


class LabelsFileError(MonitoringError):
    """A ground-truth labels file under ``labels/`` is malformed (unreadable, a missing column, an
    empty request id or label, a request id twice). The message names the file and the row; the
    monitor reports the file and joins the others."""


class InferenceRecordError(TenantmlError):
    """A record on the inference-log stream is not a valid inference record (not base64 or JSON,
    a missing or mistyped field, rows of the wrong width, a non-numeric value in a numeric column).
    The monitor counts and skips such a record; the message names the field or row."""


# --- the emulator's local Lambda runtime (tenantml/emulator/runtime) ----------------------


class LambdaRuntimeError(EmulatorError):
    """Base class of the errors the emulator's local Lambda runtime raises."""


class LambdaRuntimeInstallError(LambdaRuntimeError):
    """The Lambda runtime cannot be hooked into this emulator (not in this process, or another runtime is installed)."""


class MotoInternalsChangedError(LambdaRuntimeInstallError):
    """moto's internals no longer have the shape the Lambda runtime hooks into; nothing was patched.

    Lists every changed function or attribute. moto is pinned exactly in ``pyproject.toml``
    for this reason: reinstall the pinned version, or update ``tenantml/emulator/runtime/moto_hooks.py``.
    """

    def __init__(self, problems: list[str], version: str) -> None:
        self.problems = list(problems)
        self.version = version
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"moto {version} does not have the internals the Lambda runtime hooks into "
            f"({len(self.problems)} problem(s)):\n{lines}\n"
            "install the moto version pinned in pyproject.toml, or update tenantml/emulator/runtime/moto_hooks.py"
        )


class LambdaCodeError(LambdaRuntimeError):
    """A function's code package cannot be run locally (not a zip, an image, or an unsafe entry)."""


# --- tenantml up ----------------------------------------------------------------------------


class EmulatorAlreadyRunningError(UsageError):
    """Another ``tenantml up`` owns the emulator in this directory; a second one would corrupt it."""


# --- Lambda packages (infra/assets.py at synthesis, the emulator at apply) ------------------


class LambdaPackageError(TenantmlError):
    """A Lambda function's package cannot work on AWS: it imports a compiled distribution, needs a
    library that is not installed, or is over one of AWS's package limits. Raised at synthesis and
    by the emulator's apply, before anything is deployed."""


# --- CLI commands acting as a workload's role (tenantml/workload_roles.py) -------------------------


class WorkloadAccessDeniedError(TenantmlError):
    """AWS denied a request a command made as a workload's role: the role's policy lacks a permission.

    The message names the command, the role and AWS's own answer (action and resource)."""


# --- feature store (pipelines/features) -----------------------------------------------------


class FeatureStoreError(TenantmlError):
    """Base of the feature store's errors."""


class FeatureDataError(ProblemsError, FeatureStoreError):
    """Landed feature rows or an entity table break the view's schema or rules; each problem names
    the file, the column and the row. Nothing was written to either store."""

    exit_code = 2
    headline = "invalid feature data"


class FeatureNotFoundError(FeatureStoreError):
    """An entity has no live row in a view (none materialized, or older than the view's TTL) and
    the view declares no default for a feature the model needs."""

    exit_code = 3

    def __init__(self, view: str, entity: dict[str, object]) -> None:
        self.view = view
        self.entity = dict(entity)
        keys = ", ".join(f"{k}={v}" for k, v in self.entity.items())
        super().__init__(f"no live features for {keys} in view {view!r} (not materialized, or past its TTL)")


class FeatureStoreConfigError(FeatureStoreError):
    """The tenant's feature store is not deployed or does not match its spec (a view without a
    table, a table whose columns differ); the message says which and what to run."""

    exit_code = 2


class SynthesisError(TenantmlError):
    """A synthesis worker process failed; the message carries its error output. Nothing was published."""
