"""Compare two synthesized stacks resource by resource, the way ``terraform plan`` would classify them.

Resources are paired by Terraform address (``type.name``). Each pair is a create, update,
replace, delete or no-op:

* the bodies are compared argument by argument, ignoring cdktf's ``//`` metadata and the
  meta-arguments that never change real infrastructure (``depends_on``, ``lifecycle``);
* an argument listed in :mod:`tenantml.preview.replacement` for the type forces a replacement;
* a reference to a resource whose referenced attribute changes (a computed attribute such as
  ``arn`` or ``id`` of a replaced resource, or a configured argument whose value changed) makes
  the referring argument "known after apply": an update, or a replacement when that argument
  forces one. This is repeated until nothing changes, so replacements cascade as in a plan.

Attribute paths look like ``rule[0].expiration[0].days``; JSON documents held in strings
(IAM policies, JSON environment values) are compared parsed, with a second path inside the
document (``Statement[Sid=ReadDataBucket].Action``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from infra.policy.stack import references
from tenantml.preview.replacement import forces_replacement, is_known_type

#: top-level keys that are not resource arguments, or whose change plans no action
IGNORED_KEYS = frozenset({"//", "depends_on", "lifecycle", "provisioner", "connection"})

#: resource types that hold data, and what destroying one loses
DATA_BEARING: dict[str, str] = {
    "aws_s3_bucket": "every object and object version in the bucket",
    "aws_kinesis_stream": "every record still in the stream",
    "aws_kms_key": "the key material: data encrypted with the key becomes unreadable once deletion completes",
    "aws_sagemaker_model_package_group": "the registered model versions, their approval status and lineage",
    "aws_dynamodb_table": "every item in the table",
    "aws_cloudwatch_log_group": "the logs kept in the group",
    "aws_sqs_queue": "the messages waiting in the queue (failed events in a dead-letter queue)",
    "aws_efs_file_system": "every file on the file system",
    "aws_db_instance": "the database",
    "aws_rds_cluster": "the database cluster",
    "aws_ebs_volume": "the volume's data",
    "aws_ecr_repository": "every image in the repository",
    "aws_secretsmanager_secret": "the secret's values",
    "aws_sagemaker_feature_group": "the feature group's records",
}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


class TenantStatus(StrEnum):
    NEW = "new"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: the value of an argument that is not set on one side
ABSENT: Any = _Absent()


@dataclass(frozen=True)
class AttributeChange:
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
    address: str
    type: str
    action: Action
    changes: list[AttributeChange] = field(default_factory=list)
    #: replaced resources whose new attributes force this one's replacement
    replaced_because: list[str] = field(default_factory=list)
    #: what is lost when this resource is destroyed ("" when it holds no data)
    data_loss: str = ""
    #: a deleted resource of the same type with an identical body (a renamed construct id?)
    renamed_from: str = ""

    @property
    def known_type(self) -> bool:
        return is_known_type(self.type)


@dataclass
class StackDiff:
    tenant: str
    status: TenantStatus
    #: every resource that is not a no-op, sorted by address
    changes: list[ResourceChange] = field(default_factory=list)
    unchanged: int = 0
    #: provider, backend and required-provider changes (paths start ``provider.aws``/``terraform.``)
    settings: list[AttributeChange] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def destructive(self) -> list[ResourceChange]:
        """Data-bearing resources that would be destroyed or replaced."""
        return [c for c in self.changes if c.data_loss and c.action in (Action.DELETE, Action.REPLACE)]

    @property
    def state_changes(self) -> list[AttributeChange]:
        return [s for s in self.settings if s.path.startswith("terraform.backend")]


# --- generic JSON diff ----------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _key_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _json_container(value: Any) -> Any:
    """The parsed value of a string holding a JSON object or array, else ABSENT."""
    if not isinstance(value, str) or not value[:1] in ("{", "["):
        return ABSENT
    try:
        parsed = json.loads(value)
    except ValueError:
        return ABSENT
    return parsed if isinstance(parsed, dict | list) else ABSENT


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _sid_keyed(items: list[Any]) -> dict[str, Any] | None:
    sids = [item.get("Sid") for item in items if isinstance(item, dict)]
    if len(sids) == len(items) and all(isinstance(s, str) and s for s in sids) and len(set(sids)) == len(sids):
        return {item["Sid"]: item for item in items}
    return None


def diff_values(before: Any, after: Any, path: str = "") -> list[AttributeChange]:
    """Every difference between two JSON values, as changes at the deepest useful path."""
    found: list[AttributeChange] = []
    _walk(before, after, path, "", False, found)
    return found


def _walk(a: Any, b: Any, path: str, jpath: str, in_json: bool, out: list[AttributeChange]) -> None:
    if a == b and type(a) is type(b):
        return

    def here(p: str) -> tuple[str, str]:
        return (path, p) if in_json else (p, "")

    def child(key_path: str, x: Any, y: Any) -> None:
        if in_json:
            _walk(x, y, path, key_path, True, out)
        else:
            _walk(x, y, key_path, "", False, out)

    current = jpath if in_json else path
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            child(_key_path(current, str(key)), a.get(key, ABSENT), b.get(key, ABSENT))
        return
    if isinstance(a, list) and isinstance(b, list):
        keyed_a, keyed_b = _sid_keyed(a), _sid_keyed(b)
        if keyed_a is not None and keyed_b is not None:
            for sid in sorted(set(keyed_a) | set(keyed_b)):
                child(f"{current}[Sid={sid}]", keyed_a.get(sid, ABSENT), keyed_b.get(sid, ABSENT))
            return
        if all(_scalar(x) for x in [*a, *b]):
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


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(argument path, value) of every scalar in a body, with the same paths as :func:`diff_values`."""
    if isinstance(value, dict):
        for key in sorted(value):
            if not path and key in IGNORED_KEYS:
                continue
            yield from _leaves(value[key], _key_path(path, str(key)))
    elif isinstance(value, list):
        if all(_scalar(x) for x in value):
            yield path, value
        else:
            for i, item in enumerate(value):
                yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in IGNORED_KEYS}


