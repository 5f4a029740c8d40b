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
