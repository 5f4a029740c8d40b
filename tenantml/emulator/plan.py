"""Compare a stack's desired configuration with the state: what an apply would do.

Each resource is classified as create, update in place, replace, delete or no-op, with
attribute-level differences. References are resolved against the state as far as they can
be; a reference to a resource that is still to be created (or replaced) is "known after
apply", so a dependent whose force-new argument refers to a replaced resource is replaced
too. Which arguments force a replacement comes from the one replacement table
(:mod:`core.terraform.replacement`), which the preview reads as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import EmulatorPlanError, Problem
from core.terraform.diff import ABSENT, Action, AttributeChange, ResourceChange, classify
from core.terraform.diff import apply_ignore_changes as _apply_ignore_changes
from core.terraform.document import Document, ResourceBlock
from core.terraform.expressions import (
    UNKNOWN,
    ExpressionError,
    PartiallyKnown,
    ResolutionError,
    is_known,
    resolve,
)
from core.terraform.replacement import is_known_type
from tenantml.emulator.graph import Graph, build_graph, topological_order
from tenantml.emulator.resources import DATA_SOURCES, HANDLERS, Handler
from tenantml.emulator.state import State


@dataclass(frozen=True)
class Plan:
    """What an apply would do, resource by resource, in the order it would do it."""

    changes: tuple[ResourceChange, ...]
    #: the planned stack outputs (UNKNOWN where known after apply)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<document>"
    #: notes for the reader (e.g. a stale state that was set aside)
    notes: tuple[str, ...] = ()
    #: what each data source read while planning (address -> attributes)
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def by_action(self, action: Action) -> list[ResourceChange]:
        return [c for c in self.changes if c.action is action]

    def get(self, address: str) -> ResourceChange | None:
        return next((c for c in self.changes if c.address == address), None)

    @property
    def to_add(self) -> int:
        return sum(1 for c in self.changes if c.action in (Action.CREATE, Action.REPLACE))

    @property
    def to_change(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.UPDATE)

    @property
    def to_destroy(self) -> int:
        return sum(1 for c in self.changes if c.action in (Action.DELETE, Action.REPLACE))

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    def summary(self) -> str:
        if not self.has_changes:
            return "No changes. The emulator matches the configuration."
        text = f"Plan: {self.to_add} to add, {self.to_change} to change, {self.to_destroy} to destroy."
        skipped: dict[str, int] = {}
        for change in self.changes:
            if change.skipped and change.action is not Action.NOOP:
                skipped[change.skipped] = skipped.get(change.skipped, 0) + 1
        for reason, count in sorted(skipped.items()):
            text += f" {count} of them recorded but skipped locally: {reason}."
        return text


# --- differences ----------------------------------------------------------------------------


def apply_ignore_changes(
    block: ResourceBlock, desired: Mapping[str, Any], current: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``desired`` with ``ignore_changes`` paths taken from the current configuration."""
    return _apply_ignore_changes(block.lifecycle, desired, current)


