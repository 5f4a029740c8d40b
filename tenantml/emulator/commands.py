"""Plain functions behind ``tenantml plan|apply|destroy`` on the emulator; they return data, the CLI prints.

Each stack is ``<out_dir>/stacks/<stack>/cdk.tf.json`` and its state ``<state_dir>/<stack>.json``:
a tenant's stack is named after the tenant, and an EKS tenant has a second one, ``<tenant>-kubernetes``,
applied after it and destroyed before it. Every function checks every requested stack before touching
the emulator: a problem in one tenant's stack stops the whole command, with every problem
of every stack listed in one :class:`~core.errors.EmulatorPlanError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import EmulatorPlanError, UsageError
from core.stack_names import kubernetes_stack_name, tenant_of_stack
from core.terraform.document import Document
from tenantml.emulator.apply import (
    ApplyResult,
    DestroyResult,
    HandlerContexts,
    ProgressEvent,
    apply,
    destroy,
    load_current_state,
)
from tenantml.emulator.graph import Graph, load_document
from tenantml.emulator.plan import Plan, check_document, make_plan
from tenantml.emulator.plan import render_plan as _render_plan
from tenantml.emulator.recovery import refresh, resolve_intents
from tenantml.emulator.resources import HANDLERS
from tenantml.emulator.session import DEFAULT_REGION, AwsSession, is_in_process, make_session
from tenantml.emulator.state import STATE_LOCK_TIMEOUT_S, load_state, locked_state, state_path

STACK_FILE = "cdk.tf.json"
#: where ``tenantml up`` keeps the emulator's state files, relative to the project
DEFAULT_STATE_DIR = Path(".tenantml/state")

TenantProgress = Callable[[str, ProgressEvent], None]


@dataclass(frozen=True)
class TenantPlan:
    tenant: str
    stack_file: Path
    state_file: Path
    plan: Plan


@dataclass(frozen=True)
class TenantApply:
    tenant: str
    stack_file: Path
    state_file: Path
    result: ApplyResult

    @property
    def outputs(self) -> dict[str, object]:
        return dict(self.result.outputs)


@dataclass(frozen=True)
class TenantDestroy:
    tenant: str
    state_file: Path
    result: DestroyResult


def find_stacks(out_dir: Path, tenants: Sequence[str] | None = None) -> dict[str, Path]:
    """stack -> ``cdk.tf.json`` of every synthesized stack (or of the tenants named), in apply order:
    each tenant's stack, then its Kubernetes stack (``<tenant>-kubernetes``), which reads the cluster."""
    stacks_dir = out_dir / "stacks"
    found = (
        {p.parent.name: p for p in sorted(stacks_dir.glob(f"*/{STACK_FILE}"))} if stacks_dir.is_dir() else {}
    )
    if not found:
        raise UsageError(f"no synthesized stacks in {stacks_dir}; run `tenantml synth` first")
    names = list(tenants) if tenants else sorted({tenant_of_stack(s) for s in found})
    unknown = [t for t in names if t not in found and kubernetes_stack_name(t) not in found]
    if unknown:
        raise UsageError(
            f"no synthesized stack for tenant(s) {', '.join(unknown)} in {stacks_dir}; "
            f"known: {', '.join(found)}"
        )
    ordered: dict[str, Path] = {}
    for tenant in names:
        for stack in (tenant, kubernetes_stack_name(tenant)):
            if stack in found:
                ordered[stack] = found[stack]
    return ordered


def _load_all(stacks: dict[str, Path]) -> dict[str, tuple[Document, Graph]]:
    """Parse and check every stack (its dependency graph); one error lists the problems of all of them."""
    documents: dict[str, tuple[Document, Graph]] = {}
    problems = []
    for tenant, path in stacks.items():
        try:
            document = load_document(path)
            documents[tenant] = (document, check_document(document))
        except EmulatorPlanError as err:
            problems.extend(err.problems)
    if problems:
        raise EmulatorPlanError(problems)
    return documents


def _session(endpoint: str | AwsSession) -> AwsSession:
    return endpoint if isinstance(endpoint, AwsSession) else make_session(endpoint, DEFAULT_REGION)


def _account_session(session: AwsSession, account_id: str | None) -> AwsSession:
    """``session`` signing as the administrator of ``account_id`` when the in-process emulator enforces IAM.

    Accounts come with enforcement (one switch for AWS's strictness): with IAM off every tenant
    stays in the emulator's account, as before. Another process (``tenantml apply`` next to a
    running ``up``) signs as the account's administrator, which the emulator's process made when
    it applied the tenant; the emulator puts keys it does not know (IAM off) in its default account.
    """
    if not is_in_process(session.endpoint):
        return session.for_account(account_id)
    from tenantml.emulator.iam_enforcement import ensure_admin, is_enforced

    if not is_enforced():
        return session
    scoped = session.for_account(account_id)
    ensure_admin(scoped.account_id)
    return scoped


def _document_account(document: Document) -> str | None:
    """The account a stack is for: the AWS provider's first ``allowed_account_ids`` (the tenant's ``account_id``)."""
    allowed = document.providers.get("aws", {}).get("allowed_account_ids") or []
    return allowed[0] if allowed and isinstance(allowed[0], str) else None


def _state_account(path: Path) -> str | None:
    """The account a tenant's state was applied in (None before any apply recorded it)."""
    if not path.is_file():
        return None
    account = load_state(path).meta.get("account_id")
    return account if isinstance(account, str) else None


