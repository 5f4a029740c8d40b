"""The layer contract (pyproject.toml, [tool.importlinter]) and no import cycles, checked on the real imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "infra", "stacks", "pipelines", "lambdas", "tenantml")


def test_the_layer_contracts_hold() -> None:
    # when: import-linter reads the contracts from pyproject.toml and every import of the six packages
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    # then
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_module_imports_itself_through_others() -> None:
    # given: the import graph, lazy and TYPE_CHECKING imports included (a cycle through them still
    # ties the two modules together)
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)

    # when: for every direct import a -> b, look for a way back from b to a
    cycles = sorted(
        " -> ".join((module, *chain))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if (chain := graph.find_shortest_chain(importer=imported, imported=module))
    )

    # then
    assert cycles == []
