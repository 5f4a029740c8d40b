"""The lock files pin what pyproject asks for, with hashes, and every install path uses them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements" / "runtime.lock"
DEV = ROOT / "requirements" / "dev.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of every pinned requirement; each must carry at least one hash."""
    pins: dict[str, str] = {}
    entries = re.split(r"\n(?=\S)", lock.read_text(encoding="utf-8"))
    for entry in entries:
        if not entry.strip() or entry.startswith("#"):
            continue
        match = _PIN.match(entry)
        assert match, f"{lock.name}: not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"{lock.name}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        for raw in project["optional-dependencies"][extra]:
            requirement = Requirement(raw)
            if canonicalize_name(requirement.name) == "tenantml":
                declared += _requirements(*requirement.extras)
            else:
                declared.append(requirement)
    return declared


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME, ("onnx",)), (DEV, ("test",))])
def test_every_declared_dependency_is_pinned_within_its_range(lock: Path, extras: tuple[str, ...]) -> None:
    pins = _pins(lock)
    problems = []
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{name} is declared but not in {lock.name}")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} in {lock.name} is outside {requirement.specifier}")
    assert not problems, "\n".join(problems)


def test_dev_lock_keeps_the_runtime_versions() -> None:
    runtime, dev = _pins(RUNTIME), _pins(DEV)
    differing = {
        name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version
    }
    assert not differing, f"dev.lock moved runtime packages: {differing}"


def test_image_and_readme_install_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/runtime.lock" in dockerfile
    assert "--no-deps" in dockerfile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    main = re.search(r"<!-- main-command -->(.*?)<!-- /main-command -->", readme, re.DOTALL)
    test = re.search(r"<!-- test-command -->(.*?)<!-- /test-command -->", readme, re.DOTALL)
    assert main and "--require-hashes -r requirements/runtime.lock" in main.group(1)
    assert test and "--require-hashes -r requirements/dev.lock" in test.group(1)
