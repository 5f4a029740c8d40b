"""Lambda code assets: one deterministic zip per handler, built at synth time.

The zip holds the handler and the project modules it imports, found by following its import
statements (:func:`bundled_modules`), so a new import ships without editing a list and a module
no handler imports (the CLI, the emulator, the model server) changes no zip. Third-party libraries
are not bundled. Fixed timestamps and sorted entries make the same source give the same bytes, so
an unchanged handler never shows up as a change in a plan.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: the project's packages a handler may import: the core and the ML lifecycle, never infra,
#: stacks or the application (the layer contract in pyproject.toml forbids those imports)
BUNDLED_PACKAGES = frozenset({"core", "pipelines", "lambdas"})
#: files next to a bundled module that it reads at run time (report templates)
DATA_SUFFIXES = frozenset({".json", ".html", ".j2"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LambdaBundle:
    path: Path
    sha256_hex: str

    @property
    def source_code_hash(self) -> str:
        """What Terraform's ``source_code_hash`` expects: base64 of the raw sha256 digest."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


def _module_file(name: str) -> Path | None:
    """The file that defines module ``name``, if it is one of the bundled packages' modules."""
    parts = name.split(".")
    if parts[0] not in BUNDLED_PACKAGES:
        return None
    base = PROJECT_ROOT.joinpath(*parts)
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


def bundled_modules(entry: str) -> dict[str, Path]:
    """Module name -> file for ``entry`` and every project module it imports, transitively.

    A module's parent packages are included too: importing ``a.b`` runs ``a/__init__.py``.
    """
    found: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in found or (path := _module_file(prefix)) is None:
                continue
            found[prefix] = path
            pending.extend(_imports(path, prefix))
    return found


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


@cache
def build_lambda_bundle(handler: str, build_dir: Path) -> LambdaBundle:
    """Zip ``lambdas/<handler>/handler.py`` with what it imports into ``build_dir``; cached per process."""
    if not (PROJECT_ROOT / "lambdas" / handler / "handler.py").is_file():
        raise FileNotFoundError(f"lambdas/{handler}/handler.py does not exist")
    build_dir.mkdir(parents=True, exist_ok=True)
    target = build_dir / f"{handler}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in bundle_sources(handler):
            info = zipfile.ZipInfo(path.relative_to(PROJECT_ROOT).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(target)
    return LambdaBundle(target, hashlib.sha256(target.read_bytes()).hexdigest())