# --- stack diff -----------------------------------------------------------------------------


def _resources(doc: Mapping[str, Any] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """address -> (type, body) for every managed resource (data sources are read, not changed)."""
    found = {}
    for resource_type, instances in (doc or {}).get("resource", {}).items():
        for name, body in instances.items():
            found[f"{resource_type}.{name}"] = (resource_type, body)
    return found


def _settings(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    doc = doc or {}
    terraform = doc.get("terraform", {})
    return {
        "provider": doc.get("provider", {}),
        "terraform": {"backend": terraform.get("backend", {}), "required_providers": terraform.get("required_providers", {})},
    }


def diff_stacks(tenant: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> StackDiff:
    """Classify every resource of ``tenant`` between the base and head documents (None = absent)."""
    if base is None and head is None:
        raise ValueError(f"tenant {tenant!r} is in neither document")
    base_resources, head_resources = _resources(base), _resources(head)
    results: dict[str, ResourceChange] = {}
    for address in sorted(set(base_resources) | set(head_resources)):
        if address not in head_resources:
            resource_type = base_resources[address][0]
            results[address] = ResourceChange(address, resource_type, Action.DELETE, data_loss=DATA_BEARING.get(resource_type, ""))
        elif address not in base_resources:
            results[address] = ResourceChange(address, head_resources[address][0], Action.CREATE)
        else:
            resource_type, head_body = head_resources[address]
            changes = [
                AttributeChange(c.path, c.before, c.after, c.json_path, forces_replacement(resource_type, c.path))
                for c in diff_values(_arguments(base_resources[address][1]), _arguments(head_body))
            ]
            action = Action.REPLACE if any(c.forces_replacement for c in changes) else Action.UPDATE if changes else Action.NOOP
            results[address] = ResourceChange(address, resource_type, action, changes,
                                              data_loss=DATA_BEARING.get(resource_type, ""))
    _propagate_references(results, base_resources, head_resources)
    _detect_renames(results, base_resources, head_resources)

    if base is None:
        status = TenantStatus.NEW
    elif head is None:
        status = TenantStatus.REMOVED
    else:
        status = TenantStatus.UNCHANGED
    settings = [] if status is not TenantStatus.UNCHANGED else diff_values(_settings(base), _settings(head))
    changes = [c for c in results.values() if c.action is not Action.NOOP]
    if status is TenantStatus.UNCHANGED and (changes or settings):
        status = TenantStatus.CHANGED
    return StackDiff(tenant, status, changes, len(results) - len(changes), settings)


def _attribute_changes(target: ResourceChange, attribute: str, head_body: Mapping[str, Any]) -> bool:
    """Whether ``target.attribute`` has a new or unknown value after apply."""
    if target.action is Action.NOOP:
        return False
    if attribute in head_body:  # a configured argument: known, and changed only if its value changed
        return any(re.split(r"[.\[]", c.path, maxsplit=1)[0] == attribute for c in target.changes)
    return target.action is Action.REPLACE  # computed (arn, id, ...): new only when the resource is new


def _propagate_references(
    results: dict[str, ResourceChange],
    base_resources: Mapping[str, tuple[str, dict[str, Any]]],
    head_resources: Mapping[str, tuple[str, dict[str, Any]]],
) -> None:
    """Add "known after apply" changes for references to changed attributes, until nothing moves.

    Actions only grow (no-op -> update -> replace), so this ends after at most a few rounds.
    """
    paired = [a for a in results if a in base_resources and a in head_resources]
    textual = {a: list(results[a].changes) for a in paired}
    initial = {a: results[a].action for a in paired}
    leaves = {a: [(p, v) for p, v in _leaves(head_resources[a][1])] for a in paired}
    while True:
        updated: dict[str, tuple[Action, list[AttributeChange], list[str]]] = {}
        for address in paired:
            result = results[address]
            changes = list(textual[address])
            seen = {c.path for c in changes}
            action, because = initial[address], set()
            for path, value in leaves[address]:
                if path in seen:
                    continue
                texts = value if isinstance(value, list) else [value]
                targets = sorted({
                    ref.address
                    for text in texts if isinstance(text, str) for ref in references(text)
                    if ref.address != address and ref.address in results and ref.address in head_resources
                    and _attribute_changes(results[ref.address], ref.root_attribute, head_resources[ref.address][1])
                })
                if not targets:
                    continue
                forced = forces_replacement(result.type, path)
                changes.append(AttributeChange(path, _value_at(base_resources[address][1], path), value,
                                               forces_replacement=forced, known_after_apply=tuple(targets)))
                if forced:
                    action = Action.REPLACE
                    because.update(targets)
                elif action is Action.NOOP:
                    action = Action.UPDATE
            changes.sort(key=lambda c: (c.path, c.json_path))
            updated[address] = (action, changes, sorted(because))
        moved = False
        for address, (action, changes, because) in updated.items():
            result = results[address]
            if (action, changes, because) != (result.action, result.changes, result.replaced_because):
                moved = True
                result.action, result.changes, result.replaced_because = action, changes, because
        if not moved:
            return


def _value_at(body: Mapping[str, Any], path: str) -> Any:
    for leaf_path, value in _leaves(body):
        if leaf_path == path:
            return value
    return ABSENT


def _detect_renames(
    results: dict[str, ResourceChange],
    base_resources: Mapping[str, tuple[str, dict[str, Any]]],
    head_resources: Mapping[str, tuple[str, dict[str, Any]]],
) -> None:
    deleted = {a: _arguments(base_resources[a][1]) for a, r in results.items() if r.action is Action.DELETE}
    for address, result in results.items():
        if result.action is not Action.CREATE:
            continue
        body = _arguments(head_resources[address][1])
        for old, old_body in deleted.items():
            if results[old].type == result.type and old_body == body:
                result.renamed_from = old
                break