def compare(
    handler: Handler, before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[Action, tuple[AttributeChange, ...]]:
    """Classify the change from ``before`` to ``after`` for one resource of ``handler``'s type."""
    action, changes = classify(handler.type, before, after)
    return action, tuple(changes)


# --- planning -------------------------------------------------------------------------------


def check_document(document: Document, handlers: Mapping[str, Handler] = HANDLERS) -> Graph:
    """The dependency graph of ``document``, or one :class:`EmulatorPlanError` with every problem."""

    def exports(block: ResourceBlock) -> frozenset[str] | None:
        table: Mapping[str, Any] = DATA_SOURCES if block.mode == "data" else handlers
        return table[block.type].exports if block.type in table else None

    return build_graph(document, handlers, supported_data=DATA_SOURCES, exports=exports)


#: reads one data source given its resolved configuration
DataReader = Callable[[ResourceBlock, Mapping[str, Any]], Mapping[str, Any]]


def deletion_order(state: State, addresses: Sequence[str] | set[str]) -> list[str]:
    """``addresses`` in the order to delete them: dependents before what they depend on."""
    wanted = set(addresses)
    dependencies = {
        a: {d for d in state.entries[a].dependencies if d in state.entries} for a in state.entries
    }
    return [a for a in reversed(topological_order(dependencies)) if a in wanted]


def make_plan(
    document: Document,
    state: State,
    *,
    handlers: Mapping[str, Handler] = HANDLERS,
    graph: Graph | None = None,
    notes: Sequence[str] = (),
    read_data: DataReader | None = None,
) -> Plan:
    """Classify every resource of ``document`` and ``state``; raises :class:`EmulatorPlanError`.

    Data sources are read with ``read_data`` (the emulator answers them while planning, as
    Terraform does); without it their values are unknown.
    """
    graph = graph or check_document(document, handlers)
    problems: list[Problem] = []
    planned: dict[str, Mapping[str, Any]] = {}
    changes: list[ResourceChange] = []
    data: dict[str, Mapping[str, Any]] = {}

    for address in graph.order:
        if address in document.data_sources:
            source = document.data_sources[address]
            try:
                source_config = resolve(source.config, planned)
            except (ResolutionError, ExpressionError) as err:
                problems.append(Problem(address, str(err)))
                continue
            if read_data is not None and is_known(source_config):
                planned[address] = data[address] = {**source_config, **read_data(source, source_config)}
            continue
        block = document.resources[address]
        handler = handlers[block.type]
        entry = state.get(address)
        try:
            desired = resolve(block.config, planned)
        except (ResolutionError, ExpressionError) as err:
            problems.append(Problem(address, str(err)))
            continue
        skipped = handler.skip_reason or ""
        if entry is None:
            changes.append(ResourceChange(address, block.type, Action.CREATE, after=desired, skipped=skipped))
            planned[address] = PartiallyKnown(desired)
            continue
        desired = apply_ignore_changes(block, desired, entry.config)
        action, attribute_changes = compare(handler, entry.config, desired)
        if action is Action.REPLACE and block.lifecycle.get("prevent_destroy"):
            reasons = ", ".join(c.path for c in attribute_changes if c.forces_replacement)
            problems.append(
                Problem(address, f"lifecycle.prevent_destroy forbids replacing it (forced by: {reasons})")
            )
        changes.append(
            ResourceChange(
                address,
                block.type,
                action,
                list(attribute_changes),
                before=entry.config,
                after=desired,
                skipped=skipped,
            )
        )
        if action is Action.NOOP:
            planned[address] = entry.values
        elif action is Action.UPDATE:
            # identifiers survive an in-place update and arguments take their new values; what
            # the update itself may change is known after apply
            kept = {k: v for k, v in entry.values.items() if k not in handler.volatile}
            planned[address] = PartiallyKnown({**kept, **desired})
        else:
            planned[address] = PartiallyKnown(desired)

    doomed = [a for a in state.entries if a not in document.resources]
    for address in deletion_order(state, doomed):
        entry = state.entries[address]
        gone = handlers.get(entry.type)
        changes.append(
            ResourceChange(
                address,
                entry.type,
                Action.DELETE,
                before=entry.config,
                skipped=(gone.skip_reason or "") if gone else "",
            )
        )
        if entry.type not in handlers:
            problems.append(
                Problem(
                    address, f"is in the state but its type {entry.type!r} is not supported; cannot delete it"
                )
            )

    outputs: dict[str, Any] = {}
    for name, value in document.outputs.items():
        try:
            outputs[name] = resolve(value, planned)
        except (ResolutionError, ExpressionError) as err:
            problems.append(Problem(f"output.{name}", str(err)))

    if problems:
        raise EmulatorPlanError(problems)
    unknown = sorted({c.type for c in changes if c.action is Action.UPDATE and not is_known_type(c.type)})
    if unknown:
        # an update of a type the replacement table does not know may in truth be a replacement
        notes = [*notes, f"not in the replacement table, so shown as updates: {', '.join(unknown)}"]
    return Plan(tuple(changes), outputs, document.source, tuple(notes), data)


# --- rendering ------------------------------------------------------------------------------


def _show(value: Any, limit: int = 120) -> str:
    if value is UNKNOWN:
        return "(known after apply)"
    if value is ABSENT or value is None:
        return "null"
    if not is_known(value):
        return "(known after apply)"
    import json

    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_plan(plan: Plan, *, verbose: bool = False) -> str:
    """The plan as Terraform-like text: one line per resource, differences below it, a summary."""
    lines: list[str] = [f"# {note}" for note in plan.notes]
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        suffix = ""
        if change.action is Action.REPLACE:
            suffix = f"  # forces replacement: {', '.join(change.replace_reasons)}"
        if change.skipped:
            suffix += f"  # skipped locally: {change.skipped}"
        lines.append(f"{change.action.symbol:>3} {change.address}{suffix}")
        for attribute in change.changes:
            mark = " (forces replacement)" if attribute.forces_replacement else ""
            lines.append(
                f"      ~ {attribute.display_path}: {_show(attribute.before)} -> {_show(attribute.after)}{mark}"
            )
        if verbose and change.action is Action.CREATE and change.after is not None:
            for key in sorted(change.after):
                lines.append(f"      + {key} = {_show(change.after[key])}")
    if lines:
        lines.append("")
    lines.append(plan.summary())
    return "\n".join(lines)


__all__ = [
    "Plan",
    "apply_ignore_changes",
    "check_document",
    "compare",
    "deletion_order",
    "make_plan",
    "render_plan",
]
