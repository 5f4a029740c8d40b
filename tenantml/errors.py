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


class EmulatorApplyError(EmulatorError):
    """An emulator call failed while applying one resource; the state file lists what exists."""

    def __init__(self, message: str, *, address: str | None = None, action: str | None = None) -> None:
        self.address = address
        self.action = action
        super().__init__(message)


class EmulatorInjectedFailureError(EmulatorApplyError):
    """A failure injected on purpose (``TENANTML_EMULATOR_FAIL_AT``) to test resuming."""
