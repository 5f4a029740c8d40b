"""Apply a Terraform JSON document to the emulator, and destroy what a state file lists.

``apply`` checks the whole document first (nothing is created when it has a problem),
then deletes what left the document and the old halves of replacements (dependents first),
then creates and updates in dependency order. Every resource's configuration is resolved
again right before it is applied, against what actually exists, so the attributes of
resources created a moment earlier flow into the ones that refer to them. The state file is
written after every resource: a failure leaves it listing exactly what exists, and the
next ``apply`` resumes. ``TENANTML_EMULATOR_FAIL_AT=<address>[,<address>...]`` (or
``fail_at=``) raises right before that resource is touched, to test exactly that.

Crash consistency: before each call that creates, updates or deletes a resource the state
records the intent (the state file is written), and the result replaces it after; the next apply (or destroy)
first settles any intent a killed process left, adopting what it created
(:mod:`tenantml.emulator.recovery`), then refreshes the state from the emulator so that a
resource deleted or changed behind its back is created or updated again.
``TENANTML_EMULATOR_KILL_AFTER=<n>`` makes the process SIGKILL itself right after its n-th
such call returns, before the result is recorded (``<n>:intent``: right after the n-th
intent is written, before the call): the worst moments to crash, for the tests.
"""

from __future__ import annotations

import functools
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import (
    EmulatorApplyError,
    EmulatorInjectedFailureError,
    EmulatorPlanError,
    EmulatorStateError,
    Problem,
)
from core.terraform.diff import Action, ResourceChange
from core.terraform.document import Document, ResourceBlock, parse_document
from core.terraform.expressions import ExpressionError, ResolutionError, is_known, resolve
from tenantml.emulator.graph import Graph, load_document
from tenantml.emulator.plan import (
    Plan,
    apply_ignore_changes,
    check_document,
    compare,
    deletion_order,
    make_plan,
)
from tenantml.emulator.recovery import refresh, resolve_intents
from tenantml.emulator.resources import DATA_SOURCES, HANDLERS, Handler, HandlerContext
from tenantml.emulator.session import DEFAULT_REGION, AwsSession
from tenantml.emulator.state import (
    STATE_LOCK_TIMEOUT_S,
    Intent,
    State,
    StateEntry,
    load_state,
    locked_state,
)

FAIL_AT_ENV = "TENANTML_EMULATOR_FAIL_AT"
KILL_AFTER_ENV = "TENANTML_EMULATOR_KILL_AFTER"
#: where the emulator keeps the id of its current incarnation (moto forgets it on reset/restart)
INSTANCE_SECRET = "tenantml/emulator/instance-id"


@dataclass(frozen=True)
class ProgressEvent:
    """Reported to ``on_progress`` before and after each resource is touched."""

    address: str
    action: Action
    #: "start", "done" or "failed"
    phase: str
    seconds: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    #: what was done, in the order it was done (no-ops left out)
    applied: tuple[ResourceChange, ...]
    #: the stack outputs (``output.<name>.value``) with every reference resolved
    outputs: Mapping[str, Any]
    state_path: Path
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.applied)


@dataclass(frozen=True)
class DestroyResult:
    deleted: tuple[str, ...]
    state_path: Path
    seconds: float
    notes: tuple[str, ...] = ()


@dataclass
class HandlerContexts:
    """One handler context per (region, provider) of a document, created on first use."""

    session: AwsSession
    document: Document | None
    stack_dir: Path | None
    _cache: dict[tuple[str, tuple[tuple[str, str], ...]], HandlerContext] = field(default_factory=dict)

    def region_of(self, block: ResourceBlock | None) -> str:
        if block is not None and self.document is not None:
            region = self.document.provider_config(block).get("region")
            if isinstance(region, str) and region:
                return region
        if self.document is not None and self.document.region:
            return self.document.region
        return self.session.region or DEFAULT_REGION

    def for_block(self, block: ResourceBlock | None, region: str | None = None) -> HandlerContext:
        region = region or self.region_of(block)
        tags: dict[str, str] = {}
        if block is not None and self.document is not None:
            default_tags = self.document.provider_config(block).get("default_tags")
            if isinstance(default_tags, list):
                default_tags = default_tags[0] if default_tags else {}
            if isinstance(default_tags, Mapping):
                tags = dict(default_tags.get("tags") or {})
        key = (region, tuple(sorted(tags.items())))
        if key not in self._cache:
            self._cache[key] = HandlerContext(self.session.for_region(region), region, self.stack_dir, tags)
        return self._cache[key]

    def for_address(self, address: str, region: str | None) -> HandlerContext:
        """The context of a resource in the state (with its block's default tags when the document has it)."""
        block = self.document.resources.get(address) if self.document is not None else None
        return self.for_block(block, region)

    def read_data(self, state: State) -> Callable[[ResourceBlock, Mapping[str, Any]], Mapping[str, Any]]:
        """A reader for :func:`make_plan` that asks the emulator for each data source."""

        def read(block: ResourceBlock, config: Mapping[str, Any]) -> Mapping[str, Any]:
            source = DATA_SOURCES[block.type]
            ctx = self.for_block(block)
            return _call("read", block.address, Action.NOOP, lambda: source.read(ctx, config), state, None)

        return read


