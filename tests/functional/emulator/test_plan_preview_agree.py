"""`tenantml plan` and `tenantml preview` classify every replacement-table argument of the example stacks alike.

Both example tenants are synthesized as `tenantml up` does and applied once to the emulator.
Then, for every resource type the stacks synthesize (read from the synthesized JSON) and every
argument the replacement table names for it, one resource of that type gets that argument
changed in a copy of its document; the emulator plans the copy against the applied state (data
sources read, as `tenantml plan` does) and the preview diffs the base document against the copy.
Every resource must get the same action from both.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from core.terraform.diff import Action
from core.terraform.document import parse_document
from core.terraform.replacement import ALL, entry_path, is_known_type, replacement_entries
from tenantml.emulator import commands
from tenantml.emulator.apply import HandlerContexts, load_current_state
from tenantml.emulator.plan import make_plan
from tenantml.preview.diff import diff_stacks

ROOT = Path(__file__).resolve().parents[3]
CHANGED = "tenantml-changed"


def _changed(value: Any) -> Any:
    """A different value of the same shape (or a new one where the argument is unset)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return f"{value}-changed"
    if isinstance(value, list):
        return [*value, CHANGED]
    if isinstance(value, dict):
        return {**value, "tenantml_changed": CHANGED}
    return CHANGED


def _change_argument(body: dict[str, Any], path: str) -> dict[str, Any]:
    """``body`` with the argument at ``path`` (``a.b``: ``b`` inside the block ``a``) changed."""
    body = copy.deepcopy(body)
    if path == ALL:
        path = next(k for k in sorted(body) if k not in ("tags", "tags_all", "//", "depends_on", "lifecycle"))
    *blocks, leaf = path.split(".")
    current = body
    for name in blocks:
        value = current.get(name)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            current = value[0]
        elif isinstance(value, dict):
            current = value
        else:
            current[name] = [{}]
            current = current[name][0]
    current[leaf] = _changed(current.get(leaf))
    return body


def _cases(documents: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(tenant, resource type, address, argument) for one resource of every synthesized type."""
    cases = []
    for tenant, raw in sorted(documents.items()):
        document = parse_document(raw)
        for resource_type in sorted(document.types):
            address = min(b.address for b in document.of_type(resource_type))
            cases += [
                (tenant, resource_type, address, entry_path(e)) for e in replacement_entries(resource_type)
            ]
    return cases


def test_given_the_example_stacks_then_every_synthesized_type_has_a_replacement_table_entry(out_dir):
    stacks = commands.find_stacks(out_dir)
    types = {t for path in stacks.values() for t in parse_document(json.loads(path.read_text())).types}

    assert types, "the example stacks synthesize resources"
    assert sorted(t for t in types if not is_known_type(t)) == []


def test_given_applied_example_stacks_when_each_table_argument_changes_then_plan_and_preview_agree(
    aws, out_dir, tmp_path
):
    # given: both tenants applied to the emulator
    state_dir = tmp_path / "state"
    commands.apply_tenants(out_dir, None, state_dir, aws)
    stacks = commands.find_stacks(out_dir)
    documents = {tenant: json.loads(path.read_text()) for tenant, path in stacks.items()}
    states = {
        tenant: load_current_state(commands.state_path(state_dir, tenant), aws, set_aside=False)[0]
        for tenant in stacks
    }
    cases = _cases(documents)
    assert len(cases) > 50, "every synthesized type contributes its table arguments"

    disagreements = []
    checked = {Action.REPLACE: 0, Action.UPDATE: 0}
    for tenant, resource_type, address, argument in cases:
        # when: the argument changes in a copy of the tenant's document
        name = address.split(".", 1)[1]
        head = copy.deepcopy(documents[tenant])
        head["resource"][resource_type][name] = _change_argument(
            head["resource"][resource_type][name], argument
        )
        document = parse_document(head, source=f"{tenant} with {address}.{argument} changed")
        contexts = HandlerContexts(aws, document, stacks[tenant].parent)
        plan = make_plan(document, states[tenant], read_data=contexts.read_data(states[tenant]))
        preview = {c.address: c.action for c in diff_stacks(tenant, documents[tenant], head).changes}

        # then: every resource gets the same action from both
        planned = {c.address: c.action for c in plan.changes if c.action is not Action.NOOP}
        if planned != preview:
            disagreements.append(
                f"{address}.{argument}: plan {sorted(planned.items())} != preview {sorted(preview.items())}"
            )
        if plan.get(address) is not None and plan.get(address).action in checked:
            checked[plan.get(address).action] += 1

    assert disagreements == [], "\n".join(disagreements)
    # the changes cover both outcomes: some arguments replace, some (conditional ones) update
    assert checked[Action.REPLACE] > 0 and checked[Action.UPDATE] > 0
