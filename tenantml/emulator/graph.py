"""Read a Terraform JSON document, find its references and order its resources.

Only the part of Terraform's JSON syntax that synthesized stacks use is understood:
``resource.<type>.<name>`` objects, ``output.<name>.value``, ``provider`` (region, alias,
default tags), ``depends_on`` and ``lifecycle``. cdktf's ``"//"`` metadata keys are
ignored at every level. Strings may hold ``${...}`` interpolations whose expressions are
references (``aws_s3_bucket.data.arn``, ``aws_eks_cluster.this.identity[0].oidc[0].issuer``),
literals and the few functions in :data:`FUNCTIONS`; anything else (variables, locals,
operators, ``count``/``for_each``) is reported as a problem, never guessed at.

:func:`build_graph` checks a whole document before anything is created and raises one
:class:`~core.errors.EmulatorPlanError` listing every dependency cycle, dangling
reference, unsupported resource type and unsupported expression. :func:`resolve`
substitutes references with the attributes of created resources.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from core.errors import EmulatorPlanError, Problem

#: meta-arguments Terraform reads itself; they are never sent to AWS
META_ARGUMENTS = frozenset(
    {"depends_on", "lifecycle", "provider", "count", "for_each", "provisioner", "connection"}
)
#: meta-arguments the emulator does not implement (the stacks do not use them)
UNSUPPORTED_META = ("count", "for_each", "provisioner", "connection")
#: top-level blocks that make no difference to what is created
IGNORED_BLOCKS = frozenset({"//", "terraform", "provider", "resource", "output", "data"})
#: identifiers that start a traversal but are not resources
NON_RESOURCE_ROOTS = frozenset({"var", "local", "module", "path", "terraform", "each", "count", "self"})


class _Unknown:
    """A value only known once a resource has been created ("known after apply")."""

    _instance: _Unknown | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def is_known(value: Any) -> bool:
    """True when ``value`` contains no :data:`UNKNOWN` anywhere."""
    if value is UNKNOWN:
        return False
    if isinstance(value, Mapping):
        return all(is_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_known(v) for v in value)
    return True


class PartiallyKnown(dict):
    """Attributes of a resource that is still to be created: a missing key is unknown, not an error."""

    def __missing__(self, key: str) -> Any:
        return UNKNOWN


class ExpressionError(ValueError):
    """An expression the emulator cannot parse or does not support."""


class ResolutionError(LookupError):
    """A reference that cannot be resolved against created resources (a missing attribute)."""


# --- expressions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """``<address>.<path...>``: an attribute (or an element inside one) of another resource."""

    address: str
    path: tuple[str | int, ...] = ()

    @property
    def attribute(self) -> str | None:
        return str(self.path[0]) if self.path else None

    def __str__(self) -> str:
        text = self.address
        for step in self.path:
            text += f"[{step}]" if isinstance(step, int) else f".{step}"
        return text


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Ref:
    reference: Reference


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Tuple:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Index:
    target: Any
    key: Any


@dataclass(frozen=True)
class _Root:
    """A bare identifier at the start of a traversal (``aws_s3_bucket`` in ``aws_s3_bucket.x.arn``)."""

    name: str


#: the functions an expression may call; only those the stacks use (this is not Terraform)
FUNCTIONS: dict[str, Callable[..., Any]] = {}


def register_function(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name] = fn
        return fn

    return decorate


class _Parser:
    """A recursive-descent parser for the expression inside one ``${ ... }``."""

    _PUNCT = "()[].,}{*+-/%<>=!?:&|"

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def _peek(self) -> str:
        self._skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            found = self.text[self.pos : self.pos + 10] or "end of text"
            raise ExpressionError(f"expected {char!r} at {found!r}")
        self.pos += 1

    def _identifier(self) -> str:
        self._skip_space()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_-"):
            self.pos += 1
        if start == self.pos:
            raise ExpressionError(f"expected a name at {self.text[start : start + 10] or 'end of text'!r}")
        return self.text[start : self.pos]

    def _number(self) -> int | float:
        self._skip_space()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isdigit() or self.text[self.pos] in ".eE"):
            if self.text[self.pos] == "." and not self.text[self.pos + 1 : self.pos + 2].isdigit():
                break
            self.pos += 1
        token = self.text[start : self.pos]
        return float(token) if any(c in token for c in ".eE") else int(token)

    def _string(self) -> str:
        self._expect('"')
        out = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in escapes:
                    raise ExpressionError(f"unsupported escape \\{nxt} in a quoted string")
                out.append(escapes[nxt])
                self.pos += 2
                continue
            if self.text.startswith("${", self.pos) or self.text.startswith("%{", self.pos):
                raise ExpressionError("templates inside quoted strings are not supported")
            out.append(char)
            self.pos += 1
        raise ExpressionError("unterminated quoted string")

    def expression(self) -> Any:
        node = self._primary()
        while True:
            char = self._peek()
            if char == ".":
                self.pos += 1
                if self._peek() == "*":
                    raise ExpressionError("splat expressions (.*) are not supported")
                if self._peek().isdigit():  # legacy list.0.attribute syntax
                    start = self.pos
                    while self.pos < len(self.text) and self.text[self.pos].isdigit():
                        self.pos += 1
                    node = _Index(node, _Literal(int(self.text[start : self.pos])))
                else:
                    node = _Index(node, _Literal(self._identifier()))
            elif char == "[":
                self.pos += 1
                if self._peek() == "*":
                    raise ExpressionError("splat expressions ([*]) are not supported")
                key = self.expression()
                self._expect("]")
                node = _Index(node, key)
            else:
                break
        char = self._peek()
        if char and char in "+-*/%<>=!?&|":
            raise ExpressionError(f"operator {char!r} is not supported")
        return _collapse(node)

    def _primary(self) -> Any:
        char = self._peek()
        if not char:
            raise ExpressionError("empty expression")
        if char == '"':
            return _Literal(self._string())
        if char.isdigit():
            return _Literal(self._number())
        if char == "(":
            self.pos += 1
            inner = self.expression()
            self._expect(")")
            return inner
        if char == "[":
            self.pos += 1
            items = []
            while self._peek() != "]":
                items.append(self.expression())
                if self._peek() == ",":
                    self.pos += 1
                elif self._peek() != "]":
                    raise ExpressionError("expected ',' or ']' in a list")
            self.pos += 1
            return _Tuple(tuple(items))
        if char == "{":
            raise ExpressionError("object constructors are not supported")
        if char == "-":
            self.pos += 1
            return _Literal(-self._number())
        if not (char.isalpha() or char == "_"):
            raise ExpressionError(f"unexpected {char!r}")
        name = self._identifier()
        if name in ("true", "false", "null"):
            return _Literal({"true": True, "false": False, "null": None}[name])
        if self._peek() == "(":
            self.pos += 1
            args = []
            while self._peek() != ")":
                args.append(self.expression())
                if self._peek() == ",":
                    self.pos += 1
                elif self._peek() != ")":
                    raise ExpressionError(f"expected ',' or ')' in the arguments of {name}()")
            self.pos += 1
            if name not in FUNCTIONS:
                raise ExpressionError(f"function {name}() is not supported by the emulator")
            return _Call(name, tuple(args))
        return _Root(name)


def _collapse(node: Any) -> Any:
    """Turn a static traversal chain from a root identifier into a :class:`Reference`."""
    chain: list[Any] = []
    current = node
    while isinstance(current, _Index):
        chain.append(current.key)
        current = current.target
    if not isinstance(current, _Root):
        return node
    root = current.name
    chain.reverse()
    steps: list[Any] = [key.value if isinstance(key, _Literal) else key for key in chain]
    if root in NON_RESOURCE_ROOTS:
        raise ExpressionError(
            f"{root}.* references are not supported by the emulator (no variables or locals)"
        )
    if root == "data":
        if len(steps) < 2 or not all(isinstance(s, str) for s in steps[:2]):
            raise ExpressionError("a data source reference needs data.<type>.<name>")
        address, rest = f"data.{steps[0]}.{steps[1]}", steps[2:]
    else:
        if not steps or not isinstance(steps[0], str):
            raise ExpressionError(f"{root!r} is not a reference of the form <type>.<name>")
        address, rest = f"{root}.{steps[0]}", steps[1:]
    static: list[str | int] = []
    dynamic_from = len(rest)
    for i, step in enumerate(rest):
        if isinstance(step, (str, int)) and not isinstance(step, bool):
            static.append(int(step) if isinstance(step, str) and step.isdigit() else step)
        else:
            dynamic_from = i
            break
    result: Any = _Ref(Reference(address, tuple(static)))
    for step in rest[dynamic_from:]:
        result = _Index(result, step if not isinstance(step, (str, int)) else _Literal(step))
    return result


def parse_template(text: str) -> list[str | Any]:
    """Split a string into literal text and parsed ``${...}`` expressions.

    ``$${`` is a literal ``${`` and ``%%{`` a literal ``%{``; ``%{`` directives are not supported.
    """
    parts: list[str | Any] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i) or text.startswith("%%{", i):
            literal.append(text[i + 1 : i + 3])
            i += 3
        elif text.startswith("%{", i):
            raise ExpressionError("template directives (%{ ... }) are not supported")
        elif text.startswith("${", i):
            parser = _Parser(text, i + 2)
            if parser._peek() == "~":
                parser.pos += 1
            expr = parser.expression()
            if parser._peek() == "~":
                parser.pos += 1
            parser._expect("}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(expr)
            i = parser.pos
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _node_references(node: Any) -> Iterator[Reference]:
    if isinstance(node, _Ref):
        yield node.reference
    elif isinstance(node, _Call):
        for arg in node.args:
            yield from _node_references(arg)
    elif isinstance(node, _Tuple):
        for item in node.items:
            yield from _node_references(item)
    elif isinstance(node, _Index):
        yield from _node_references(node.target)
        if node.key is not None:
            yield from _node_references(node.key)


def _walk_strings(value: Any, location: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk_strings(item, f"{location}.{key}" if location else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk_strings(item, f"{location}[{index}]")


def find_references(value: Any, location: str = "") -> list[Reference]:
    """Every reference in every string of ``value`` (nested, embedded or whole), in order.

    Raises :class:`ExpressionError` for the first expression that cannot be parsed; use
    :func:`scan_references` to collect every problem instead.
    """
    refs, problems = scan_references(value, location)
    if problems:
        raise ExpressionError(problems[0].message)
    return refs


def scan_references(value: Any, location: str = "") -> tuple[list[Reference], list[Problem]]:
    """References in ``value`` and a problem for each string whose expressions are not supported."""
    refs: list[Reference] = []
    problems: list[Problem] = []
    for where, text in _walk_strings(value, location):
        if "${" not in text:
            continue
        try:
            parts = parse_template(text)
        except ExpressionError as err:
            problems.append(Problem(where, str(err), text if len(text) < 200 else text[:200] + "..."))
            continue
        for part in parts:
            if not isinstance(part, str):
                refs.extend(_node_references(part))
    return refs, problems


# --- resolution ----------------------------------------------------------------------------


def _step(value: Any, key: Any, where: str) -> Any:
    if value is UNKNOWN or key is UNKNOWN:
        return UNKNOWN
    if isinstance(value, Mapping):
        if isinstance(key, int) and key == 0 and key not in value:
            return value  # a block written as an object is addressed as a one-element list
        try:
            return value[str(key) if isinstance(key, int) else key]
        except KeyError:
            raise ResolutionError(f"{where} has no attribute {key!r}") from None
    if isinstance(value, (list, tuple)):
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ResolutionError(f"{where} is a list; cannot take {key!r} of it") from None
        if index >= len(value) or index < -len(value):
            raise ResolutionError(f"{where} has {len(value)} element(s); index {index} is out of range")
        return value[index]
    raise ResolutionError(f"{where} is {type(value).__name__}; cannot take {key!r} of it")


def lookup_reference(reference: Reference, state: Mapping[str, Mapping[str, Any]]) -> Any:
    """The value of ``reference`` in ``state`` (address -> attributes); unknown if not created yet."""
    attributes = state.get(reference.address)
    if attributes is None:
        return UNKNOWN
    value: Any = attributes
    where = reference.address
    for step in reference.path:
        value = _step(value, step, where)
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return value


def _evaluate(node: Any, state: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Ref):
        return lookup_reference(node.reference, state)
    if isinstance(node, _Tuple):
        return [_evaluate(item, state) for item in node.items]
    if isinstance(node, _Index):
        target = _evaluate(node.target, state)
        key = _evaluate(node.key, state)
        return _step(target, key, "value")
    if isinstance(node, _Call):
        args = [_evaluate(arg, state) for arg in node.args]
        if not is_known(args):
            return UNKNOWN
        return FUNCTIONS[node.name](*args)
    raise ExpressionError(f"cannot evaluate {node!r}")


def _to_text(value: Any) -> str:
    """How Terraform interpolates a value into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        raise ResolutionError(f"cannot interpolate a {type(value).__name__} into a string")
    return str(value)


def _resolve_string(text: str, state: Mapping[str, Mapping[str, Any]]) -> Any:
    if "${" not in text and "$${" not in text and "%%{" not in text:
        return text
    stripped = text.lstrip()
    if stripped[:1] in "[{":
        try:
            embedded = json.loads(text)
        except ValueError:
            embedded = None
        if isinstance(embedded, (dict, list)):
            # a JSON document in a string (an IAM policy): resolve inside it so that each
            # value lands as correct JSON (quotes escaped, lists as lists), then re-encode
            resolved = resolve(embedded, state)
            return json.dumps(resolved, separators=(",", ":")) if is_known(resolved) else UNKNOWN
    parts = parse_template(text)
    if len(parts) == 1 and not isinstance(parts[0], str):
        return _evaluate(parts[0], state)  # a whole-string reference keeps its type
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = _evaluate(part, state)
        if not is_known(value):
            return UNKNOWN
        out.append(_to_text(value))
    return "".join(out)


def resolve(value: Any, state: Mapping[str, Mapping[str, Any]]) -> Any:
    """``value`` with every reference replaced by the attribute it names in ``state``.

    ``state`` maps addresses to attributes; an address missing from it has not been created
    yet and its references resolve to :data:`UNKNOWN` (a string embedding one is unknown as a
    whole). A whole-string reference keeps the attribute's type (list, number, map); an
    embedded one is interpolated as text; a JSON document held in a string is resolved
    inside and re-encoded. Raises :class:`ResolutionError` for an attribute that does not
    exist on a created resource and :class:`ExpressionError` for unsupported syntax.
    """
    if isinstance(value, str):
        return _resolve_string(value, state)
    if isinstance(value, Mapping):
        resolved: dict[Any, Any] = {}
        for key, item in value.items():
            # IAM condition keys may embed a reference (IRSA: "<oidc issuer>:sub")
            if isinstance(key, str) and "${" in key:
                key = _resolve_string(key, state)
                if not is_known(key):
                    return UNKNOWN
            resolved[key] = resolve(item, state)
        return resolved
    if isinstance(value, (list, tuple)):
        return [resolve(v, state) for v in value]
    return value


# --- documents -----------------------------------------------------------------------------


def strip_comments(value: Any) -> Any:
    """Drop cdktf's ``"//"`` metadata keys at every level."""
    if isinstance(value, Mapping):
        return {k: strip_comments(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [strip_comments(v) for v in value]
    return value


@dataclass(frozen=True)
class ResourceBlock:
    """One ``resource`` (or ``data``) block: its arguments without meta-arguments."""

    address: str
    type: str
    name: str
    config: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    lifecycle: Mapping[str, Any] = field(default_factory=dict)
    provider: str | None = None
    mode: str = "managed"


@dataclass(frozen=True)
class Document:
    """A parsed Terraform JSON document; ``problems`` are structural ones found while parsing."""

    resources: Mapping[str, ResourceBlock]
    outputs: Mapping[str, Any]
    providers: Mapping[str, Mapping[str, Any]]
    source: str = "<document>"
    problems: tuple[Problem, ...] = ()
    data_sources: Mapping[str, ResourceBlock] = field(default_factory=dict)

    @property
    def region(self) -> str | None:
        """The region of the default ``aws`` provider, if the document names one."""
        region = self.providers.get("aws", {}).get("region")
        return region if isinstance(region, str) else None

    def provider_config(self, block: ResourceBlock) -> Mapping[str, Any]:
        return self.providers.get(block.provider or "aws", {})


def _one_or_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def parse_document(data: Mapping[str, Any], *, source: str = "<document>") -> Document:
    """Parse a Terraform JSON document; structural problems are collected, not raised."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return Document({}, {}, {}, source, (Problem(source, "a Terraform JSON document must be an object"),))

    providers: dict[str, Mapping[str, Any]] = {}
    for name, configs in strip_comments(data.get("provider", {}) or {}).items():
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
            if rtype == "//":
                continue
            if not isinstance(named, Mapping):
                problems.append(
                    Problem(f"{source}: {kind}.{rtype}", "must be an object of <name> -> arguments")
                )
                continue
            for name, raw in named.items():
                if name == "//":
                    continue
                address = f"{rtype}.{name}" if mode == "managed" else f"data.{rtype}.{name}"
                configs = _one_or_list(raw)
                if len(configs) != 1 or not isinstance(configs[0], Mapping):
                    problems.append(Problem(address, "must be one object of arguments"))
                    continue
                raw_config = strip_comments(configs[0])
                for meta in UNSUPPORTED_META:
                    if meta in raw_config:
                        problems.append(
                            Problem(address, f"the {meta!r} meta-argument is not supported by the emulator")
                        )
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
                )
        return found

    resources = blocks("resource", "managed")
    data_sources = blocks("data", "data")

    outputs: dict[str, Any] = {}
    for name, block in strip_comments(data.get("output", {}) or {}).items():
        if not isinstance(block, Mapping) or "value" not in block:
            problems.append(Problem(f"{source}: output.{name}", "must be an object with a 'value'"))
            continue
        outputs[name] = block["value"]

    for kind in ("variable", "locals", "module"):
        if data.get(kind):
            problems.append(Problem(f"{source}: {kind}", f"{kind} blocks are not supported by the emulator"))

    return Document(resources, outputs, providers, source, tuple(problems), data_sources)


def _strip_interpolation(text: str) -> str:
    """``depends_on`` entries are bare addresses; tolerate ``${aws_x.y}`` as well."""
    text = text.strip()
    return text[2:-1].strip() if text.startswith("${") and text.endswith("}") else text


def load_document(path: Path) -> Document:
    """Read and parse a ``cdk.tf.json``; unreadable JSON is a plan error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise EmulatorPlanError(
            [Problem(str(path), f"cannot read the stack: {err.strerror or err}")]
        ) from err
    except ValueError as err:
        raise EmulatorPlanError([Problem(str(path), f"not valid JSON: {err}")]) from err
    return parse_document(data, source=str(path))


# --- the dependency graph -----------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """Dependencies between the resources of a document, and an order that respects them."""

    dependencies: Mapping[str, frozenset[str]]
    #: each resource after everything it depends on; ties broken by address
    order: tuple[str, ...]
    #: references found in each resource's arguments
    references: Mapping[str, tuple[Reference, ...]] = field(default_factory=dict)

    def dependents(self, address: str) -> frozenset[str]:
        return frozenset(a for a, deps in self.dependencies.items() if address in deps)


def topological_order(dependencies: Mapping[str, Collection[str]]) -> tuple[str, ...]:
    """A deterministic topological order (graphlib; each ready batch sorted by address)."""
    sorter = graphlib.TopologicalSorter({a: set(d) for a, d in dependencies.items()})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return tuple(order)


def find_cycles(dependencies: Mapping[str, Collection[str]]) -> list[list[str]]:
    """Every dependency cycle (one per strongly connected component), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:  # Tarjan's algorithm; stacks are shallow (tens of resources)
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(dependencies.get(node, ())):
            if nxt not in dependencies:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in dependencies.get(node, ()):
                components.append(component)

    for node in sorted(dependencies):
        if node not in index:
            visit(node)

    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        # the shortest way from ``start`` back to itself inside the component (breadth first)
        parents: dict[str, str] = {}
        frontier = [start]
        while start not in parents:
            following = []
            for node in frontier:
                for nxt in sorted(d for d in dependencies[node] if d in members):
                    if nxt not in parents:
                        parents[nxt] = node
                        following.append(nxt)
            frontier = following
        path = [start]
        node = parents[start]
        while node != start:
            path.append(node)
            node = parents[node]
        path.append(start)
        path[1:-1] = reversed(path[1:-1])
        cycles.append(path)
    return sorted(cycles)


def _valid_attribute(ref: Reference, block: ResourceBlock, exports: Collection[str] | None) -> bool:
    if exports is None or ref.attribute is None:
        return True
    return ref.attribute in exports or ref.attribute in block.config


def build_graph(
    document: Document,
    supported: Collection[str],
    *,
    supported_data: Collection[str] = (),
    exports: Callable[[ResourceBlock], Collection[str] | None] | None = None,
) -> Graph:
    """Check the whole document and order its resources, or raise one :class:`EmulatorPlanError`.

    Reports, all at once: structural problems, unsupported resource types (not in
    ``supported``) and data sources (not in ``supported_data``), unsupported expressions,
    dangling references and ``depends_on`` entries, references to attributes a resource
    does not export (when ``exports(block)`` says which), and every dependency cycle.
    Nothing is created by this check.
    """
    problems = list(document.problems)
    blocks = {**document.resources, **document.data_sources}
    for address, block in blocks.items():
        if block.mode == "data" and block.type not in supported_data:
            problems.append(Problem(address, f"data source {block.type!r} is not supported by the emulator"))
        elif block.mode == "managed" and block.type not in supported:
            problems.append(
                Problem(address, f"resource type {block.type!r} is not supported by the emulator")
            )

    dependencies: dict[str, frozenset[str]] = {}
    references: dict[str, tuple[Reference, ...]] = {}

    def check_refs(owner: str, refs: list[Reference], where: str) -> set[str]:
        deps: set[str] = set()
        for ref in refs:
            target = blocks.get(ref.address)
            if target is None:
                problems.append(
                    Problem(where, f"refers to {ref.address}, which is not in the document", f"${{{ref}}}")
                )
                continue
            allowed = exports(target) if exports is not None else None
            if not _valid_attribute(ref, target, allowed):
                problems.append(
                    Problem(
                        where,
                        f"{ref.address} has no attribute {ref.attribute!r} in the emulator",
                        f"${{{ref}}}",
                    )
                )
            deps.add(ref.address)
        return deps

    for address, block in blocks.items():
        deps: set[str] = set()
        refs: list[Reference] = []
        for where, text in _walk_strings(block.config, ""):
            located, expr_problems = scan_references(text, f"{address}: {where}")
            problems.extend(expr_problems)
            deps |= check_refs(address, located, f"{address}: {where}")
            refs.extend(located)
        for dep in block.depends_on:
            if dep not in blocks:
                problems.append(
                    Problem(f"{address}: depends_on", f"names {dep}, which is not in the document", dep)
                )
            else:
                deps.add(dep)
        dependencies[address] = frozenset(deps)
        references[address] = tuple(refs)

    for name, value in document.outputs.items():
        refs, expr_problems = scan_references(value, f"output.{name}")
        problems.extend(expr_problems)
        check_refs(f"output.{name}", refs, f"output.{name}")

    for cycle in find_cycles(dependencies):
        problems.append(Problem(" -> ".join(cycle), "dependency cycle: these resources depend on each other"))

    if problems:
        raise EmulatorPlanError(problems)
    return Graph(dependencies, topological_order(dependencies), references)


__all__ = [
    "FUNCTIONS",
    "UNKNOWN",
    "Document",
    "ExpressionError",
    "Graph",
    "PartiallyKnown",
    "Reference",
    "ResolutionError",
    "ResourceBlock",
    "build_graph",
    "find_cycles",
    "find_references",
    "is_known",
    "load_document",
    "lookup_reference",
    "parse_document",
    "parse_template",
    "register_function",
    "resolve",
    "scan_references",
    "strip_comments",
    "topological_order",
]
