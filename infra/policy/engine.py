"""Run every rule over every resource of a synthesized stack and apply suppressions.

Suppressions come from two places and are always reported, never silent:

* the tenant spec: ``suppressions: [{rule_id, reason, address}]`` where ``address`` is a glob
  over Terraform addresses (``aws_s3_bucket.storage_*``; ``*`` = the whole stack);
* a construct: a marker in its resource's ``//`` metadata,
  ``{"tenantml": {"suppressions": [{"rule_id": "TM-S3-002", "reason": "..."}]}}``, which applies
  to that resource only.

A suppression naming an unknown rule, or without a reason of at least 10 characters, is a
``TM-POLICY-001`` finding itself (not suppressible). Suppressions that matched nothing are
listed as unused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from infra.policy.model import RULE_ID_PATTERN, Finding, Rule, Severity, Status, SuppressionEntry
from infra.policy.rules import RULES, RULES_BY_ID
from infra.policy.stack import SynthStack

POLICY_RULE_ID = "TM-POLICY-001"
MIN_REASON_LENGTH = 10


@dataclass
class StackPolicyResult:
    tenant: str
    #: every non-compliant verdict, suppressed ones included, sorted by rule id then address
    findings: list[Finding] = field(default_factory=list)
    #: how many (rule, resource) pairs were applicable (compliant or not)
    evaluated: int = 0
    suppressions: list[SuppressionEntry] = field(default_factory=list)
    unused_suppressions: list[SuppressionEntry] = field(default_factory=list)

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.active if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.active if f.severity is Severity.WARNING]

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed]

    @property
    def passed(self) -> bool:
        return not self.errors


def spec_suppressions(suppressions: Sequence[Any]) -> list[SuppressionEntry]:
    """Suppressions from a tenant spec (``TenantSpec.suppressions``: objects with rule_id, reason, address)."""
    return [SuppressionEntry(s.rule_id, s.reason, s.address, "spec") for s in suppressions]


def _marker_entries(stack: SynthStack) -> tuple[list[SuppressionEntry], list[Finding]]:
    entries, problems = [], []
    for resource in stack.resources:
        raw = resource.markers.get("suppressions", [])
        for i, item in enumerate(raw if isinstance(raw, list) else [raw]):
            rule_id = item.get("rule_id") if isinstance(item, Mapping) else None
            reason = item.get("reason") if isinstance(item, Mapping) else None
            if not isinstance(rule_id, str) or not RULE_ID_PATTERN.match(rule_id):
                problems.append(
                    _policy_finding(
                        resource.address, f"construct suppression [{i}] has no valid rule_id: {item!r}"
                    )
                )
            elif not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
                problems.append(
                    _policy_finding(
                        resource.address,
                        f"construct suppression of {rule_id} needs a written reason of at least {MIN_REASON_LENGTH} characters",
                    )
                )
            else:
                entries.append(SuppressionEntry(rule_id, reason.strip(), resource.address, "construct"))
    return entries, problems


def _policy_finding(address: str, message: str) -> Finding:
    meta = RULES_BY_ID[POLICY_RULE_ID]
    return Finding(meta.id, meta.severity, meta.title, address, message)


def check_stack(
    stack: SynthStack,
    suppressions: Sequence[SuppressionEntry] = (),
    rules: Sequence[Rule] = RULES,
) -> StackPolicyResult:
    """Evaluate ``rules`` on every resource of ``stack``; apply spec and construct suppressions."""
    markers, problems = _marker_entries(stack)
    known_ids = {r.id for r in RULES}
    usable: list[SuppressionEntry] = []
    for i, entry in enumerate([*suppressions, *markers]):
        if entry.rule_id not in known_ids:
            where = f"suppressions[{i}]" if entry.source == "spec" else entry.address
            problems.append(
                _policy_finding(where, f"{entry.source} suppression names unknown rule {entry.rule_id}")
            )
        elif entry.rule_id == POLICY_RULE_ID:
            problems.append(_policy_finding(entry.address, f"{POLICY_RULE_ID} cannot be suppressed"))
        else:
            usable.append(entry)

    result = StackPolicyResult(stack.name, suppressions=usable)
    used: set[SuppressionEntry] = set()
    findings: list[Finding] = []
    for rule in rules:
        for resource in stack.resources:
            verdict = rule.evaluate(resource, stack)
            if verdict.status is Status.NOT_APPLICABLE:
                continue
            result.evaluated += 1
            if verdict.status is Status.COMPLIANT:
                continue
            match = next(
                (s for s in usable if s.rule_id == rule.id and fnmatchcase(resource.address, s.address)), None
            )
            if match is not None:
                used.add(match)
            findings.append(
                Finding(rule.id, rule.severity, rule.title, resource.address, verdict.message, match)
            )
    result.findings = sorted([*findings, *problems], key=lambda f: (f.rule_id, f.address, f.message))
    result.unused_suppressions = [s for s in usable if s not in used]
    return result