class _KillSwitch:
    """``TENANTML_EMULATOR_KILL_AFTER``: SIGKILL this process at the n-th change (tests only)."""

    def __init__(self) -> None:
        raw = os.environ.get(KILL_AFTER_ENV, "").strip()
        count, _, phase = raw.partition(":")
        self.at = int(count) if count.isdigit() else 0
        self.phase = phase or "call"
        self.intents = self.calls = 0

    def intent_written(self) -> None:
        self.intents += 1
        if self.phase == "intent" and self.intents == self.at:
            os.kill(os.getpid(), signal.SIGKILL)

    def call_returned(self) -> None:
        self.calls += 1
        if self.phase == "call" and self.calls == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


_kill_switch: _KillSwitch | None = None


def _begin(state: State, intent: Intent) -> None:
    state.begin(intent)
    if _kill_switch is not None:
        _kill_switch.intent_written()


def _fail_at(explicit: str | set[str] | None) -> set[str]:
    if explicit:
        return {explicit} if isinstance(explicit, str) else set(explicit)
    return {a.strip() for a in os.environ.get(FAIL_AT_ENV, "").split(",") if a.strip()}


def _as_document(document: Document | Mapping[str, Any] | Path) -> tuple[Document, Path | None]:
    if isinstance(document, Document):
        return document, None
    if isinstance(document, Path):
        return load_document(document), document.parent
    return parse_document(document), None


