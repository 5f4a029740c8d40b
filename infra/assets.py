"""Lambda code assets: one deterministic zip per handler, plus at most one layer, built at synth time.

The zip holds the handler and the project modules it imports, found by following its import
statements (:func:`bundled_modules`), so a new import ships without editing a list and a module
no handler imports (the CLI, the emulator, the model server) changes no zip. The third-party
distributions those modules import, and what they require, go into the function's layer
(:func:`build_lambda_layer`, ``python/`` of a zip), except the ones AWS's Python runtime provides
(boto3 and its dependencies). Only pure-Python wheels can ship that way: a compiled distribution in
a handler's import closure is an error naming the import chain (a wheel built for this machine's
interpreter and platform would not load on Lambda's). Fixed timestamps and sorted entries make the
same source give the same bytes, so an unchanged handler never shows up as a change in a plan.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.distributions import packages_distributions
from core.errors import LambdaPackageError
from core.lambda_limits import RUNTIME_PROVIDED, PackagePart, check_package_limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: the project's packages a handler may import: the core and the ML lifecycle, never infra,
#: stacks or the application (the layer contract in pyproject.toml forbids those imports)
BUNDLED_PACKAGES = frozenset({"core", "pipelines", "lambdas"})
#: files next to a bundled module that it reads at run time (report templates)
DATA_SUFFIXES = frozenset({".json", ".html", ".j2"})
_EPOCH = (1980, 1, 1, 0, 0, 0)
#: the Python version of the functions' runtime (``python3.12``), for requirement markers
RUNTIME_PYTHON = (3, 12)


@dataclass(frozen=True)
class LambdaBundle:
    path: Path
    sha256_hex: str
    #: the zip's size, and the size of what it holds once extracted (AWS's limits count both)
    zipped_bytes: int = 0
    unzipped_bytes: int = 0

    @property
    def source_code_hash(self) -> str:
        """What Terraform's ``source_code_hash`` expects: base64 of the raw sha256 digest."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


