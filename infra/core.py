"""The building blocks every construct uses: generic resources with readable, stable addresses.

Resources are written with the core library's generic ``TerraformResource``: the prebuilt
provider bindings cost 5-18 s and up to 1.3 GB per synth. Attribute names are checked
against the AWS provider schema by ``infra.schema_check`` in the test suite instead.

Attributes are not handed to the jsii runtime one resource at a time: each resource
registers itself with its :class:`TenantStack`, which fills every resource's arguments into
the stack's Terraform document in one pass (``to_terraform``). A synth is dominated by
round trips to the Node process; this keeps them to one or two per resource.

Addresses: a resource created with id ``Bucket`` inside construct ``Storage/Data`` becomes
``aws_s3_bucket.storage_data_bucket``; the id ``this`` names a construct's primary resource
(``aws_s3_bucket.storage_data``). Addresses come from construct ids only, so they are stable;
renaming an id destroys and recreates the real resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from constructs import Construct

from core.errors import ConstructPropsError, Problem
from infra.cdk import TerraformDataSource, TerraformResource, TerraformStack

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
    """A stack that writes its resources' addresses and arguments in one pass over its document.

    cdktf names a nested resource ``<path>_<hash>`` unless told otherwise, and telling it
    costs a round trip per resource; so does handing over each resource's arguments. Instead,
    ``to_terraform`` takes cdktf's document once, finds each element by its construct path,
    and renames it to its readable address with its arguments filled in. References are
    written as literal ``${type.name.attr}`` strings (``Resource.ref``), never as jsii tokens,
    so nothing in the document points at cdktf's own names.
    """

    def __init__(self, scope: Construct, stack_id: str) -> None:
        super().__init__(scope, stack_id)
        self.construct_path = stack_id
        self._addresses: set[str] = set()
        self._elements: dict[str, Resource | DataSource] = {}

    def _register(self, element: Resource | DataSource) -> None:
        self._elements[element.construct_path] = element

    def to_terraform(self) -> Any:
        doc = super().to_terraform()
        for block in ("resource", "data"):
            for bodies in doc.get(block, {}).values():
                renamed = {}
                for name, body in bodies.items():
                    metadata = body.get("//", {}).get("metadata", {})
                    element = self._elements.get(metadata.get("path", ""))
                    if element is None:  # an element not made through Resource/DataSource
                        renamed[name] = body
                        continue
                    metadata["uniqueId"] = element.name
                    body.update(element.arguments())
                    if getattr(element, "suppressions", None):
                        body["//"]["tenantml"] = {"suppressions": list(element.suppressions)}
                    renamed[element.name] = body
                bodies.clear()
                bodies.update(sorted(renamed.items()))
        return doc


class TenantConstruct(Construct):
    """A construct that knows its address prefix and hands out unique resource addresses."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        parent_prefix = getattr(scope, "address_prefix", "")
        own = snake(construct_id)
        self.address_prefix = f"{parent_prefix}_{own}" if parent_prefix else own
        self.construct_path = f"{scope.construct_path}/{construct_id}"
        # every construct of a stack shares the stack's register of addresses and elements
        self._addresses: set[str] = scope._addresses
        self._stack: TenantStack = scope if isinstance(scope, TenantStack) else scope._stack

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


class Resource(TerraformResource):
    """One Terraform resource whose arguments are a plain dict.

    ``attributes`` may be a mapping or a callable returning one; a callable is evaluated at
    synth time, after every grant has been added (used for IAM policy documents).
    """

    def __init__(
        self,
        scope: TenantConstruct,
        construct_id: str,
        resource_type: str,
        attributes: Mapping[str, Any] | Any,
        *,
        depends_on: Sequence[Resource] = (),
    ) -> None:
        super().__init__(scope, construct_id, terraform_resource_type=resource_type)
        self.resource_type = resource_type
        self.name = scope._address_name(construct_id, resource_type)
        self.construct_path = f"{scope.construct_path}/{construct_id}"
        self._attributes = attributes
        self.suppressions: list[dict[str, str]] = []
        scope._stack._register(self)
        # plain address strings: Terraform JSON takes them as is, and it saves jsii round trips
        self._meta: dict[str, Any] = {}
        if depends_on:
            self._meta["depends_on"] = [d.address for d in depends_on]

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


class DataSource(TerraformDataSource):
    """A Terraform data source (``data.<type>.<name>``), e.g. the caller's account id."""

    def __init__(
        self,
        scope: TenantConstruct,
        construct_id: str,
        source_type: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id, terraform_resource_type=source_type)
        self.source_type = source_type
        self.name = scope._address_name(construct_id, f"data.{source_type}")
        self.construct_path = f"{scope.construct_path}/{construct_id}"
        self._attributes = dict(attributes or {})
        scope._stack._register(self)

    @property
    def address(self) -> str:
        return f"data.{self.source_type}.{self.name}"

    def ref(self, attribute: str) -> str:
        return ref(self.address, attribute)

    def arguments(self) -> dict[str, Any]:
        return _prune(self._attributes)