def emulator_instance(session: AwsSession) -> str:
    """The id of the emulator's current incarnation, created on first use.

    moto keeps everything in memory: a restart or ``/moto-api/reset`` forgets every resource
    and this marker with them. A state written against another incarnation describes
    resources that no longer exist.
    """
    # a secret, because Secrets Manager answers in milliseconds where moto's SSM first
    # loads thousands of public parameters (about a second)
    secrets = session.client("secretsmanager", DEFAULT_REGION)
    try:
        return secrets.get_secret_value(SecretId=INSTANCE_SECRET)["SecretString"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    value = uuid.uuid4().hex
    try:
        secrets.create_secret(
            Name=INSTANCE_SECRET,
            SecretString=value,
            Description="tenantml: id of this emulator incarnation (do not delete)",
        )
    except ClientError as err:  # another apply created it a moment ago
        if err.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        return secrets.get_secret_value(SecretId=INSTANCE_SECRET)["SecretString"]
    return value


def load_current_state(
    state_path: Path, session: AwsSession, *, set_aside: bool = True
) -> tuple[State, tuple[str, ...]]:
    """The state at ``state_path`` if it belongs to the running emulator, else an empty one.

    A state written against an emulator that has since been restarted or reset lists
    resources that provably no longer exist (the emulator forgot them): an empty state is
    returned with a note saying so, and with ``set_aside`` the old file is kept next to the
    original as ``<name>.stale.json``.
    """
    state = load_state(state_path)
    instance = emulator_instance(session)
    recorded = state.meta.get("emulator_instance")
    notes: tuple[str, ...] = ()
    if state.entries and recorded is not None and recorded != instance:
        stale = state_path.with_name(state_path.stem + ".stale.json")
        if set_aside:
            os.replace(state_path, stale)
            notes = (
                (
                    f"{state_path} described {len(state.entries)} resource(s) in an emulator that has "
                    "since been restarted or reset; they no longer exist, so the state was moved to "
                    f"{stale}"
                ),
            )
        else:
            notes = (
                (
                    f"{state_path} describes {len(state.entries)} resource(s) in an emulator that has "
                    "since been restarted or reset; they no longer exist, so everything will be created again"
                ),
            )
        state = State(path=state_path)
    state.meta["emulator_instance"] = instance
    state.meta["endpoint"] = session.endpoint
    state.meta["account_id"] = session.account_id  # destroy works from the state alone
    return state, notes


def _call(
    kind: str,
    address: str,
    action: Action,
    fn: Callable[[], Any],
    state: State,
    on_progress: ProgressCallback | None,
) -> Any:
    started = time.perf_counter()
    if on_progress:
        on_progress(ProgressEvent(address, action, "start"))
    try:
        result = fn()
        if _kill_switch is not None and kind in ("create", "update", "delete"):
            _kill_switch.call_returned()
    except EmulatorApplyError as err:
        if on_progress:
            on_progress(ProgressEvent(address, action, "failed", time.perf_counter() - started, str(err)))
        if err.address is None:
            raise EmulatorApplyError(
                _failure(address, kind, str(err), state), address=address, action=kind
            ) from err
        raise
    except ClientError as err:
        error = err.response.get("Error", {})
        detail = f"{error.get('Code', 'Error')}: {error.get('Message', err)}"
        if on_progress:
            on_progress(ProgressEvent(address, action, "failed", time.perf_counter() - started, detail))
        raise EmulatorApplyError(
            _failure(address, kind, detail, state), address=address, action=kind
        ) from err
    except (BotoCoreError, KeyError, TypeError, ValueError) as err:
        detail = (
            f"missing required argument {err}"
            if isinstance(err, KeyError)
            else f"{type(err).__name__}: {err}"
        )
        if on_progress:
            on_progress(ProgressEvent(address, action, "failed", time.perf_counter() - started, detail))
        raise EmulatorApplyError(
            _failure(address, kind, detail, state), address=address, action=kind
        ) from err
    if on_progress:
        on_progress(ProgressEvent(address, action, "done", time.perf_counter() - started))
    return result


def _failure(address: str, kind: str, detail: str, state: State) -> str:
    return (
        f"{address}: {kind} failed: {detail}. The state file {state.path} lists the {len(state.entries)} "
        "resource(s) that exist; fix the cause and apply again to resume, or destroy to remove them."
    )


def _inject(address: str, action: Action, fail_at: set[str], state: State) -> None:
    if address in fail_at:
        raise EmulatorInjectedFailureError(
            f"{address}: injected failure before {action.value} ({FAIL_AT_ENV}); "
            f"the state file {state.path} lists the {len(state.entries)} resource(s) that exist",
            address=address,
            action=action.value,
        )


def _delete(
    address: str,
    state: State,
    handlers: Mapping[str, Handler],
    contexts: HandlerContexts,
    action: Action,
    on_progress: ProgressCallback | None,
) -> None:
    entry = state.entries[address]
    handler = handlers[entry.type]
    ctx = contexts.for_block(None, entry.region)
    _begin(state, Intent.of(address, entry.type, "delete", entry.config, entry.region, entry.dependencies))
    _call(
        "delete",
        address,
        action,
        lambda: handler.delete(ctx, entry.config, dict(entry.attributes)),
        state,
        on_progress,
    )
    state.remove(address)


def apply(
    document: Document | Mapping[str, Any] | Path,
    state_path: Path,
    session: AwsSession,
    *,
    on_progress: ProgressCallback | None = None,
    stack_dir: Path | None = None,
    fail_at: str | set[str] | None = None,
    handlers: Mapping[str, Handler] = HANDLERS,
    lock_timeout: float = STATE_LOCK_TIMEOUT_S,
    on_lock_wait: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Make the emulator match ``document``; returns what was done and the stack outputs.

    ``document`` is a parsed :class:`Document`, a Terraform JSON mapping or the path of a
    ``cdk.tf.json`` (whose directory is then the ``stack_dir`` Lambda zips are read from).
    Raises :class:`EmulatorPlanError` before anything is touched when the document cannot
    be applied, :class:`EmulatorStateError` for an unusable state file and
    :class:`EmulatorApplyError` when a call fails (the state file then lists what exists).
    The state is held for the whole apply: another apply, plan or destroy of it waits up to
    ``lock_timeout`` seconds (see :func:`~tenantml.emulator.state.locked_state`).
    """
    global _kill_switch
    _kill_switch = _KillSwitch() if os.environ.get(KILL_AFTER_ENV) else None
    with locked_state(state_path, timeout=lock_timeout, on_wait=on_lock_wait):
        return _apply(
            document,
            state_path,
            session,
            on_progress=on_progress,
            stack_dir=stack_dir,
            fail_at=fail_at,
            handlers=handlers,
        )


def _apply(
    document: Document | Mapping[str, Any] | Path,
    state_path: Path,
    session: AwsSession,
    *,
    on_progress: ProgressCallback | None,
    stack_dir: Path | None,
    fail_at: str | set[str] | None,
    handlers: Mapping[str, Handler],
) -> ApplyResult:
    started = time.perf_counter()
    doc, doc_dir = _as_document(document)
    stack_dir = stack_dir or doc_dir
    graph = check_document(doc, handlers)
    state, notes = load_current_state(state_path, session)
    contexts = HandlerContexts(session, doc, stack_dir)
    notes += resolve_intents(state, handlers, contexts.for_address)
    notes += refresh(state, handlers, contexts.for_address).notes()
    plan = make_plan(
        doc, state, handlers=handlers, graph=graph, notes=notes, read_data=contexts.read_data(state)
    )
    try:
        return _apply_plan(
            doc,
            plan,
            graph,
            state,
            contexts,
            handlers,
            failures=_fail_at(fail_at),
            on_progress=on_progress,
            started=started,
            notes=notes,
        )
    finally:
        state.flush()  # a failure too leaves the file listing every resource that exists


def _apply_plan(
    doc: Document,
    plan: Plan,
    graph: Graph,
    state: State,
    contexts: HandlerContexts,
    handlers: Mapping[str, Handler],
    *,
    failures: set[str],
    on_progress: ProgressCallback | None,
    started: float,
    notes: tuple[str, ...],
) -> ApplyResult:
    applied: list[ResourceChange] = []

    # 1. deletions: resources that left the document, and the old half of each replacement
    doomed = {c.address for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)}
    for address in deletion_order(state, doomed):
        action = plan.get(address).action  # type: ignore[union-attr]
        _inject(address, action, failures, state)
        _delete(address, state, handlers, contexts, action, on_progress)
        if action is Action.DELETE:
            applied.append(plan.get(address))  # type: ignore[arg-type]

    # 2. creations and updates in dependency order, each resolved against what exists now
    for address in graph.order:
        block = doc.resources.get(address)
        if block is None:
            continue
        handler = handlers[block.type]
        ctx = contexts.for_block(block)
        try:
            desired = resolve(block.config, {**plan.data, **state.values_by_address()})
        except (ResolutionError, ExpressionError) as err:
            raise EmulatorPlanError([Problem(address, str(err))]) from err
        if not is_known(desired):  # pragma: no cover - every dependency was applied before
            raise EmulatorApplyError(
                f"{address}: a reference is still unknown after its dependencies were applied",
                address=address,
            )
        dependencies = tuple(sorted(graph.dependencies[address]))
        entry = state.get(address)
        planned = plan.get(address)
        if entry is not None:
            desired = apply_ignore_changes(block, desired, entry.config)
            action, changes = compare(handler, entry.config, desired)
            if action is Action.NOOP:
                if entry.dependencies != dependencies:  # record a dependency added by depends_on alone
                    state.put(
                        StateEntry(
                            address,
                            block.type,
                            entry.config,
                            entry.attributes,
                            dependencies,
                            region=entry.region,
                        )
                    )
                continue
            if action is Action.REPLACE:
                _inject(address, action, failures, state)
                _delete(address, state, handlers, contexts, action, on_progress)
                entry = None
            else:
                _inject(address, action, failures, state)
                old = entry
                update = handler.update
                if update is None:
                    # the replacement table says Terraform updates this change in place; an
                    # emulator that replaced instead would apply a different plan than it showed
                    raise EmulatorApplyError(
                        f"{address}: the emulator cannot update a {block.type} in place"
                        f" (changed: {', '.join(c.path for c in changes)})",
                        address=address,
                        action=action.value,
                    )
                _begin(state, Intent.of(address, block.type, "update", desired, ctx.region, dependencies))
                attributes = _call(
                    "update",
                    address,
                    action,
                    functools.partial(update, ctx, old.config, desired, dict(old.attributes)),
                    state,
                    on_progress,
                )
                # written with the next intent: a crash before it leaves this intent, which recovery settles
                state.put(
                    StateEntry(address, block.type, desired, attributes, dependencies, region=ctx.region),
                    write=False,
                )
                applied.append(
                    ResourceChange(
                        address,
                        block.type,
                        Action.UPDATE,
                        list(changes),
                        old.config,
                        desired,
                        skipped=handler.skip_reason or "",
                    )
                )
                continue
        action = Action.REPLACE if planned is not None and planned.action is Action.REPLACE else Action.CREATE
        if action is Action.CREATE:
            _inject(address, action, failures, state)
        _begin(
            state,
            Intent.of(address, block.type, "create", desired, ctx.region, dependencies, ctx.tags(desired)),
        )
        attributes = _call(
            "create", address, action, functools.partial(handler.create, ctx, desired), state, on_progress
        )
        state.put(
            StateEntry(address, block.type, desired, attributes, dependencies, region=ctx.region), write=False
        )
        applied.append(
            ResourceChange(
                address,
                block.type,
                action,
                list(planned.changes) if planned else [],
                None,
                desired,
                skipped=handler.skip_reason or "",
            )
        )

    # 3. outputs
    try:
        outputs = resolve(dict(doc.outputs), {**plan.data, **state.values_by_address()})
    except (ResolutionError, ExpressionError) as err:
        raise EmulatorPlanError([Problem("output", str(err))]) from err
    if outputs != state.outputs or not state.path.exists():
        state.set_outputs(outputs)
    return ApplyResult(plan, tuple(applied), outputs, state.path, time.perf_counter() - started, notes)


def destroy(
    state_path: Path,
    session: AwsSession,
    *,
    on_progress: ProgressCallback | None = None,
    fail_at: str | set[str] | None = None,
    handlers: Mapping[str, Handler] = HANDLERS,
    lock_timeout: float = STATE_LOCK_TIMEOUT_S,
    on_lock_wait: Callable[[str], None] | None = None,
) -> DestroyResult:
    """Delete every resource the state lists, dependents first, and leave an empty state.

    The state is held throughout, as in :func:`apply`.
    """
    global _kill_switch
    _kill_switch = _KillSwitch() if os.environ.get(KILL_AFTER_ENV) else None
    with locked_state(state_path, timeout=lock_timeout, on_wait=on_lock_wait):
        return _destroy(state_path, session, on_progress=on_progress, fail_at=fail_at, handlers=handlers)


def _destroy(
    state_path: Path,
    session: AwsSession,
    *,
    on_progress: ProgressCallback | None,
    fail_at: str | set[str] | None,
    handlers: Mapping[str, Handler],
) -> DestroyResult:
    started = time.perf_counter()
    state, notes = load_current_state(state_path, session)
    # what a killed apply created is adopted first, so that it is destroyed too
    notes += resolve_intents(state, handlers, HandlerContexts(session, None, None).for_address)
    unknown = sorted({e.type for e in state if e.type not in handlers})
    if unknown:
        raise EmulatorStateError(
            f"emulator state file {state_path} lists resource types this tenantml cannot delete: {unknown}"
        )
    failures = _fail_at(fail_at)
    contexts = HandlerContexts(session, None, None)
    deleted: list[str] = []
    for address in deletion_order(state, set(state.entries)):
        _inject(address, Action.DELETE, failures, state)
        _delete(address, state, handlers, contexts, Action.DELETE, on_progress)
        deleted.append(address)
    if state.outputs or state_path.exists():
        state.set_outputs({})
    return DestroyResult(tuple(deleted), state_path, time.perf_counter() - started, notes)


__all__ = [
    "FAIL_AT_ENV",
    "KILL_AFTER_ENV",
    "ApplyResult",
    "DestroyResult",
    "ProgressEvent",
    "apply",
    "destroy",
    "emulator_instance",
    "load_current_state",
]
