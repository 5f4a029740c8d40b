"""Reading a tenant spec file safely: bounded size, UTF-8 only, a strict YAML subset.

A spec directory is input from anyone who can open a pull request, and every file in it is
read before anything is checked, so reading one file must take bounded time and memory and
fail with a :class:`TenantSpecError` naming the file, never a traceback that hides the
other files' problems:

* the file is read up to :data:`MAX_SPEC_BYTES` and refused beyond (checked before parsing);
* it must be UTF-8 (the problem names the line and byte offset of the first bad byte);
* anchors and aliases are refused: an alias bomb (a few hundred bytes of nested aliases)
  expands to billions of nodes in whatever walks the document, and a spec is short enough
  to write out;
* duplicate keys are refused instead of silently keeping the last value;
* collections nest at most :data:`MAX_NESTING_DEPTH` deep (the spec itself needs three):
  PyYAML composes nodes recursively, so a deeper file would end in a ``RecursionError``;
* a scalar Python cannot convert (an integer of 5,000 digits, a date in month 13) is a problem
  at that value, not a ``ValueError`` traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node
from yaml.resolver import Resolver

from core.errors import Problem, TenantSpecError

#: a spec is a few kilobytes; 1 MiB leaves room for comments and still parses in well under a second
MAX_SPEC_BYTES = 1024 * 1024
#: mapping/sequence levels, the document's own mapping included: ``suppressions[0].reason`` needs three
MAX_NESTING_DEPTH = 10


class SpecYamlError(yaml.MarkedYAMLError):
    """A construct the spec's YAML subset refuses (alias, anchor, duplicate key, too deep)."""


class _SpecRules(Composer, SafeConstructor):
    """The spec's YAML subset, checked while the node graph is composed and constructed: no
    anchors and aliases, no duplicate keys, a depth limit, and unconvertible values named."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise SpecYamlError(
                None,
                None,
                "YAML anchors and aliases (&name, *name, <<: *name) are not allowed in a tenant spec: "
                "write the value out",
                event.start_mark,
            )
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise SpecYamlError(
                None, None, f"nested deeper than {MAX_NESTING_DEPTH} levels", event.start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as err:
            # SafeLoader's int and timestamp constructors raise plain Python errors (an integer of
            # 5,000 digits, the date 2024-13-45): a traceback, unless named at the value here
            if isinstance(err, yaml.YAMLError):
                raise
            raise SpecYamlError(None, None, f"cannot read this value: {err}", node.start_mark) from err

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges by YAML's rules (later keys win), in flatten_mapping below
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it below
            if first is not key_node:
                raise SpecYamlError(
                    "in a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {first.start_mark.line + 1}): "
                    "YAML would silently keep the last value",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


class SpecLoader(_SpecRules, yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors and aliases, without duplicate keys, and with a depth limit."""


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastSpecLoader(_SpecRules, CParser, Resolver):  # type: ignore[misc]
        """:class:`SpecLoader`'s rules over libyaml's scanner and parser (C, about ten times faster
        than PyYAML's; they are most of a spec's load time). Composing stays in Python, in
        :class:`_SpecRules`, so every check runs on every event exactly as with :class:`SpecLoader`."""

        def __init__(self, stream: Any) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

    #: what :func:`load_yaml` parses with: the C parser when PyYAML was built with libyaml
    LOADER: type = _FastSpecLoader
else:  # pragma: no cover - PyYAML without libyaml (the wheels on PyPI bundle it)
    LOADER = SpecLoader


def load_yaml(path: Path, text: str) -> Any:
    """The document in ``text``, read by the spec's YAML subset (:class:`SpecLoader`, over libyaml when
    available); a problem names the file, line and column."""
    if len(text) > MAX_SPEC_BYTES:  # characters are at least one byte each: a cheap lower bound
        raise TenantSpecError([_too_large(path)])
    try:
        return _parse(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = getattr(err, "problem", None) or str(err)
        prefix = "" if isinstance(err, SpecYamlError) else "not valid YAML: "
        raise TenantSpecError([Problem(where, f"{prefix}{what}")]) from err


def _parse(text: str) -> Any:
    try:
        return yaml.load(text, Loader=LOADER)  # a safe loader either way: no Python objects
    except yaml.YAMLError:
        if LOADER is SpecLoader:
            raise
        # libyaml words some problems differently and reads further ahead (its own nesting limit
        # can fire before ours): a file that fails is read again as it always was, so its
        # problem is reported in the same words at the same place
        return yaml.load(text, Loader=SpecLoader)


def read_spec_text(path: Path) -> str:
    """The text of one spec file, at most :data:`MAX_SPEC_BYTES`, decoded as UTF-8."""
    if path.exists() and not path.is_file():  # a FIFO would block the open, a device never end
        raise TenantSpecError([Problem(str(path), "is not a regular file")])
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SPEC_BYTES + 1)  # never more, whatever the file claims to be
    except OSError as err:
        raise TenantSpecError([Problem(str(path), f"cannot be read: {err.strerror or err}")]) from err
    if len(data) > MAX_SPEC_BYTES:
        raise TenantSpecError([_too_large(path)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise TenantSpecError(
            [
                Problem(
                    f"{path}:{line}",
                    f"is not UTF-8: byte 0x{data[err.start]:02x} at offset {err.start} "
                    "(save the file as UTF-8)",
                )
            ]
        ) from err


def _too_large(path: Path) -> Problem:
    return Problem(str(path), f"is larger than {MAX_SPEC_BYTES // 1024} KiB, the limit for a tenant spec")
