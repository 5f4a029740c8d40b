"""Terraform expressions: ``${...}`` templates, the references inside them, and their values.

Only the part of Terraform's expression syntax that synthesized stacks use is understood:
references (``aws_s3_bucket.data.arn``, ``aws_eks_cluster.this.identity[0].oidc[0].issuer``,
``data.aws_caller_identity.current.account_id``), literals, tuples, indexing and function
calls. Operators, splats, ``for`` expressions and ``%{...}`` directives are reported as an
:class:`ExpressionError`, never guessed at. A call to a function that is not in
:data:`FUNCTIONS` parses (its references are still found) but cannot be evaluated;
:func:`scan_references` reports it as a problem.

:func:`resolve` substitutes references with the attributes of created resources; a
reference to something not created yet is :data:`UNKNOWN` ("known after apply").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

from core.errors import Problem

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


class _Absent:
    """The value of an argument that is not set (distinct from an explicit ``null``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


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
        """The top-level attribute: ``identity[0].oidc[0].issuer`` -> ``identity``."""
        return str(self.path[0]) if self.path else None

    @property
    def attribute_path(self) -> str:
        """The whole attribute path: ``identity[0].oidc[0].issuer`` ("" for the resource itself)."""
        return str(self)[len(self.address) :].lstrip(".")

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
            # every escape and expression starts at a "$" or a "%": copy the text up to the next one
            # at once (policy documents are long literals with a few references in them)
            ends = [p for p in (text.find("$", i + 1), text.find("%", i + 1)) if p != -1]
            end = min(ends) if ends else len(text)
            literal.append(text[i:end])
            i = end
    if literal:
        parts.append("".join(literal))
    return parts


def _unsupported_calls(node: Any) -> Iterator[str]:
    """Names of the functions ``node`` calls that :data:`FUNCTIONS` cannot evaluate."""
    if isinstance(node, _Call):
        if node.name not in FUNCTIONS:
            yield node.name
        for arg in node.args:
            yield from _unsupported_calls(arg)
    elif isinstance(node, _Tuple):
        for item in node.items:
            yield from _unsupported_calls(item)
    elif isinstance(node, _Index):
        yield from _unsupported_calls(node.target)
        yield from _unsupported_calls(node.key)


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


def walk_strings(value: Any, location: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk_strings(item, f"{location}.{key}" if location else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{location}[{index}]")


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
    for where, text in walk_strings(value, location):
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
                problems.extend(
                    Problem(where, f"function {name}() is not supported by the emulator")
                    for name in _unsupported_calls(part)
                )
    return refs, problems


def references(value: Any) -> list[Reference]:
    """Every reference in the strings of ``value`` that parse; unsupported syntax is skipped.

    For readers that only need to know what refers to what (policy rules, the preview, the
    cost estimate); :func:`scan_references` is the strict variant that reports every problem.
    """
    found: list[Reference] = []
    for _, text in walk_strings(value, ""):
        if "${" not in text:
            continue
        try:
            parts = parse_template(text)
        except ExpressionError:
            continue
        for part in parts:
            if not isinstance(part, str):
                found.extend(_node_references(part))
    return found


def is_template(value: Any) -> bool:
    """A string holding an interpolation or a template directive is only known at apply time."""
    return isinstance(value, str) and ("${" in value or "%{" in value)


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
        if node.name not in FUNCTIONS:
            raise ExpressionError(f"function {node.name}() is not supported by the emulator")
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


__all__ = [
    "ABSENT",
    "FUNCTIONS",
    "UNKNOWN",
    "ExpressionError",
    "PartiallyKnown",
    "Reference",
    "ResolutionError",
    "find_references",
    "is_known",
    "is_template",
    "lookup_reference",
    "parse_template",
    "references",
    "register_function",
    "resolve",
    "scan_references",
    "walk_strings",
]
