"""Compare two synthesized stacks resource by resource, the way ``terraform plan`` would classify them.

Resources are paired by Terraform address (``type.name``). Each pair is a create, update,
replace, delete or no-op:

* the bodies are compared argument by argument, ignoring cdktf's ``//`` metadata and the
  meta-arguments that never change real infrastructure (``depends_on``, ``lifecycle``);
* an argument listed in :mod:`core.terraform.replacement` for the type forces a replacement
  (the same table the emulator's plan reads), and ``lifecycle.ignore_changes`` is honoured;
* a reference to a resource whose referenced attribute changes (a computed attribute such as
  ``arn`` or ``id`` of a replaced resource, or a configured argument whose value changed) makes
  the referring argument "known after apply": an update, or a replacement when that argument
  forces one. This is repeated until nothing changes, so replacements cascade as in a plan.

Documents are read with :mod:`core.terraform.document` and compared with
:func:`core.terraform.diff.diff_values`: attribute paths look like ``rule[0].expiration[0].days``;
JSON documents held in strings (IAM policies, JSON environment values) are compared parsed, with
a second path inside the document (``Statement[Sid=ReadDataBucket].Action``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.terraform.diff import (
    ABSENT,
    Action,
    AttributeChange,
    ResourceChange,
    apply_ignore_changes,
    diff_values,
    is_scalar,
    key_path,
)
from core.terraform.document import Document, ResourceBlock, parse_document
from core.terraform.expressions import Reference, references
from core.terraform.replacement import forces_replacement

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


class TenantStatus(StrEnum):
    NEW = "new"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


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


# --- leaves of a body ------------------------------------------------------------------------


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(argument path, value) of every scalar in a body, with the same paths as :func:`diff_values`."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], key_path(path, str(key)))
    elif isinstance(value, list):
        if all(is_scalar(x) for x in value):
            yield path, value
        else:
            for i, item in enumerate(value):
                yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


# --- stack diff -----------------------------------------------------------------------------


def _resources(doc: Mapping[str, Any] | None) -> dict[str, ResourceBlock]:
    """address -> block of every managed resource (data sources are read, not changed)."""
    return dict(parse_document(doc).resources) if doc is not None else {}


def _settings(document: Document | None) -> dict[str, Any]:
    terraform = document.terraform if document is not None else {}
    return {
        "provider": dict(document.providers) if document is not None else {},
        "terraform": {
            "backend": terraform.get("backend", {}),
            "required_providers": terraform.get("required_providers", {}),
        },
    }


def classify_pair(base: ResourceBlock, head: ResourceBlock) -> tuple[Action, list[AttributeChange]]:
    """The action the head block's arguments plan for the base block's (references not followed)."""
    after = apply_ignore_changes(head.lifecycle, head.config, base.config)
    changes = [
        AttributeChange(
            c.path, c.before, c.after, c.json_path, forces_replacement(head.type, c.path, c.before, c.after)
        )
        for c in diff_values(base.config, after)
    ]
    action = (
        Action.REPLACE
        if any(c.forces_replacement for c in changes)
        else Action.UPDATE
        if changes
        else Action.NOOP
    )
    return action, changes


def diff_stacks(tenant: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> StackDiff:
    """Classify every resource of ``tenant`` between the base and head documents (None = absent)."""
    if base is None and head is None:
        raise ValueError(f"tenant {tenant!r} is in neither document")
    base_resources, head_resources = _resources(base), _resources(head)
    results: dict[str, ResourceChange] = {}
    for address in sorted(set(base_resources) | set(head_resources)):
        if address not in head_resources:
            resource_type = base_resources[address].type
            results[address] = ResourceChange(
                address, resource_type, Action.DELETE, data_loss=DATA_BEARING.get(resource_type, "")
            )
        elif address not in base_resources:
            results[address] = ResourceChange(address, head_resources[address].type, Action.CREATE)
        else:
            resource_type = head_resources[address].type
            action, changes = classify_pair(base_resources[address], head_resources[address])
            results[address] = ResourceChange(
                address, resource_type, action, changes, data_loss=DATA_BEARING.get(resource_type, "")
            )
    _propagate_references(results, base_resources, head_resources)
    _detect_renames(results, base_resources, head_resources)

    if base is None:
        status = TenantStatus.NEW
    elif head is None:
        status = TenantStatus.REMOVED
    else:
        status = TenantStatus.UNCHANGED
    settings = (
        []
        if status is not TenantStatus.UNCHANGED
        else diff_values(_settings(parse_document(base)), _settings(parse_document(head)))
    )
    changes = [c for c in results.values() if c.action is not Action.NOOP]
    if status is TenantStatus.UNCHANGED and (changes or settings):
        status = TenantStatus.CHANGED
    return StackDiff(tenant, status, changes, len(results) - len(changes), settings)


def _overlaps(path: str, other: str) -> bool:
    """One path is the other or inside it: ``metadata[0]`` and ``metadata[0].name`` overlap."""
    shorter, longer = sorted((path, other), key=len)
    return longer == shorter or longer.startswith((shorter + ".", shorter + "["))


def _attribute_changes(target: ResourceChange, ref: Reference, head_body: Mapping[str, Any]) -> bool:
    """Whether the attribute ``ref`` reads from ``target`` has a new or unknown value after apply."""
    if target.action is Action.NOOP:
        return False
    if (ref.attribute or "") in head_body:
        # a configured argument: known from the configuration, so changed only where its value
        # changed (a replaced Deployment's metadata[0].name is still known when only its namespace moves)
        return any(_overlaps(c.path, ref.attribute_path) for c in target.changes)
    return target.action is Action.REPLACE  # computed (arn, id, ...): new only when the resource is new


def _propagate_references(
    results: dict[str, ResourceChange],
    base_resources: Mapping[str, ResourceBlock],
    head_resources: Mapping[str, ResourceBlock],
) -> None:
    """Add "known after apply" changes for references to changed attributes, until nothing moves.

    Actions only grow (no-op -> update -> replace), so this ends after at most a few rounds.
    """
    paired = [a for a in results if a in base_resources and a in head_resources]
    textual = {a: list(results[a].changes) for a in paired}
    initial = {a: results[a].action for a in paired}
    leaves = {a: list(_leaves(head_resources[a].config)) for a in paired}
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
                targets = sorted(
                    {
                        ref.address
                        for text in texts
                        if isinstance(text, str)
                        for ref in references(text)
                        if ref.address != address
                        and ref.address in results
                        and ref.address in head_resources
                        and _attribute_changes(results[ref.address], ref, head_resources[ref.address].config)
                    }
                )
                if not targets:
                    continue
                before = _value_at(base_resources[address].config, path)
                forced = forces_replacement(result.type, path, before, value)
                changes.append(
                    AttributeChange(
                        path, before, value, forces_replacement=forced, known_after_apply=tuple(targets)
                    )
                )
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
    base_resources: Mapping[str, ResourceBlock],
    head_resources: Mapping[str, ResourceBlock],
) -> None:
    deleted = {a: base_resources[a].config for a, r in results.items() if r.action is Action.DELETE}
    for address, result in results.items():
        if result.action is not Action.CREATE:
            continue
        body = head_resources[address].config
        for old, old_body in deleted.items():
            if results[old].type == result.type and old_body == body:
                result.renamed_from = old
                break
