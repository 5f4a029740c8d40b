"""Compare a stack's desired configuration with the state: what an apply would do.

Each resource is classified as create, update in place, replace, delete or no-op, with
attribute-level differences. References are resolved against the state as far as they can
be; a reference to a resource that is still to be created (or replaced) is "known after
apply", so a dependent whose force-new argument refers to a replaced resource is replaced
too. Which arguments force a replacement comes from the handler table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tenantml.emulator.graph import (
    UNKNOWN,
    Document,
    ExpressionError,
    Graph,
    PartiallyKnown,
    ResolutionError,
    ResourceBlock,
    build_graph,
    is_known,
    resolve,
    topological_order,
)
from tenantml.emulator.resources import DATA_SOURCES, HANDLERS, Handler
from tenantml.emulator.state import State
from core.errors import EmulatorPlanError, Problem


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}[self.value]


class _Absent:
    def __repr__(self) -> str:
        return "null"


#: the value of an argument that is not set
ABSENT: Any = _Absent()


@dataclass(frozen=True)
class AttributeChange:
    """One argument (or one element inside it) whose value differs."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    action: Action
    #: attribute-level differences (empty for create, delete and no-op)
    changes: tuple[AttributeChange, ...] = ()
    #: the configuration in the state (None when creating)
    before: Mapping[str, Any] | None = None
    #: the desired configuration, unknown values as UNKNOWN (None when deleting)
    after: Mapping[str, Any] | None = None
    #: why the emulator only records this resource instead of applying it ("" when it applies it)
    skipped: str = ""

    @property
    def replace_reasons(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes if c.forces_replacement)


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


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def diff_values(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf-level differences between two configurations as ``(path, before, after)``."""
    if after is UNKNOWN:
        return [(path, before, UNKNOWN)]
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in list(before) + [k for k in after if k not in before]:
            out.extend(diff_values(before.get(key, ABSENT), after.get(key, ABSENT), _join(path, key)))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            out.extend(diff_values(b, a, _join(path, index)))
        return out
    if before == after and type(before) is type(after):
        return []
    if (
        isinstance(before, (int, float))
        and isinstance(after, (int, float))
        and not isinstance(before, bool)
        and before == after
    ):
        return []
    return [(path, before, after)]


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _normalise_path(path: str) -> str:
    """``scaling_config[0].desired_size`` and ``scaling_config.0.desired_size`` compare equal."""
    out = []
    for part in path.replace("[", ".").replace("]", "").split("."):
        if part:
            out.append(part)
    return ".".join(out)


def ignored_paths(block: ResourceBlock) -> tuple[str, ...] | str:
    """``lifecycle.ignore_changes`` of a resource: a tuple of paths, or ``"all"``."""
    value = block.lifecycle.get("ignore_changes")
    if value in ("all", ["all"]):
        return "all"
    if not value:
        return ()
    return tuple(_normalise_path(v) for v in value if isinstance(v, str))


def _is_ignored(path: str, ignored: tuple[str, ...] | str) -> bool:
    if ignored == "all":
        return True
    normal = _normalise_path(path)
    return any(normal == p or normal.startswith(p + ".") for p in ignored)


def _get_path(value: Any, path: str) -> Any:
    for part in _normalise_path(path).split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return ABSENT
            value = value[part]
        elif isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                return ABSENT
            value = value[int(part)]
        else:
            return ABSENT
    return value


def _set_path(value: Any, path: str, new: Any) -> Any:
    """A copy of ``value`` with the element at ``path`` set to ``new`` (ABSENT removes it)."""
    parts = _normalise_path(path).split(".")
    head, rest = parts[0], ".".join(parts[1:])
    if isinstance(value, Mapping):
        copy = dict(value)
        if rest:
            if head in copy:
                copy[head] = _set_path(copy[head], rest, new)
        elif new is ABSENT:
            copy.pop(head, None)
        else:
            copy[head] = new
        return copy
    if isinstance(value, list) and head.isdigit() and int(head) < len(value):
        copy_list = list(value)
        copy_list[int(head)] = _set_path(copy_list[int(head)], rest, new) if rest else new
        return copy_list
    return value


def apply_ignore_changes(
    block: ResourceBlock, desired: Mapping[str, Any], current: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``desired`` with ``ignore_changes`` paths taken from the current configuration."""
    ignored = ignored_paths(block)
    if current is None or not ignored:
        return desired
    if ignored == "all":
        return dict(current)
    result: Any = dict(desired)
    for path in ignored:
        result = _set_path(result, path, _get_path(current, path))
    return result


def compare(
    handler: Handler, before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[Action, tuple[AttributeChange, ...]]:
    """Classify the change from ``before`` to ``after`` for one resource of ``handler``'s type."""
    changes = []
    for path, old, new in diff_values(before, after):
        forces = handler.update is None or _root(path) in handler.force_new
        changes.append(AttributeChange(path or "(all)", old, new, forces))
    if not changes:
        return Action.NOOP, ()
    if any(c.forces_replacement for c in changes):
        return Action.REPLACE, tuple(changes)
    return Action.UPDATE, tuple(changes)


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
                address, block.type, action, attribute_changes, before=entry.config, after=desired, skipped=skipped
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
                address, entry.type, Action.DELETE, before=entry.config,
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
                f"      ~ {attribute.path}: {_show(attribute.before)} -> {_show(attribute.after)}{mark}"
            )
        if verbose and change.action is Action.CREATE and change.after is not None:
            for key in sorted(change.after):
                lines.append(f"      + {key} = {_show(change.after[key])}")
    if lines:
        lines.append("")
    lines.append(plan.summary())
    return "\n".join(lines)


__all__ = [
    "ABSENT",
    "Action",
    "AttributeChange",
    "Plan",
    "ResourceChange",
    "apply_ignore_changes",
    "check_document",
    "compare",
    "deletion_order",
    "diff_values",
    "make_plan",
    "render_plan",
]
