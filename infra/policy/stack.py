"""A read-only view of one synthesized stack (``cdk.tf.json``) for policy rules.

Resources keep their Terraform address (``aws_s3_bucket.storage_data``); data sources are
``data.<type>.<name>``. Two pseudo-resources let rules look at stack settings with the same
interface: ``provider.aws`` (type ``provider``; the default, un-aliased AWS provider
configuration) and ``terraform.backend.<kind>`` (type ``terraform_backend``).

The document is read with :mod:`core.terraform` (the model every reader shares), never
matched with regular expressions. cdktf's ``//`` metadata is not part of a resource's body. A
construct may put policy suppressions there (see :data:`MARKER_KEY`); they are read into
``SynthResource.markers``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.terraform.document import (
    Document,
    ResourceBlock,
    first_block,
    parse_document,
)
from core.terraform.expressions import references, walk_strings

#: where a construct records policy suppressions in a resource's ``//`` metadata:
#: ``{"//": {"metadata": {...}, "tenantml": {"suppressions": [{"rule_id": ..., "reason": ...}]}}}``
MARKER_KEY = "tenantml"
PROVIDER_TYPE = "provider"
BACKEND_TYPE = "terraform_backend"


def strings(value: Any) -> Iterator[str]:
    """Every string value inside a JSON value, recursively (keys are not included)."""
    for _, text in walk_strings(value, ""):
        yield text


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
            ref.address == target.address
            and (not target_attributes or ref.attribute_path in target_attributes)
            for ref in references(value)
        )


def _body(block: ResourceBlock) -> dict[str, Any]:
    """The block as written, without cdktf's metadata: its arguments and its meta-arguments."""
    body = dict(block.config)
    if block.depends_on:
        body["depends_on"] = list(block.depends_on)
    if block.lifecycle:
        body["lifecycle"] = dict(block.lifecycle)
    if block.provider is not None:
        body["provider"] = block.provider
    body.update(block.meta)
    return body


def _markers(block: ResourceBlock) -> dict[str, Any]:
    markers = block.metadata.get(MARKER_KEY, {})
    return dict(markers) if isinstance(markers, Mapping) else {}


class SynthStack:
    """One tenant's synthesized document and the facts rules need about it."""

    def __init__(
        self, name: str, doc: Mapping[str, Any], known_tenants: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.doc = doc
        self.document: Document = parse_document(doc, source=name)
        #: the default (un-aliased) AWS provider configuration
        self.provider: dict[str, Any] = dict(self.document.providers.get("aws", {}))
        self.default_tags: dict[str, str] = dict(
            first_block(self.provider, "default_tags").get("tags", {}) or {}
        )
        self.tenant = self.default_tags.get("tenantml:tenant", name)
        self.environment = self.default_tags.get("tenantml:environment", "")
        #: tenant name -> environment of every tenant the run knows about (this one included)
        self.known_tenants: dict[str, str] = dict(known_tenants or {})
        self.known_tenants.setdefault(self.tenant, self.environment)
        self.resources: list[SynthResource] = self._collect()
        self._by_address = {r.address: r for r in self.resources}

    def _collect(self) -> list[SynthResource]:
        found = [
            SynthResource(
                block.address,
                block.type if block.mode == "managed" else f"data.{block.type}",
                block.name,
                _body(block),
                _markers(block),
            )
            for block in sorted(self.document.blocks(), key=lambda b: (b.mode != "managed", b.type, b.name))
        ]
        if self.provider:
            found.append(SynthResource("provider.aws", PROVIDER_TYPE, "aws", self.provider))
        for kind, config in sorted(self.document.backend.items()):
            found.append(SynthResource(f"terraform.backend.{kind}", BACKEND_TYPE, kind, dict(config)))
        return found

    def provider_config(self, name: str) -> Mapping[str, Any]:
        """A provider configuration by its reference (``aws``, ``aws.<alias>``); ``{}`` when absent."""
        return self.document.providers.get(name, {})

    def get(self, address: str) -> SynthResource | None:
        return self._by_address.get(address)

    def of_type(self, resource_type: str) -> list[SynthResource]:
        return [r for r in self.resources if r.type == resource_type]

    def referencing(
        self,
        resource_type: str,
        attribute: str,
        target: SynthResource,
        *target_attributes: str,
        literal: str | None = None,
    ) -> list[SynthResource]:
        """Resources of ``resource_type`` whose ``attribute`` refers to ``target`` (or equals ``literal``)."""
        return [
            r
            for r in self.of_type(resource_type)
            if r.refers_to(attribute, target, *target_attributes)
            or (literal is not None and r.body.get(attribute) == literal)
        ]