def _module_file(name: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The file that defines module ``name``, if it is one of the bundled packages' modules."""
    parts = name.split(".")
    if parts[0] not in BUNDLED_PACKAGES:
        return None
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module name ``path`` may import, lazy imports inside functions included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base
            # ``from pkg import name`` may name a submodule as well as an attribute
            yield from (f"{base}.{alias.name}" for alias in node.names)


@dataclass(frozen=True)
class ImportClosure:
    """What a handler module reaches: project modules (name -> file) and the external top-level
    modules imported, each with the chain of project modules that leads to it."""

    modules: dict[str, Path]
    #: top-level module name -> (handler module, ..., the project module importing it)
    external: dict[str, tuple[str, ...]]


def import_closure(entry: str, root: Path = PROJECT_ROOT) -> ImportClosure:
    """Follow ``entry``'s imports through the project's modules (breadth first: shortest chains).

    A module's parent packages are included too: importing ``a.b`` runs ``a/__init__.py``.
    """
    found: dict[str, Path] = {}
    chain: dict[str, tuple[str, ...]] = {entry: (entry,)}
    external: dict[str, tuple[str, ...]] = {}
    pending = [entry]
    while pending:
        name = pending.pop(0)
        parts = name.split(".")
        via = chain.get(name, (name,))
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in found:
                continue
            if (path := _module_file(prefix, root)) is None:
                if parts[0] not in BUNDLED_PACKAGES and depth == 1 and parts[0]:
                    external.setdefault(parts[0], via)
                continue
            found[prefix] = path
            for imported in _imports(path, prefix):
                chain.setdefault(imported, (*chain.get(prefix, (prefix,)), imported))
                pending.append(imported)
    # the chain of an external module ends at the project module importing it
    return ImportClosure(found, {top: via[:-1] or via for top, via in external.items()})


def bundled_modules(entry: str) -> dict[str, Path]:
    """Module name -> file for ``entry`` and every project module it imports, transitively."""
    return import_closure(entry).modules


# --- the layer: third-party distributions -------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?[^;]*(?:;(.*))?$")
_PYTHON_MARKER = re.compile(r"""python_(?:full_)?version\s*(<=|>=|==|!=|<|>)\s*['"]([0-9.]+)['"]""")


def _marker_applies(marker: str) -> bool:
    """Whether a requirement marker holds on Lambda (Linux, CPython :data:`RUNTIME_PYTHON`, no extras).

    A small evaluator instead of ``packaging`` (not a dependency): extras are never installed,
    Windows/macOS-only requirements never apply, ``python_version`` comparisons are evaluated, and
    anything else is kept (shipping one library too many is safer than one too few).
    """
    if re.search(r"\bextra\b", marker):
        return False
    if re.search(
        r"""(platform_system|sys_platform|os_name)\s*==\s*['"](Windows|win32|Darwin|darwin|nt)['"]""", marker
    ):
        return False
    for op, version in _PYTHON_MARKER.findall(marker):
        wanted = tuple(int(p) for p in version.split(".")[:2])
        holds = {
            "<": RUNTIME_PYTHON < wanted,
            "<=": RUNTIME_PYTHON <= wanted,
            ">": RUNTIME_PYTHON > wanted,
            ">=": RUNTIME_PYTHON >= wanted,
            "==": RUNTIME_PYTHON == wanted,
            "!=": RUNTIME_PYTHON != wanted,
        }[op]
        if not holds and " or " not in marker:
            return False
    return True


def _requirements(dist: importlib.metadata.Distribution) -> list[str]:
    names = []
    for line in dist.requires or []:
        match = _REQUIREMENT.match(line)
        if match and (match.group(2) is None or _marker_applies(match.group(2))):
            names.append(_normalize(match.group(1)))
    return names


def _is_pure(dist: importlib.metadata.Distribution) -> bool:
    """A wheel installed as pure Python: ``Root-Is-Purelib: true`` and only ``py3-none-any`` tags."""
    wheel = dist.read_text("WHEEL") or ""
    fields = [line.partition(":") for line in wheel.splitlines() if ":" in line]
    purelib = any(k.strip() == "Root-Is-Purelib" and v.strip().lower() == "true" for k, _, v in fields)
    tags = [v.strip() for k, _, v in fields if k.strip() == "Tag"]
    return purelib and "py3-none-any" in tags and all(t.endswith("-none-any") for t in tags)


@dataclass(frozen=True)
class LayerDistribution:
    name: str
    version: str
    #: how the handler reaches it: its modules, then the distributions requiring it
    chain: tuple[str, ...]


def _chain(via: tuple[str, ...], name: str) -> str:
    """``a -> b -> name``, a module and the distribution of the same name shown once."""
    shown: list[str] = []
    for step in (*via, name):
        if not shown or _normalize(shown[-1]) != _normalize(step):
            shown.append(step)
    return " -> ".join(shown)


@cache
def _package_owners() -> Mapping[str, list[str]]:
    """Top-level module -> distributions: a walk of every installed distribution, once per process."""
    return packages_distributions()


def layer_distributions(handler: str, root: Path = PROJECT_ROOT) -> list[LayerDistribution]:
    """The third-party distributions ``lambdas/<handler>`` needs beyond the runtime's, sorted by name.

    Raises :class:`LambdaPackageError` naming the handler, the import chain and the distribution
    when one is compiled (or not installed, or not installed from a wheel).
    """
    closure = import_closure(f"lambdas.{handler}.handler", root)
    owners = _package_owners()
    pending: list[tuple[str, tuple[str, ...]]] = []
    for top, via in sorted(closure.external.items()):
        if top in sys.stdlib_module_names:
            continue
        dists = owners.get(top)
        if not dists:
            raise LambdaPackageError(
                f"lambda {handler} imports {top} via {' -> '.join(via)}: no installed distribution "
                f"provides it; install it, or drop the import"
            )
        pending.extend((_normalize(d), (*via, top)) for d in dists)
    chosen: dict[str, LayerDistribution] = {}
    while pending:
        name, via = pending.pop(0)
        if name in RUNTIME_PROVIDED or name in chosen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise LambdaPackageError(
                f"lambda {handler} needs {name} via {_chain(via, name)}, which is not installed"
            ) from None
        if not _is_pure(dist):
            raise LambdaPackageError(
                f"lambda {handler} imports {name} via {_chain(via, name)}: compiled distributions cannot "
                "ship in a zip or layer built here; move the work into a SageMaker job or drop the import"
            )
        chosen[name] = LayerDistribution(name, dist.version, via)
        pending.extend((req, (*via, name)) for req in _requirements(dist))
    return sorted(chosen.values(), key=lambda d: d.name)


def _layer_files(distributions: list[LayerDistribution]) -> list[tuple[str, Path]]:
    """(path in the layer zip, file) for every installed file of the distributions (RECORD)."""
    entries: dict[str, Path] = {}
    for item in distributions:
        dist = importlib.metadata.distribution(item.name)
        for file in dist.files or []:
            relative = file.as_posix()
            # scripts land outside site-packages (``../../bin``); bytecode is rebuilt by the runtime
            if relative.startswith("../") or "__pycache__" in file.parts or relative.endswith(".pyc"):
                continue
            path = Path(dist.locate_file(file))
            if path.is_file():
                entries[f"python/{relative}"] = path
    return sorted(entries.items())


def _data_files(package_dir: Path) -> list[Path]:
    """Data files of a package: in its folder and in its plain (non-package) subfolders."""
    files = [p for p in package_dir.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES]
    for sub in package_dir.iterdir():
        if sub.is_dir() and not (sub / "__init__.py").exists() and sub.name != "__pycache__":
            files += [p for p in sub.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES]
    return files


def bundle_sources(handler: str) -> list[Path]:
    """The files of ``lambdas/<handler>``'s zip, sorted."""
    modules = bundled_modules(f"lambdas.{handler}.handler")
    files = set(modules.values())
    for path in modules.values():
        if path.name == "__init__.py":
            files.update(_data_files(path.parent))
    return sorted(files)


def _write_zip(target: Path, entries: list[tuple[str, Path]]) -> LambdaBundle:
    """A deterministic zip (sorted entries, fixed timestamps and modes) written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".zip.tmp")
    unzipped = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            data = path.read_bytes()
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            unzipped += len(data)
    tmp.replace(target)
    data = target.read_bytes()
    return LambdaBundle(target, hashlib.sha256(data).hexdigest(), len(data), unzipped)


@cache
def build_lambda_bundle(handler: str, build_dir: Path) -> LambdaBundle:
    """Zip ``lambdas/<handler>/handler.py`` with what it imports into ``build_dir``; cached per process."""
    if not (PROJECT_ROOT / "lambdas" / handler / "handler.py").is_file():
        raise FileNotFoundError(f"lambdas/{handler}/handler.py does not exist")
    entries = [(path.relative_to(PROJECT_ROOT).as_posix(), path) for path in bundle_sources(handler)]
    return _write_zip(build_dir / f"{handler}.zip", entries)


#: (distribution names and versions, build directory) -> the layer zip built for them
_LAYER_ZIPS: dict[tuple[tuple[tuple[str, str], ...], Path], LambdaBundle] = {}


@cache
def build_lambda_layer(handler: str, build_dir: Path) -> LambdaBundle | None:
    """The layer of ``lambdas/<handler>``: its third-party distributions under ``python/``, or None
    when the runtime provides everything it imports. Cached per process; handlers that need the
    same distributions share one zip (named after the first), built once."""
    distributions = layer_distributions(handler)
    if not distributions:
        return None
    key = (tuple((d.name, d.version) for d in distributions), build_dir)
    if key not in _LAYER_ZIPS:
        _LAYER_ZIPS[key] = _write_zip(build_dir / f"{handler}-layer.zip", _layer_files(distributions))
    return _LAYER_ZIPS[key]


def check_function_package(
    function_name: str, code: LambdaBundle, layers: list[tuple[str, LambdaBundle]]
) -> None:
    """AWS's package limits for ``code`` and its ``(name, bundle)`` layers (see :mod:`core.lambda_limits`)."""
    check_package_limits(
        function_name,
        PackagePart(f"code {code.path.name}", code.zipped_bytes, code.unzipped_bytes),
        [PackagePart(f"layer {name}", b.zipped_bytes, b.unzipped_bytes) for name, b in layers],
    )
