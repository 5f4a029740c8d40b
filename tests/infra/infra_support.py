"""Helpers shared by the synth tests: synthesize a stack, then read its Terraform JSON.

Kept in a plain module (not ``conftest.py``) so that test modules can import the functions
by name; the fixtures that build stacks live in ``tests/infra/conftest.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.platform import PlatformSpec
from core.spec import TenantSpec
from infra.cdk import Testing
from tenantml.synthesis import synth as synth_tenants

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TENANTS = REPO_ROOT / "tenants"

ACCOUNT_ID = "123456789012"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/tenantml-acme-dev-boundary"

#: ``${aws_s3_bucket.storage_data.arn}`` -> ``aws_s3_bucket.storage_data.arn``
#: an interpolation; ``$${...}`` is Terraform's escape for a literal ``${...}`` (Glue projection templates)
REFERENCE = re.compile(r"(?<!\$)\$\{([^}]*)\}")


@dataclass(frozen=True)
class SynthesizedStack:
    """One tenant's synthesized output: its directory, the raw cdk.tf.json text, and the parsed JSON."""

    tenant: str
    directory: Path
    text: str
    doc: dict[str, Any]


def synthesize_specs(
    specs: Sequence[TenantSpec], outdir: Path, platform: PlatformSpec | None = None
) -> dict[str, SynthesizedStack]:
    """Synthesize ``specs`` the way ``tenantml synth`` does and read every stack back."""
    stacks = {}
    for result in synth_tenants(specs, outdir, platform):
        text = result.path.read_text(encoding="utf-8")
        stacks[result.stack] = SynthesizedStack(result.stack, result.path.parent, text, json.loads(text))
    return stacks


def synth(stack: Any) -> tuple[str, dict[str, Any]]:
    """The stack's Terraform JSON as ``Testing.synth`` returns it, and parsed."""
    text = Testing.synth(stack)
    return text, json.loads(text)


def bodies(doc: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Every resource of one type, by name (empty when there is none)."""
    return dict(doc.get("resource", {}).get(resource_type, {}))


def only(doc: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    """The one resource of a type; fails the test when there are none or several."""
    found = bodies(doc, resource_type)
    assert len(found) == 1, f"expected exactly one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included, recursively."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def as_list(value: Any) -> list[Any]:
    """IAM allows a single value or a list for Action, Resource and Principal members."""
    return list(value) if isinstance(value, list) else [value]


def policy(body: Mapping[str, Any], attribute: str = "policy") -> dict[str, Any]:
    """The parsed JSON policy document held by a resource attribute."""
    return json.loads(body[attribute])


def statement(doc: Mapping[str, Any], sid: str) -> dict[str, Any]:
    """The statement with this Sid; fails the test when it is missing."""
    found = [s for s in doc["Statement"] if s.get("Sid") == sid]
    assert len(found) == 1, (
        f"expected one statement {sid!r}, found Sids {[s.get('Sid') for s in doc['Statement']]}"
    )
    return found[0]


def sids(doc: Mapping[str, Any]) -> list[str]:
    return [s.get("Sid") for s in doc["Statement"]]


def role_policy(doc: Mapping[str, Any], role_address_name: str) -> dict[str, Any]:
    """The inline ``grants`` policy of the role whose resource name is ``role_address_name``."""
    for body in bodies(doc, "aws_iam_role_policy").values():
        if body["role"] == f"${{aws_iam_role.{role_address_name}.id}}":
            return policy(body)
    raise AssertionError(f"no aws_iam_role_policy for aws_iam_role.{role_address_name}")


def policies(doc: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM policy document in a synthesized stack: (kind, address, document).

    kind is ``identity`` (role inline policies and managed policies such as the boundary),
    ``bucket``, ``key`` or ``trust``.
    """
    found: list[tuple[str, str, dict[str, Any]]] = []
    sources = (
        ("aws_iam_role_policy", "policy", "identity"),
        ("aws_iam_policy", "policy", "identity"),
        ("aws_s3_bucket_policy", "policy", "bucket"),
        ("aws_kms_key", "policy", "key"),
        ("aws_iam_role", "assume_role_policy", "trust"),
    )
    for resource_type, attribute, kind in sources:
        for name, body in bodies(doc, resource_type).items():
            if attribute in body:
                found.append((kind, f"{resource_type}.{name}", policy(body, attribute)))
    return found


def addresses(doc: Mapping[str, Any]) -> set[str]:
    """Every resource and data source address defined in the document."""
    defined = {f"{t}.{n}" for t, named in doc.get("resource", {}).items() for n in named}
    defined |= {f"data.{t}.{n}" for t, named in doc.get("data", {}).items() for n in named}
    return defined


def referenced_addresses(value: Any) -> set[str]:
    """The resource or data source address of every ``${...}`` reference in a JSON value."""
    found = set()
    for text in strings(value):
        for expression in REFERENCE.findall(text):
            # the one function call the stacks write: base64decode(<read>) in provider.kubernetes
            expression = re.sub(r"^[a-z0-9_]+\((.*)\)$", r"\1", expression)
            parts = expression.split(".")
            found.add(".".join(parts[:3] if parts[0] == "data" else parts[:2]))
    return found


def glob_matches(pattern: str, names: set[str]) -> set[str]:
    """The names an IAM-style ``*`` glob matches (``?`` and ``[`` are literal in IAM)."""
    regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
    return {n for n in names if regex.match(n)}
