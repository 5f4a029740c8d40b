"""The vocabulary of policy checks: rules, their verdicts, and findings.

A rule is one function with an id (``TM-S3-001``), a severity, a title and an explanation.
It is handed one synthesized resource at a time (plus the stack it belongs to, for rules that
look at related resources) and returns a :class:`Result`: compliant, non-compliant (with a
message saying what is wrong and what to do) or not applicable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.policy.stack import SynthResource, SynthStack

#: the same pattern the tenant spec's ``Suppression.rule_id`` accepts
RULE_ID_PATTERN = re.compile(r"^TM-[A-Z0-9]+-\d{3}$")


class Severity(StrEnum):
    #: fails ``tenantml check`` / ``tenantml preview`` (exit 1) unless suppressed or ``--warn-only``
    ERROR = "error"
    #: reported, never fails a run
    WARNING = "warning"


class Status(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Result:
    status: Status
    message: str = ""

    @classmethod
    def ok(cls) -> Result:
        return cls(Status.COMPLIANT)

    @classmethod
    def fail(cls, message: str) -> Result:
        return cls(Status.NON_COMPLIANT, message)

    @classmethod
    def skip(cls, message: str = "") -> Result:
        return cls(Status.NOT_APPLICABLE, message)


Check = Callable[["SynthResource", "SynthStack"], Result]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    explanation: str
    #: resource types the rule looks at; ``None`` means every resource and pseudo-resource
    applies_to: tuple[str, ...] | None
    check: Check

    def evaluate(self, resource: SynthResource, stack: SynthStack) -> Result:
        if self.applies_to is not None and resource.type not in self.applies_to:
            return Result.skip()
        return self.check(resource, stack)


@dataclass(frozen=True)
class SuppressionEntry:
    """An accepted finding: from the tenant spec (``source="spec"``) or a construct's marker."""

    rule_id: str
    reason: str
    address: str
    source: str


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    title: str
    address: str
    message: str
    suppressed_by: SuppressionEntry | None = None

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None
