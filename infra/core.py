"""The building blocks every construct uses: generic resources with readable, stable addresses.

Resources are written with the core library's generic resource shape rather than the prebuilt
provider bindings (those cost 5-18 s and up to 1.3 GB per synth). Attribute names are checked
against the AWS provider schema by ``infra.schema_check`` in the test suite instead.

A synth is dominated by round trips to the jsii/Node process (about 0.4 ms each, a dozen
per tenant would do), so resources, data sources, outputs, file assets and the constructs that
group them are plain Python objects, not nodes of the CDK tree: each registers itself with its
:class:`TenantStack`, which writes every one into the stack's Terraform document in one pass
(``to_terraform``), exactly as cdktf would (same ``//`` metadata, addresses and asset paths).
Only providers and the backend are made through jsii.

Addresses: a resource created with id ``Bucket`` inside construct ``Storage/Data`` becomes
``aws_s3_bucket.storage_data_bucket``; the id ``this`` names a construct's primary resource
(``aws_s3_bucket.storage_data``). Addresses come from construct ids only, so they are stable;
renaming an id destroys and recreates the real resource.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.errors import ConstructPropsError, Problem
from core.terraform import stable_json
from infra.cdk import App, Construct, TerraformStack

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
PRIMARY_ID = "this"
SUPPRESSION_RULE_ID = re.compile(r"^TM-[A-Z0-9]+-\d{3}$")


def snake(construct_id: str) -> str:
    """``DataBucket`` -> ``data_bucket``; ids must already be PascalCase or snake_case."""
    return _CAMEL.sub("_", construct_id).replace("-", "_").lower()


def ref(address: str, attribute: str) -> str:
    """A Terraform reference expression to an attribute of the resource at ``address``."""
    return f"${{{address}.{attribute}}}"


def is_token(value: object) -> bool:
    """True for values only known at apply time; construct props skip validating those."""
    return isinstance(value, str) and "${" in value


def _prune(value: Any) -> Any:
    """Drop ``None`` recursively: an unset optional argument must not appear in the JSON."""
    if isinstance(value, Mapping):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_prune(v) for v in value if v is not None]
    return value


class TenantStack(TerraformStack):
    """A stack that writes its resources, data sources and outputs into its document in one pass.

    ``to_terraform`` takes cdktf's document (providers, backend) once and adds every element
    registered by a :class:`Resource` or :class:`DataSource` at its readable address, with the
    ``//`` metadata cdktf gives an element (its construct path and unique id), and every output.
    References are literal ``${type.name.attr}`` strings (``Resource.ref``), never jsii tokens.
    Synthesize with :func:`synth_app`: a bare ``app.synth()`` writes the documents but not the
    file assets (:meth:`TenantConstruct.add_file_asset`).
    """

    def __init__(self, scope: Construct, stack_id: str) -> None:
        super().__init__(scope, stack_id)
        self.construct_path = stack_id
        self._addresses: set[str] = set()
        self._elements: list[Resource | DataSource] = []
        self._child_ids: set[str] = set()
        self._outputs: dict[str, Any] = {}
        #: (path in the stack's directory, source file) of every file asset
        self._assets: list[tuple[str, Path]] = []
        #: set while :func:`synth_app` runs: cdktf's part of the document, kept here
        self._own_document: dict[str, Any] | None = None

    @property
    def _stack(self) -> TenantStack:
        return self

    def _register(self, element: Resource | DataSource) -> None:
        self._elements.append(element)

    def add_output(self, output_id: str, value: Any) -> None:
        """A Terraform output named ``output_id`` (what ``TerraformOutput(stack, output_id, value=...)``
        writes, without its round trips to the CDK)."""
        _claim_id(self, output_id)
        self._outputs[output_id] = value

    def to_terraform(self) -> Any:
        doc = super().to_terraform()
        if self._own_document is not None:
            # synth_app writes the whole document itself: Node writes only cdktf's part, overwritten
            self._own_document = doc
            return doc
        return self._complete(doc)

    def _complete(self, doc: dict[str, Any]) -> dict[str, Any]:
        """cdktf's document with every element and output of the stack added, as cdktf would."""
        for element in self._elements:
            body: dict[str, Any] = {
                "//": {"metadata": {"path": element.construct_path, "uniqueId": element.name}}
            }
            body.update(element.arguments())
            if getattr(element, "suppressions", None):
                body["//"]["tenantml"] = {"suppressions": list(element.suppressions)}
            doc.setdefault(element.block, {}).setdefault(element.terraform_type, {})[element.name] = body
        for output_id, value in self._outputs.items():
            doc.setdefault("output", {})[output_id] = {"value": value}
            doc["//"].setdefault("outputs", {}).setdefault(self.construct_path, {})[output_id] = output_id
        for block in ("resource", "data"):
            for bodies in doc.get(block, {}).values():
                ordered = sorted(bodies.items())
                bodies.clear()
                bodies.update(ordered)
        return doc