def plan_tenants(
    out_dir: Path,
    tenants: Sequence[str] | None,
    state_dir: Path,
    endpoint: str | AwsSession,
    *,
    lock_timeout: float = STATE_LOCK_TIMEOUT_S,
    on_lock_wait: Callable[[str], None] | None = None,
) -> list[TenantPlan]:
    """What ``apply_tenants`` would do for each tenant; changes nothing (data sources are read).

    Each tenant's state is held while it is planned, so a plan never reads an apply half-way.
    The plan starts from the state refreshed in memory against the emulator (what an
    interrupted apply created is counted, a resource deleted or changed behind the engine's
    back shows as a create or an update); the state file is not written.
    """
    stacks = find_stacks(out_dir, tenants)
    documents = _load_all(stacks)
    session = _session(endpoint)
    plans = []
    for tenant, (document, graph) in documents.items():
        path = state_path(state_dir, tenant)
        tenant_session = _account_session(session, _document_account(document))
        with locked_state(path, timeout=lock_timeout, on_wait=on_lock_wait):
            state, notes = load_current_state(path, tenant_session, set_aside=False)
            contexts = HandlerContexts(tenant_session, document, stacks[tenant].parent)
            notes += resolve_intents(state, HANDLERS, contexts.for_address, persist=False)
            notes += refresh(state, HANDLERS, contexts.for_address, persist=False).notes()
            plan = make_plan(document, state, graph=graph, notes=notes, read_data=contexts.read_data(state))
        plans.append(TenantPlan(tenant, stacks[tenant], path, plan))
    return plans


def apply_tenants(
    out_dir: Path,
    tenants: Sequence[str] | None,
    state_dir: Path,
    endpoint: str | AwsSession,
    *,
    on_progress: TenantProgress | None = None,
    fail_at: str | set[str] | None = None,
    lock_timeout: float = STATE_LOCK_TIMEOUT_S,
    on_lock_wait: Callable[[str], None] | None = None,
    on_tenant_applied: Callable[[TenantApply], None] | None = None,
) -> list[TenantApply]:
    """Apply every tenant's stack to the emulator, one tenant after the other.

    All stacks are checked before the first resource is created. Raises
    :class:`~core.errors.EmulatorApplyError` on the first failure (earlier tenants stay
    applied; the failing tenant's state lists what exists and the next run resumes).
    ``on_tenant_applied`` hears of each tenant's own stack once all of the tenant's stacks are
    applied (its Kubernetes stack too), before the next tenant's apply starts.
    """
    stacks = find_stacks(out_dir, tenants)
    documents = _load_all(stacks)
    session = _session(endpoint)
    results = []
    order = list(documents)
    for index, (stack, (document, _graph)) in enumerate(documents.items()):
        path = state_path(state_dir, stack)
        progress = (lambda event, _t=stack: on_progress(_t, event)) if on_progress else None
        result = apply(
            document,
            path,
            _account_session(session, _document_account(document)),
            on_progress=progress,
            stack_dir=stacks[stack].parent,
            fail_at=fail_at,
            lock_timeout=lock_timeout,
            on_lock_wait=on_lock_wait,
        )
        results.append(TenantApply(stack, stacks[stack], path, result))
        tenant = tenant_of_stack(stack)
        tenant_done = index + 1 == len(order) or tenant_of_stack(order[index + 1]) != tenant
        own = next((r for r in results if r.tenant == tenant), None)
        if on_tenant_applied is not None and tenant_done and own is not None:
            on_tenant_applied(own)
    return results


def destroy_tenants(
    out_dir: Path | None,
    tenants: Sequence[str] | None,
    state_dir: Path,
    endpoint: str | AwsSession,
    *,
    on_progress: TenantProgress | None = None,
    fail_at: str | set[str] | None = None,
    lock_timeout: float = STATE_LOCK_TIMEOUT_S,
    on_lock_wait: Callable[[str], None] | None = None,
) -> list[TenantDestroy]:
    """Delete everything each tenant's state lists; ``tenants=None`` means every state file.

    Destroy works from the state alone, so a tenant whose stack was removed from
    ``out_dir`` can still be destroyed. Tenants are destroyed in reverse name order.
    """
    del out_dir  # the state is the source of truth for what exists
    if tenants:
        # reversed below: a tenant's Kubernetes stack goes before the cluster it runs on
        names = [s for t in tenants for s in (t, kubernetes_stack_name(t))]
        names = [s for s in names if s in tenants or state_path(state_dir, s).exists()]
    else:
        names = (
            sorted(p.stem for p in state_dir.glob("*.json") if not p.name.endswith(".stale.json"))
            if state_dir.is_dir()
            else []
        )
    session = _session(endpoint)
    results = []
    for tenant in reversed(names):
        path = state_path(state_dir, tenant)
        progress = (lambda event, _t=tenant: on_progress(_t, event)) if on_progress else None
        result = destroy(
            path,
            _account_session(session, _state_account(path)),
            on_progress=progress,
            fail_at=fail_at,
            lock_timeout=lock_timeout,
            on_lock_wait=on_lock_wait,
        )
        results.append(TenantDestroy(tenant, path, result))
    return results


def render_plan(plan: Plan | TenantPlan, *, verbose: bool = False) -> str:
    """Terraform-like text for one plan (a tenant plan gets a heading)."""
    if isinstance(plan, TenantPlan):
        return f"Tenant {plan.tenant} ({plan.stack_file}):\n" + _render_plan(plan.plan, verbose=verbose)
    return _render_plan(plan, verbose=verbose)


__all__ = [
    "DEFAULT_STATE_DIR",
    "STACK_FILE",
    "TenantApply",
    "TenantDestroy",
    "TenantPlan",
    "apply_tenants",
    "destroy_tenants",
    "find_stacks",
    "plan_tenants",
    "render_plan",
]
