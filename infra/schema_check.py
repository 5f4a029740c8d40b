"""Check synthesized Terraform JSON against the AWS provider schema.

Our resources are generic ``TerraformResource`` objects, so nothing type-checks their arguments at synth
time; a misspelt attribute or a block in the wrong shape only shows at ``terraform plan``. This module
walks every resource of a synthesized document (and the ``provider.aws`` configuration) and reports each
name, shape and value that Terraform would reject, with its full location, e.g.
``aws_s3_bucket.data.server_side_encryption_configuration.rule[0].apply_server_side_encryption_by_default``.

The schemas are ``infra/provider_schema/aws.json`` and, for ``kubernetes_*`` resources and
``provider.kubernetes`` (EKS serving), ``infra/provider_schema/kubernetes.json`` (see that package for
their shape and how to regenerate them).
Values are checked the way Terraform converts them: strings holding ``${...}`` or ``%{...}`` templates are
only known at apply time and pass as anything; numbers and bools may be given as strings; lists stand for
sets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from core.errors import Problem
from core.terraform.document import META_ARGUMENTS as _TERRAFORM_META
from core.terraform.document import METADATA_KEY
from core.terraform.expressions import is_template
from infra.provider_schema import load_aws_schema, load_kubernetes_schema

Schema = Mapping[str, Any]

# Terraform's own resource arguments and cdktf's metadata key: not provider attributes.
META_ARGUMENTS = _TERRAFORM_META | {METADATA_KEY}
# What Terraform accepts as a number or a bool written as a string (cty's string conversions).
NUMERIC_STRING = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
BOOL_STRINGS = frozenset({"true", "false", "1", "0"})


#: resource type prefix -> how to add a missing type of that provider to its committed schema
_ADD_TYPE_HINTS = {
    "aws": "if it is a real AWS type, add it to RESOURCE_TYPES in scripts/extract_provider_schema.py and"
    " re-run the script",
    "kubernetes": "if it is a real Kubernetes type, add it to KUBERNETES_RESOURCE_TYPES in"
    " scripts/extract_provider_schema.py and re-run it with --provider kubernetes",
}


def check_stack(
    tf_json: Mapping[str, Any], schema: Schema | None = None, kubernetes_schema: Schema | None = None
) -> list[Problem]:
    """Every problem in the resources and the AWS and Kubernetes provider configurations of a document.

    ``kubernetes_*`` resources are checked against the Kubernetes provider schema, every other
    resource against the AWS one."""
    schema = load_aws_schema() if schema is None else schema
    kubernetes_schema = load_kubernetes_schema() if kubernetes_schema is None else kubernetes_schema
    schemas = {"aws": schema, "kubernetes": kubernetes_schema}
    providers = tf_json.get("provider", {})
    return [
        *_check_resources(tf_json.get("resource", {}), schemas),
        *_check_provider(providers, schema["provider"]),
        *_check_provider(providers, kubernetes_schema["provider"], "kubernetes"),
    ]


def _provider_of(resource_type: str) -> str:
    return "kubernetes" if resource_type.startswith("kubernetes_") else "aws"


def _check_resources(resources: Any, schemas: Mapping[str, Schema]) -> list[Problem]:
    if not isinstance(resources, Mapping):
        return [Problem("resource", "must be an object of resource types", resources)]
    problems: list[Problem] = []
    for resource_type, instances in resources.items():
        provider = _provider_of(resource_type)
        known = schemas[provider]["resources"]
        if resource_type not in known:
            problems.append(
                Problem(
                    resource_type,
                    f"unknown resource type: not in the {provider} provider schema ({_ADD_TYPE_HINTS[provider]})",
                )
            )
            continue
        if not isinstance(instances, Mapping):
            problems.append(Problem(resource_type, "must be an object of named resources", instances))
            continue
        for name, body in instances.items():
            problems += _check_object(f"{resource_type}.{name}", body, known[resource_type], META_ARGUMENTS)
    return problems


def _check_provider(providers: Any, provider_schema: Schema, name: str = "aws") -> list[Problem]:
    """``provider.<name>`` is a list of configurations as cdktf writes it, or a single object."""
    configs = providers.get(name) if isinstance(providers, Mapping) else None
    if configs is None:
        return []
    if isinstance(configs, Mapping):
        return _check_object(f"provider.{name}", configs, provider_schema)
    if not isinstance(configs, list):
        return [Problem(f"provider.{name}", "must be an object or a list of objects", configs)]
    problems: list[Problem] = []
    for index, config in enumerate(configs):
        problems += _check_object(f"provider.{name}[{index}]", config, provider_schema)
    return problems


# ---------------------------------------------------------------------------------------------------------
# Objects: a resource body, a provider configuration, one nested block
# ---------------------------------------------------------------------------------------------------------


def _check_object(
    location: str, body: Any, schema: Schema, ignored: frozenset[str] = frozenset()
) -> list[Problem]:
    if not isinstance(body, Mapping):
        return [Problem(location, f"must be an object, not {_kind(body)}", body)]
    attributes, blocks = schema["attributes"], schema["blocks"]
    problems: list[Problem] = []
    for key, value in body.items():
        where = f"{location}.{key}"
        if key in ignored:
            continue
        if key in attributes:
            problems += _check_value(where, value, attributes[key]["type"])
        elif key in blocks:
            problems += _check_nested(where, value, blocks[key])
        elif key == "dynamic":
            problems += _check_dynamic(where, value, blocks)
        else:
            problems.append(Problem(where, _unknown_name_message(key, [*attributes, *blocks])))
    problems += _missing_required(location, body, schema)
    return problems


def _missing_required(location: str, body: Mapping[str, Any], schema: Schema) -> list[Problem]:
    dynamic = body.get("dynamic")
    generated = set(dynamic) if isinstance(dynamic, Mapping) else set()
    problems: list[Problem] = []
    for name, attribute in schema["attributes"].items():
        if attribute["required"] and body.get(name) is None:
            problems.append(Problem(f"{location}.{name}", "required attribute is missing (or null)"))
    for name, block in schema["blocks"].items():
        if block["required"] and name not in generated and body.get(name) in (None, []):
            problems.append(Problem(f"{location}.{name}", "required block is missing"))
    return problems


def _unknown_name_message(name: str, known: list[str], what: str = "attribute or block") -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what}: not in the provider schema{hint}"


# ---------------------------------------------------------------------------------------------------------
# Nested objects: real blocks and object-typed attributes
# ---------------------------------------------------------------------------------------------------------


def _check_nested(location: str, value: Any, nested: Schema) -> list[Problem]:
    if value is None:  # an absent optional block; required ones are reported by _missing_required
        return []
    if nested["syntax"] == "attribute":
        elements = _attribute_objects(location, value, nested)
    else:
        elements = _block_objects(location, value, nested)
    if isinstance(elements, Problem):
        return [elements]
    problems: list[Problem] = []
    for where, element in elements:
        problems += _check_object(where, element, nested)
        if nested["every_key_required"] and isinstance(element, Mapping):
            problems += _unset_keys(where, element, nested)
    return problems


def _block_objects(location: str, value: Any, block: Schema) -> list[tuple[str, Any]] | Problem:
    """Terraform JSON takes a block as one object or as a list of objects, and nothing else:
    an interpolation cannot stand for a block (cdktf writes a `dynamic` block for that)."""
    if isinstance(value, Mapping):
        return [(location, value)]
    if not isinstance(value, list):
        return Problem(location, f"a block must be an object or a list of objects, not {_kind(value)}", value)
    if block["max_items"] is not None and len(value) > block["max_items"]:
        return Problem(location, f"at most {block['max_items']} block(s) allowed", len(value))
    return [(f"{location}[{index}]", element) for index, element in enumerate(value)]


def _attribute_objects(location: str, value: Any, nested: Schema) -> list[tuple[str, Any]] | Problem:
    """An object-typed attribute is an expression: one object, or a list of them, or an interpolation."""
    if is_template(value):
        return []
    if nested["nesting"] == "single":
        if not isinstance(value, Mapping):
            return Problem(location, f"must be an object, not {_kind(value)}", value)
        return [(location, value)]
    if not isinstance(value, list):
        return Problem(location, f"must be a list of objects, not {_kind(value)}", value)
    return [(f"{location}[{index}]", element) for index, element in enumerate(value)]


def _unset_keys(location: str, element: Mapping[str, Any], nested: Schema) -> list[Problem]:
    """SDKv2 "attributes as blocks" (e.g. aws_security_group.ingress) are whole objects in JSON:
    Terraform rejects one that leaves out a key, so unused keys must be written as null."""
    missing = sorted(set(nested["attributes"]) - set(element))
    if not missing:
        return []
    return [Problem(location, f"must set every key (null for unused ones); missing: {', '.join(missing)}")]


def _check_dynamic(location: str, value: Any, blocks: Schema) -> list[Problem]:
    """``"dynamic": {"<block>": {"for_each": ..., "content": {...}}}``: check the names and the content."""
    if not isinstance(value, Mapping):
        return [Problem(location, f"must be an object of block names, not {_kind(value)}", value)]
    problems: list[Problem] = []
    for name, specs in value.items():
        where = f"{location}.{name}"
        block = blocks.get(name)
        if block is None or block["syntax"] != "block":
            problems.append(Problem(where, _unknown_name_message(name, [*blocks], "nested block")))
            continue
        for spec_location, spec in _as_list(where, specs):
            content = spec.get("content") if isinstance(spec, Mapping) else None
            if not isinstance(content, Mapping):
                problems.append(Problem(spec_location, "a dynamic block needs a 'content' object", spec))
            else:
                problems += _check_object(f"{spec_location}.content", content, block)
    return problems


def _as_list(location: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, list):
        yield from ((f"{location}[{index}]", element) for index, element in enumerate(value))
    else:
        yield location, value


# ---------------------------------------------------------------------------------------------------------
# Attribute values
# ---------------------------------------------------------------------------------------------------------


def _check_value(location: str, value: Any, type_expr: str) -> list[Problem]:
    """Check a value against a Terraform type expression: a primitive, ``list(T)``, ``set(T)``, ``map(T)``."""
    if value is None or is_template(value) or type_expr == "any":
        return []
    collection, _, rest = type_expr.partition("(")
    element_type = rest.removesuffix(")")
    if collection in ("list", "set"):
        if not isinstance(value, list):
            return [Problem(location, f"expected {type_expr}, not {_kind(value)}", value)]
        return [
            p for i, item in enumerate(value) for p in _check_value(f"{location}[{i}]", item, element_type)
        ]
    if collection == "map":
        if not isinstance(value, Mapping):
            return [Problem(location, f"expected {type_expr}, not {_kind(value)}", value)]
        return [
            p for key, item in value.items() for p in _check_value(f'{location}["{key}"]', item, element_type)
        ]
    if _fits_primitive(value, type_expr):
        return []
    return [Problem(location, f"expected {type_expr}, not {_kind(value)}", value)]


def _fits_primitive(value: Any, type_expr: str) -> bool:
    """Terraform converts between primitives where the value allows it (e.g. "7" to 7, true to "true")."""
    if isinstance(value, (Mapping, list)):
        return False
    if type_expr == "string":
        return True
    if type_expr == "number":
        if isinstance(value, str):
            return NUMERIC_STRING.fullmatch(value) is not None
        return not isinstance(value, bool)
    if type_expr == "bool":
        return isinstance(value, bool) or (isinstance(value, str) and value in BOOL_STRINGS)
    raise ValueError(f"unknown type {type_expr!r} in the provider schema")


def _kind(value: Any) -> str:
    """How a JSON value reads in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