def synth_app(app: App, outdir: Path) -> None:
    """``app.synth()`` into ``outdir``, each :class:`TenantStack`'s document written by Python.

    Handing a whole document back to cdktf costs more than building it (every value crosses the
    jsii boundary, then Node resolves and writes it); cdktf still writes the manifest and its own
    part of each document, which is then replaced by the bytes cdktf would have written for the
    whole (:func:`core.terraform.stable_json.dumps`), and each stack's file assets are put in place.
    """
    stacks = [child for child in app.node.children if isinstance(child, TenantStack)]
    for stack in stacks:
        stack._own_document = {}
    try:
        app.synth()
    finally:
        documents = {stack: stack._own_document for stack in stacks}
        for stack in stacks:
            stack._own_document = None
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    for stack, doc in documents.items():
        target = outdir / manifest["stacks"][stack.construct_path]["synthesizedStackPath"]
        target.write_bytes(stable_json.dumps(stack._complete(doc or {})).encode("utf-8"))
        for asset_path, source in stack._assets:
            _place_asset(source, target.parent / asset_path)


def _place_asset(source: Path, target: Path) -> None:
    """What cdktf does with a file asset: drop the folder's earlier versions, then put the file there
    (a hard link rather than a copy: nothing rewrites a synthesized file in place)."""
    folder = target.parent.parent
    if folder.exists():
        shutil.rmtree(folder)
    target.parent.mkdir(parents=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


#: resources with this id are left out of an asset folder's readable name, and this one entirely
_HIDDEN_FROM_HUMAN_ID, _HIDDEN_ID = "Resource", "Default"
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_-]")


def make_unique_id(components: Sequence[str]) -> str:
    """cdktf's ``makeUniqueId`` (``lib/private/unique.js``): readable path components and an 8-digit hash
    of the whole path, e.g. ``Functions_Alarm_Code_C5CD1880``; a single component as it is."""
    components = [c for c in components if c != _HIDDEN_ID]
    if len(components) == 1 and len(_NOT_IN_ID.sub("", components[0])) <= 255:
        return _NOT_IN_ID.sub("", components[0])
    digest = hashlib.md5("/".join(components).encode("utf-8"), usedforsecurity=False).hexdigest()
    readable: list[str] = []
    for component in components:
        if not readable or not readable[-1].endswith(component):
            readable.append(component)
    human = "_".join(_NOT_IN_ID.sub("", c) for c in readable if c != _HIDDEN_FROM_HUMAN_ID)[:240]
    return f"{human}_{digest[:8].upper()}"


def _claim_id(scope: TenantStack | TenantConstruct, construct_id: str) -> str:
    """The child's construct path; an id used twice in one scope is refused, as the CDK tree would."""
    if construct_id in scope._child_ids:
        raise ConstructPropsError(
            [Problem(f"{scope.construct_path}/{construct_id}", "two constructs in one scope share this id")]
        )
    scope._child_ids.add(construct_id)
    return f"{scope.construct_path}/{construct_id}"


