"""The model of one Terraform JSON document (``cdktf.out/stacks/<stack>/cdk.tf.json``).

Resources and data sources are keyed by address (``aws_s3_bucket.storage_data``,
``data.aws_iam_policy_document.x``); each block keeps its arguments apart from the
meta-arguments Terraform reads itself (``depends_on``, ``lifecycle``, ``provider``, ``count``,
``for_each``, ...). cdktf's ``"//"`` metadata is dropped from arguments at every level and kept
per block in :attr:`ResourceBlock.metadata` (constructs record policy suppressions there).

:func:`parse_document` collects structural problems (a block that is not an object, a
``depends_on`` that is not a list of addresses, a provider that is not configured) in
:attr:`Document.problems` instead of raising, so a reader can report every one at once.
Whether a reader supports what the document uses (``count``, variables, a resource type) is
the reader's judgement, not the model's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Problem, TerraformDocumentError

#: cdktf's metadata key, at every level of a document
METADATA_KEY = "//"
#: meta-arguments Terraform reads itself; they are never sent to the provider
META_ARGUMENTS = frozenset(
    {"depends_on", "lifecycle", "provider", "count", "for_each", "provisioner", "connection"}
)


def strip_comments(value: Any) -> Any:
    """Drop cdktf's ``"//"`` metadata keys at every level."""
    if isinstance(value, Mapping):
        return {k: strip_comments(v) for k, v in value.items() if k != METADATA_KEY}
    if isinstance(value, list):
        return [strip_comments(v) for v in value]
    return value


def as_list(value: Any) -> list[Any]:
    """``None`` -> ``[]``, a list or tuple -> a list, anything else -> a one-element list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def first_block(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested block written as a one-element list (cdktf) or an object; ``{}`` when absent."""
    value = body.get(name)
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class ResourceBlock:
    """One ``resource`` (or ``data``) block: its arguments, and its meta-arguments apart."""

    address: str
    type: str
    name: str
    #: the arguments, without meta-arguments and without cdktf's ``//`` metadata
    config: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    lifecycle: Mapping[str, Any] = field(default_factory=dict)
    provider: str | None = None
    #: ``"managed"`` for ``resource`` blocks, ``"data"`` for data sources
    mode: str = "managed"
    #: the meta-arguments present besides depends_on/lifecycle/provider (count, for_each, ...)
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: cdktf's ``//`` metadata of this block (construct path, policy suppressions)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def arguments(self) -> Mapping[str, Any]:
        return self.config

    def get(self, argument: str, default: Any = None) -> Any:
        return self.config.get(argument, default)


