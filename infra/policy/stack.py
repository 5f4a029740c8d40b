"""A read-only view of one synthesized stack (``cdk.tf.json``) for policy rules.

Resources keep their Terraform address (``aws_s3_bucket.storage_data``); data sources are
``data.<type>.<name>``. Two pseudo-resources let rules look at stack settings with the same
interface: ``provider.aws`` (type ``provider``; the default, un-aliased AWS provider
configuration) and ``terraform.backend.<kind>`` (type ``terraform_backend``).

cdktf's ``//`` metadata is not part of a resource's body. A construct may put policy
suppressions there (see :data:`MARKER_KEY`); they are read into ``SynthResource.markers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: where a construct records policy suppressions in a resource's ``//`` metadata:
#: ``{"//": {"metadata": {...}, "tenantml": {"suppressions": [{"rule_id": ..., "reason": ...}]}}}``
MARKER_KEY = "tenantml"
METADATA_KEY = "//"
PROVIDER_TYPE = "provider"
BACKEND_TYPE = "terraform_backend"

_SPAN = re.compile(r"\$\{([^}]*)\}")
_REFERENCE = re.compile(
    r"(?<![\w.])((?:data\.)?[a-z][a-z0-9]*_[a-z0-9_]+\.[A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)"
)


@dataclass(frozen=True)
class Reference:
    """``${aws_s3_bucket.storage_data.arn}`` -> address ``aws_s3_bucket.storage_data``, attribute ``arn``."""

    address: str
    attribute: str

    @property
    def root_attribute(self) -> str:
        """The top-level attribute: ``identity[0].oidc[0].issuer`` -> ``identity``."""
        return re.split(r"[.\[]", self.attribute, maxsplit=1)[0]


def references(text: str) -> list[Reference]:
    """Every resource or data-source reference inside ``${...}`` expressions of ``text``."""
    found = []
    for span in _SPAN.findall(text):
        for match in _REFERENCE.finditer(span):
            found.append(Reference(match.group(1), match.group(2).lstrip(".")))
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string value inside a JSON value, recursively (keys are not included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def first_block(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested block written as a one-element list (cdktf) or an object; ``{}`` when absent."""
    value = body.get(name)
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def truthy(value: Any) -> bool:
    """Terraform takes ``true`` and ``"true"`` alike."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def falsy(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


@dataclass(frozen=True)
class SynthResource:
    address: str
    type: str
    name: str
    body: Mapping[str, Any]
    markers: Mapping[str, Any] = field(default_factory=dict)

    def get(self, attribute: str, default: Any = None) -> Any:
        return self.body.get(attribute, default)

    def refers_to(self, attribute: str, target: SynthResource, *target_attributes: str) -> bool:
        """True when ``attribute`` is a reference to ``target`` (any of ``target_attributes``, if given)."""
        value = self.body.get(attribute)
        if not isinstance(value, str):
            return False
        return any(
            ref.address == target.address and (not target_attributes or ref.attribute in target_attributes)
            for ref in references(value)
        )


def _body_and_markers(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(raw, Mapping):
        return {}, {}
    meta = raw.get(METADATA_KEY)
    markers = meta.get(MARKER_KEY, {}) if isinstance(meta, Mapping) else {}
    body = {k: v for k, v in raw.items() if k != METADATA_KEY}
    return body, dict(markers) if isinstance(markers, Mapping) else {}


def _default_provider(doc: Mapping[str, Any]) -> dict[str, Any]:
    configs = doc.get("provider", {}).get("aws")
    for config in as_list(configs):
        if isinstance(config, Mapping) and "alias" not in config:
            return dict(config)
    return {}


class SynthStack:
    """One tenant's synthesized document and the facts rules need about it."""

    def __init__(self, name: str, doc: Mapping[str, Any], known_tenants: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.doc = doc
        self.provider = _default_provider(doc)
        self.default_tags: dict[str, str] = dict(first_block(self.provider, "default_tags").get("tags", {}) or {})
        self.tenant = self.default_tags.get("tenantml:tenant", name)
        self.environment = self.default_tags.get("tenantml:environment", "")
        #: tenant name -> environment of every tenant the run knows about (this one included)
        self.known_tenants: dict[str, str] = dict(known_tenants or {})
        self.known_tenants.setdefault(self.tenant, self.environment)
        self.resources: list[SynthResource] = self._collect()
        self._by_address = {r.address: r for r in self.resources}

    def _collect(self) -> list[SynthResource]:
        found: list[SynthResource] = []
        for block, prefix in (("resource", ""), ("data", "data.")):
            for resource_type, instances in sorted(self.doc.get(block, {}).items()):
                for name, raw in sorted(instances.items()):
                    body, markers = _body_and_markers(raw)
                    found.append(SynthResource(f"{prefix}{resource_type}.{name}", f"{prefix}{resource_type}", name, body, markers))
        if self.provider:
            found.append(SynthResource("provider.aws", PROVIDER_TYPE, "aws", self.provider))
        for kind, config in sorted(self.doc.get("terraform", {}).get("backend", {}).items()):
            found.append(SynthResource(f"terraform.backend.{kind}", BACKEND_TYPE, kind, dict(config)))
        return found

    def get(self, address: str) -> SynthResource | None:
        return self._by_address.get(address)

    def of_type(self, resource_type: str) -> list[SynthResource]:
        return [r for r in self.resources if r.type == resource_type]

    def referencing(self, resource_type: str, attribute: str, target: SynthResource,
                    *target_attributes: str, literal: str | None = None) -> list[SynthResource]:
        """Resources of ``resource_type`` whose ``attribute`` refers to ``target`` (or equals ``literal``)."""
        return [
            r for r in self.of_type(resource_type)
            if r.refers_to(attribute, target, *target_attributes)
            or (literal is not None and r.body.get(attribute) == literal)
        ]