class TenantConstruct:
    """A group of resources that knows its address prefix and hands out unique resource addresses.

    A plain Python object, not a node of the CDK tree (see the module docstring).
    """

    def __init__(self, scope: TenantStack | TenantConstruct, construct_id: str) -> None:
        self.construct_path = _claim_id(scope, construct_id)
        self._child_ids: set[str] = set()
        parent_prefix = getattr(scope, "address_prefix", "")
        own = snake(construct_id)
        self.address_prefix = f"{parent_prefix}_{own}" if parent_prefix else own
        # every construct of a stack shares the stack's register of addresses and elements
        self._addresses: set[str] = scope._addresses
        self._stack: TenantStack = scope._stack

    def add_file_asset(self, construct_id: str, source: Path, asset_hash: str) -> str:
        """The path, in the stack's directory, of a copy of ``source`` that synthesis puts there: what
        ``TerraformAsset(self, construct_id, path=source, type=FILE, asset_hash=asset_hash).path`` is."""
        path = _claim_id(self, construct_id)
        components = path.split("/")[1:]  # below the stack, as cdktf names an asset's folder
        asset_path = f"assets/{make_unique_id(components)}/{asset_hash}/{source.name}"
        self._stack._assets.append((asset_path, source))
        return asset_path

    def _address_name(self, construct_id: str, resource_type: str) -> str:
        name = (
            self.address_prefix
            if construct_id == PRIMARY_ID
            else f"{self.address_prefix}_{snake(construct_id)}"
        )
        address = f"{resource_type}.{name}"
        if address in self._addresses:
            raise ConstructPropsError(
                [Problem(address, "two resources would share this Terraform address; rename a construct id")]
            )
        self._addresses.add(address)
        return name


#: what a construct may be created in
Scope = TenantStack | TenantConstruct


class Resource:
    """One Terraform resource whose arguments are a plain dict.

    ``attributes`` may be a mapping or a callable returning one; a callable is evaluated at
    synth time, after every grant has been added (used for IAM policy documents).
    """

    block = "resource"

    def __init__(
        self,
        scope: TenantConstruct,
        construct_id: str,
        resource_type: str,
        attributes: Mapping[str, Any] | Any,
        *,
        depends_on: Sequence[Resource] = (),
    ) -> None:
        self.resource_type = resource_type
        self.name = scope._address_name(construct_id, resource_type)
        self.construct_path = _claim_id(scope, construct_id)
        self._attributes = attributes
        self.suppressions: list[dict[str, str]] = []
        scope._stack._register(self)
        # plain address strings: Terraform JSON takes them as is
        self._meta: dict[str, Any] = {}
        if depends_on:
            self._meta["depends_on"] = [d.address for d in depends_on]

    @property
    def terraform_type(self) -> str:
        return self.resource_type

    @property
    def address(self) -> str:
        return f"{self.resource_type}.{self.name}"

    def suppress(self, rule_id: str, reason: str) -> None:
        """Accept a policy finding on this resource on purpose; the report lists it with the reason."""
        problems = []
        if not SUPPRESSION_RULE_ID.match(rule_id):
            problems.append(Problem(f"{self.address}.suppress", "rule id must look like TM-S3-001", rule_id))
        if len(reason.strip()) < 10:
            problems.append(
                Problem(
                    f"{self.address}.suppress",
                    "a suppression needs a written reason (10+ characters)",
                    reason,
                )
            )
        if problems:
            raise ConstructPropsError(problems)
        self.suppressions.append({"rule_id": rule_id, "reason": reason.strip()})

    def ref(self, attribute: str) -> str:
        return ref(self.address, attribute)

    @property
    def id_ref(self) -> str:
        return self.ref("id")

    @property
    def arn_ref(self) -> str:
        return self.ref("arn")

    def arguments(self) -> dict[str, Any]:
        """The resource's Terraform arguments; callables are evaluated now, after every grant."""
        attributes = self._attributes() if callable(self._attributes) else self._attributes
        return {**_prune(attributes), **self._meta}


class DataSource:
    """A Terraform data source (``data.<type>.<name>``), e.g. the caller's account id."""

    block = "data"

    def __init__(
        self,
        scope: TenantConstruct,
        construct_id: str,
        source_type: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.source_type = source_type
        self.name = scope._address_name(construct_id, f"data.{source_type}")
        self.construct_path = _claim_id(scope, construct_id)
        self._attributes = dict(attributes or {})
        scope._stack._register(self)

    @property
    def terraform_type(self) -> str:
        return self.source_type

    @property
    def address(self) -> str:
        return f"data.{self.source_type}.{self.name}"

    def ref(self, attribute: str) -> str:
        return ref(self.address, attribute)

    def arguments(self) -> dict[str, Any]:
        return _prune(self._attributes)
