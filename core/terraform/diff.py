"""The one diff of Terraform configurations: what changes in a resource, and whether it is replaced.

:func:`diff_values` lists every difference between two argument values at the deepest useful
path (``rule[0].expiration[0].days``); JSON documents held in strings (IAM policies) are
compared parsed, with a second path inside the document (``Statement[Sid=Read].Action``).
:func:`classify` turns the differences of one resource into an :class:`Action` with the
replacement table of :mod:`core.terraform.replacement`. The emulator's plan (configuration in
the state against the resolved document) and the preview (base document against head
document) both classify with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.terraform.expressions import ABSENT, UNKNOWN
from core.terraform.replacement import forces_replacement, is_known_type


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}[self.value]


@dataclass(frozen=True)
class AttributeChange:
    """One argument (or one element inside it) whose value differs."""

    #: Terraform argument path, e.g. ``rule[0].expiration[0].days``
    path: str
    before: Any = ABSENT
    after: Any = ABSENT
    #: path inside a JSON document held in the argument's string value, e.g. ``Statement[Sid=X].Action``
    json_path: str = ""
    forces_replacement: bool = False
    #: changed resources this argument refers to, which make its value known only after apply
    known_after_apply: tuple[str, ...] = ()

    @property
    def display_path(self) -> str:
        return f"{self.path} (json) {self.json_path}" if self.json_path else self.path


@dataclass
class ResourceChange:
    """What happens to one resource, with the attribute-level differences behind it."""

    address: str
    type: str
    action: Action
    #: attribute-level differences (empty for create, delete and no-op)
    changes: list[AttributeChange] = field(default_factory=list)
    #: the configuration before (the state's, or the base document's; None when creating)
    before: Mapping[str, Any] | None = None
    #: the desired configuration, unknown values as UNKNOWN (None when deleting)
    after: Mapping[str, Any] | None = None
    #: why the emulator only records this resource instead of applying it ("" when it applies it)
    skipped: str = ""
    #: replaced resources whose new attributes force this one's replacement
    replaced_because: list[str] = field(default_factory=list)
    #: what is lost when this resource is destroyed ("" when it holds no data)
    data_loss: str = ""
    #: a deleted resource of the same type with an identical body (a renamed construct id?)
    renamed_from: str = ""

    @property
    def replace_reasons(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes if c.forces_replacement)

    @property
    def known_type(self) -> bool:
        """Whether the replacement table knows this type (if not, "update" is a guess)."""
        return is_known_type(self.type)


# --- generic JSON diff ----------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def key_path(path: str, key: str) -> str:
    """``path`` extended by an object key: ``.key``, or ``["key"]`` when it is not an identifier."""
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _json_container(value: Any) -> Any:
    """The parsed value of a string holding a JSON object or array, else ABSENT."""
    if not isinstance(value, str) or value[:1] not in ("{", "["):
        return ABSENT
    try:
        parsed = json.loads(value)
    except ValueError:
        return ABSENT
    return parsed if isinstance(parsed, dict | list) else ABSENT


def is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _sid_keyed(items: list[Any]) -> dict[str, Any] | None:
    sids = [item.get("Sid") for item in items if isinstance(item, dict)]
    if (
        len(sids) == len(items)
        and all(isinstance(s, str) and s for s in sids)
        and len(set(sids)) == len(sids)
    ):
        return {item["Sid"]: item for item in items}
    return None


def _same(a: Any, b: Any) -> bool:
    if a is UNKNOWN or b is UNKNOWN:
        return False
    if a == b and type(a) is type(b):
        return True
    # 2 and 2.0 are the same number to Terraform (a state read back from JSON may hold either)
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def diff_values(before: Any, after: Any, path: str = "") -> list[AttributeChange]:
    """Every difference between two JSON values, as changes at the deepest useful path.

    Objects are compared key by key; lists of scalars as a whole; lists of objects element
    by element (IAM statements by ``Sid`` when every statement has a distinct one); a string
    holding a JSON object or array is compared parsed. An :data:`UNKNOWN` value ("known after
    apply") differs from everything.
    """
    found: list[AttributeChange] = []
    _walk(before, after, path, "", False, found)
    return found


def _walk(a: Any, b: Any, path: str, jpath: str, in_json: bool, out: list[AttributeChange]) -> None:
    if _same(a, b):
        return

    def here(p: str) -> tuple[str, str]:
        return (path, p) if in_json else (p, "")

    def child(child_path: str, x: Any, y: Any) -> None:
        if in_json:
            _walk(x, y, path, child_path, True, out)
        else:
            _walk(x, y, child_path, "", False, out)

    current = jpath if in_json else path
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            child(key_path(current, str(key)), a.get(key, ABSENT), b.get(key, ABSENT))
        return
    if isinstance(a, list) and isinstance(b, list):
        keyed_a, keyed_b = _sid_keyed(a), _sid_keyed(b)
        if keyed_a is not None and keyed_b is not None:
            for sid in sorted(set(keyed_a) | set(keyed_b)):
                child(f"{current}[Sid={sid}]", keyed_a.get(sid, ABSENT), keyed_b.get(sid, ABSENT))
            return
        if all(is_scalar(x) for x in [*a, *b]):
            p, j = here(current)
            out.append(AttributeChange(p, a, b, json_path=j))
            return
        for i in range(max(len(a), len(b))):
            child(f"{current}[{i}]", a[i] if i < len(a) else ABSENT, b[i] if i < len(b) else ABSENT)
        return
    if not in_json:
        parsed_a, parsed_b = _json_container(a), _json_container(b)
        if parsed_a is not ABSENT and parsed_b is not ABSENT:
            _walk(parsed_a, parsed_b, path, "", True, out)
            return
    p, j = here(current)
    out.append(AttributeChange(p, a, b, json_path=j))


def classify(
    resource_type: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[Action, list[AttributeChange]]:
    """The action that takes a ``resource_type`` from ``before`` to ``after``, and the differences.

    A difference forces a replacement when the replacement table says so for its argument
    path (a conditional entry is asked about the difference's own before and after values).
    """
    changes = [
        AttributeChange(
            change.path or "(all)",
            change.before,
            change.after,
            change.json_path,
            forces_replacement(resource_type, change.path, change.before, change.after),
        )
        for change in diff_values(before, after)
    ]
    if not changes:
        return Action.NOOP, []
    if any(c.forces_replacement for c in changes):
        return Action.REPLACE, changes
    return Action.UPDATE, changes


def argument_root(path: str) -> str:
    """The top-level argument of a path: ``scaling_config[0].desired_size`` -> ``scaling_config``."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


# --- lifecycle.ignore_changes ----------------------------------------------------------------


def normalise_path(path: str) -> str:
    """``scaling_config[0].desired_size`` and ``scaling_config.0.desired_size`` compare equal."""
    return ".".join(part for part in path.replace("[", ".").replace("]", "").split(".") if part)


def ignored_paths(lifecycle: Mapping[str, Any]) -> tuple[str, ...] | str:
    """``lifecycle.ignore_changes`` of a resource: a tuple of paths, or ``"all"``."""
    value = lifecycle.get("ignore_changes")
    if value in ("all", ["all"]):
        return "all"
    if not value:
        return ()
    return tuple(normalise_path(v) for v in value if isinstance(v, str))


def get_path(value: Any, path: str) -> Any:
    for part in normalise_path(path).split("."):
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


def set_path(value: Any, path: str, new: Any) -> Any:
    """A copy of ``value`` with the element at ``path`` set to ``new`` (ABSENT removes it)."""
    parts = normalise_path(path).split(".")
    head, rest = parts[0], ".".join(parts[1:])
    if isinstance(value, Mapping):
        copy = dict(value)
        if rest:
            if head in copy:
                copy[head] = set_path(copy[head], rest, new)
        elif new is ABSENT:
            copy.pop(head, None)
        else:
            copy[head] = new
        return copy
    if isinstance(value, list) and head.isdigit() and int(head) < len(value):
        copy_list = list(value)
        copy_list[int(head)] = set_path(copy_list[int(head)], rest, new) if rest else new
        return copy_list
    return value


def apply_ignore_changes(
    lifecycle: Mapping[str, Any], desired: Mapping[str, Any], current: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``desired`` with the ``ignore_changes`` paths taken from the current configuration.

    Terraform ignores changes to those arguments, whether they come from the configuration
    or from outside; without a current configuration (a create) nothing is ignored.
    """
    ignored = ignored_paths(lifecycle)
    if current is None or not ignored:
        return desired
    if ignored == "all":
        return dict(current)
    result: Any = dict(desired)
    for path in ignored:
        result = set_path(result, path, get_path(current, path))
    return result


__all__ = [
    "ABSENT",
    "Action",
    "AttributeChange",
    "ResourceChange",
    "apply_ignore_changes",
    "argument_root",
    "classify",
    "diff_values",
    "get_path",
    "ignored_paths",
    "is_scalar",
    "key_path",
    "normalise_path",
    "set_path",
]
