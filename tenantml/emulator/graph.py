"""Check a Terraform JSON document for the emulator and order its resources.

The document model, expressions and references live in :mod:`core.terraform`; this module
adds what applying a document to the emulator needs: the dependency graph and the checks of
what the emulator supports. Anything it does not support (variables, locals, modules,
``count``/``for_each``, unsupported functions and resource types) is reported as a problem,
never guessed at.

:func:`build_graph` checks a whole document before anything is created and raises one
:class:`~core.errors.EmulatorPlanError` listing every dependency cycle, dangling
reference, unsupported resource type and unsupported expression.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import EmulatorPlanError, Problem, TerraformDocumentError
from core.terraform import document as _document
from core.terraform.document import Document, ResourceBlock
from core.terraform.expressions import Reference, scan_references, walk_strings

#: meta-arguments the emulator does not implement (the stacks do not use them)
UNSUPPORTED_META = ("count", "for_each", "provisioner", "connection")


def load_document(path: Path) -> Document:
    """Read and parse a ``cdk.tf.json``; an unreadable file or invalid JSON is a plan error naming it."""
    try:
        return _document.load_document(path)
    except TerraformDocumentError as err:
        raise EmulatorPlanError(err.problems) from err


def unsupported_features(document: Document) -> list[Problem]:
    """What the document uses that the emulator does not implement."""
    problems = [
        Problem(block.address, f"the {meta!r} meta-argument is not supported by the emulator")
        for block in document.blocks()
        for meta in UNSUPPORTED_META
        if meta in block.meta
    ]
    for kind, present in (
        ("variable", document.variables),
        ("locals", document.locals),
        ("module", document.modules),
    ):
        if present:
            problems.append(
                Problem(f"{document.source}: {kind}", f"{kind} blocks are not supported by the emulator")
            )
    return problems


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
    problems = [*document.problems, *unsupported_features(document)]
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
        for where, text in walk_strings(block.config, ""):
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
    "Graph",
    "build_graph",
    "find_cycles",
    "load_document",
    "topological_order",
    "unsupported_features",
]