@dataclass(frozen=True)
class Document:
    """A parsed Terraform JSON document; ``problems`` are structural ones found while parsing."""

    resources: Mapping[str, ResourceBlock]
    outputs: Mapping[str, Any]
    #: provider configurations keyed ``aws`` (the default) or ``aws.<alias>``
    providers: Mapping[str, Mapping[str, Any]]
    source: str = "<document>"
    problems: tuple[Problem, ...] = ()
    data_sources: Mapping[str, ResourceBlock] = field(default_factory=dict)
    #: the ``terraform`` block (backend, required_providers), without metadata
    terraform: Mapping[str, Any] = field(default_factory=dict)
    locals: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    modules: Mapping[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str | None:
        """The region of the default ``aws`` provider, if the document names one."""
        region = self.providers.get("aws", {}).get("region")
        return region if isinstance(region, str) else None

    def provider_config(self, block: ResourceBlock) -> Mapping[str, Any]:
        return self.providers.get(block.provider or "aws", {})

    @property
    def backend(self) -> Mapping[str, Mapping[str, Any]]:
        """``terraform.backend``: backend kind -> its configuration."""
        backend = self.terraform.get("backend", {})
        return backend if isinstance(backend, Mapping) else {}

    def blocks(self) -> Iterator[ResourceBlock]:
        """Every resource, then every data source."""
        yield from self.resources.values()
        yield from self.data_sources.values()

    def get(self, address: str) -> ResourceBlock | None:
        return self.resources.get(address) or self.data_sources.get(address)

    def of_type(self, resource_type: str) -> list[ResourceBlock]:
        return [b for b in self.resources.values() if b.type == resource_type]

    @property
    def types(self) -> frozenset[str]:
        """The managed resource types the document uses."""
        return frozenset(b.type for b in self.resources.values())


def _one_or_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def _strip_interpolation(text: str) -> str:
    """``depends_on`` entries are bare addresses; tolerate ``${aws_x.y}`` as well."""
    text = text.strip()
    return text[2:-1].strip() if text.startswith("${") and text.endswith("}") else text


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    return strip_comments(value) if isinstance(value, Mapping) else {}


def parse_document(data: Mapping[str, Any], *, source: str = "<document>") -> Document:
    """Parse a Terraform JSON document (a dict); structural problems are collected, not raised."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return Document({}, {}, {}, source, (Problem(source, "a Terraform JSON document must be an object"),))

    providers: dict[str, Mapping[str, Any]] = {}
    for name, configs in _mapping(data, "provider").items():
        for config in _one_or_list(configs):
            if not isinstance(config, Mapping):
                problems.append(Problem(f"{source}: provider.{name}", "must be an object"))
                continue
            key = f"{name}.{config['alias']}" if config.get("alias") else name
            providers[key] = dict(config)

    def blocks(kind: str, mode: str) -> dict[str, ResourceBlock]:
        found: dict[str, ResourceBlock] = {}
        section = data.get(kind, {}) or {}
        if not isinstance(section, Mapping):
            problems.append(
                Problem(f"{source}: {kind}", "must be an object of <type> -> <name> -> arguments")
            )
            return found
        for rtype, named in section.items():
            if rtype == METADATA_KEY:
                continue
            if not isinstance(named, Mapping):
                problems.append(
                    Problem(f"{source}: {kind}.{rtype}", "must be an object of <name> -> arguments")
                )
                continue
            for name, raw in named.items():
                if name == METADATA_KEY:
                    continue
                address = f"{rtype}.{name}" if mode == "managed" else f"data.{rtype}.{name}"
                configs = _one_or_list(raw)
                if len(configs) != 1 or not isinstance(configs[0], Mapping):
                    problems.append(Problem(address, "must be one object of arguments"))
                    continue
                metadata = configs[0].get(METADATA_KEY)
                raw_config = strip_comments(configs[0])
                depends_on = raw_config.get("depends_on", []) or []
                if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
                    problems.append(
                        Problem(f"{address}: depends_on", "must be a list of resource addresses", depends_on)
                    )
                    depends_on = []
                lifecycle = raw_config.get("lifecycle", {}) or {}
                lifecycle = lifecycle[0] if isinstance(lifecycle, list) and lifecycle else lifecycle
                provider = raw_config.get("provider")
                if provider is not None and provider not in providers and provider != "aws":
                    problems.append(
                        Problem(f"{address}: provider", "names a provider that is not configured", provider)
                    )
                found[address] = ResourceBlock(
                    address=address,
                    type=rtype,
                    name=name,
                    config={k: v for k, v in raw_config.items() if k not in META_ARGUMENTS},
                    depends_on=tuple(_strip_interpolation(d) for d in depends_on),
                    lifecycle=dict(lifecycle) if isinstance(lifecycle, Mapping) else {},
                    provider=provider,
                    mode=mode,
                    meta={
                        k: v
                        for k, v in raw_config.items()
                        if k in META_ARGUMENTS and k not in ("depends_on", "lifecycle", "provider")
                    },
                    metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
                )
        return found

    resources = blocks("resource", "managed")
    data_sources = blocks("data", "data")

    outputs: dict[str, Any] = {}
    for name, block in _mapping(data, "output").items():
        if not isinstance(block, Mapping) or "value" not in block:
            problems.append(Problem(f"{source}: output.{name}", "must be an object with a 'value'"))
            continue
        outputs[name] = block["value"]

    locals_: dict[str, Any] = {}
    for entry in _one_or_list(strip_comments(data.get("locals"))):
        if isinstance(entry, Mapping):
            locals_.update(entry)

    return Document(
        resources,
        outputs,
        providers,
        source,
        tuple(problems),
        data_sources,
        terraform=_mapping(data, "terraform"),
        locals=locals_,
        variables=_mapping(data, "variable"),
        modules=_mapping(data, "module"),
    )


def load_document(source: Path | Mapping[str, Any]) -> Document:
    """Read and parse a ``cdk.tf.json`` (a path) or parse an already loaded document (a dict).

    An unreadable file or invalid JSON raises :class:`~core.errors.TerraformDocumentError`
    naming the file.
    """
    if isinstance(source, Mapping):
        return parse_document(source)
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise TerraformDocumentError(
            [Problem(str(path), f"cannot read the stack: {err.strerror or err}")]
        ) from err
    except ValueError as err:
        raise TerraformDocumentError([Problem(str(path), f"not valid JSON: {err}")]) from err
    return parse_document(data, source=str(path))


__all__ = [
    "METADATA_KEY",
    "META_ARGUMENTS",
    "Document",
    "ResourceBlock",
    "as_list",
    "first_block",
    "load_document",
    "parse_document",
    "strip_comments",
]
