"""The reports ``tenantml preview`` and ``tenantml check`` produce, independent of their format.

Everything is sorted and free of timestamps and absolute paths, so the same change gives the
same report byte for byte (the PR comment is updated only when something really changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.spec import TenantSpec
from core.stack_names import tenant_of_stack
from core.terraform.diff import Action
from infra.policy import StackPolicyResult, SynthStack, check_stack, spec_suppressions
from tenantml.preview.cost import (
    CostChange,
    StackCost,
    assumptions,
    cost_changes,
    estimate_stack,
    load_prices,
)
from tenantml.preview.diff import StackDiff, TenantStatus, diff_stacks


@dataclass
class TenantPreview:
    tenant: str
    diff: StackDiff
    #: policy verdicts on the head stack (None for a removed tenant)
    policy: StackPolicyResult | None
    cost_before: StackCost | None
    cost_after: StackCost | None
    cost_changes: list[CostChange] = field(default_factory=list)

    @property
    def status(self) -> TenantStatus:
        return self.diff.status

    @property
    def monthly_before(self) -> float:
        return self.cost_before.total if self.cost_before else 0.0

    @property
    def monthly_after(self) -> float:
        return self.cost_after.total if self.cost_after else 0.0

    @property
    def has_details(self) -> bool:
        policy = self.policy
        return (
            self.status is not TenantStatus.UNCHANGED
            or bool(self.cost_changes)
            or (policy is not None and bool(policy.findings or policy.suppressions))
        )


@dataclass(frozen=True)
class DataWarning:
    tenant: str
    address: str
    action: Action
    loses: str


@dataclass
class PreviewReport:
    base: str
    tenants: list[TenantPreview]
    assumptions: list[str]
    price_table: str
    #: tenants left out because nothing their stacks are built from changed (unchanged, not synthesized)
    not_synthesized: int = 0

    def count(self, status: TenantStatus) -> int:
        return sum(1 for t in self.tenants if t.status is status)

    @property
    def policy_failed(self) -> bool:
        return any(t.policy is not None and not t.policy.passed for t in self.tenants)

    @property
    def data_warnings(self) -> list[DataWarning]:
        return [
            DataWarning(t.tenant, c.address, c.action, c.data_loss)
            for t in self.tenants
            for c in t.diff.destructive
        ]

    @property
    def state_warnings(self) -> list[tuple[str, str]]:
        """(tenant, argument path) of every Terraform backend change: the state would move."""
        return [(t.tenant, s.path) for t in self.tenants for s in t.diff.state_changes]


@dataclass
class CheckReport:
    tenants: list[StackPolicyResult]

    @property
    def failed(self) -> bool:
        return any(not t.passed for t in self.tenants)


def known_tenants(specs: Sequence[TenantSpec]) -> dict[str, str]:
    return {s.name: s.environment.value for s in specs}


def check_tenant(
    spec: TenantSpec | None, tenant: str, doc: Mapping[str, Any], known: Mapping[str, str]
) -> StackPolicyResult:
    suppressions = spec_suppressions(spec.suppressions) if spec is not None else []
    return check_stack(SynthStack(tenant, doc, known), suppressions)


def build_check_report(
    specs: Sequence[TenantSpec], stacks: Mapping[str, Mapping[str, Any]], known: Mapping[str, str]
) -> CheckReport:
    by_name = {s.name: s for s in specs}
    # a tenant's Kubernetes stack takes the tenant's suppressions
    return CheckReport(
        [check_tenant(by_name.get(tenant_of_stack(t)), t, stacks[t], known) for t in sorted(stacks)]
    )


def build_preview_report(
    base_ref: str,
    base_stacks: Mapping[str, Mapping[str, Any]],
    head_stacks: Mapping[str, Mapping[str, Any]],
    specs: Sequence[TenantSpec],
    on: date | None = None,
    not_synthesized: int = 0,
) -> PreviewReport:
    """Diff, policy and cost for every tenant in either synthesis, priced on ``on`` (today);
    ``not_synthesized`` more tenants are unchanged because none of their inputs changed."""
    prices = load_prices()
    on = on or date.today()
    known = known_tenants(specs)
    by_name = {s.name: s for s in specs}
    tenants = []
    for tenant in sorted(set(base_stacks) | set(head_stacks)):
        base, head = base_stacks.get(tenant), head_stacks.get(tenant)
        before = estimate_stack(base, prices, on) if base is not None else None
        after = estimate_stack(head, prices, on) if head is not None else None
        tenants.append(
            TenantPreview(
                tenant,
                diff_stacks(tenant, base, head),
                check_tenant(by_name.get(tenant_of_stack(tenant)), tenant, head, known)
                if head is not None
                else None,
                before,
                after,
                cost_changes(before, after),
            )
        )
    return PreviewReport(base_ref, tenants, assumptions(prices, on), prices.label, not_synthesized)


__all__ = [
    "CheckReport",
    "DataWarning",
    "PreviewReport",
    "TenantPreview",
    "build_check_report",
    "build_preview_report",
    "known_tenants",
]
