"""The Python interpreter that runs a function: the declared runtime's version when one is installed.

A function declared ``python3.12`` runs on a real Python 3.12 when the machine has one, so a
handler using syntax or a standard-library module of another version fails here as it would on
AWS. ``shutil.which("python3.12")`` is not enough: under pyenv it finds a shim that fails unless
``PYENV_VERSION`` names an installed version, so every candidate is run once and asked its version.
Without a matching interpreter the function runs on the emulator's own Python, and the runtime
writes :attr:`Interpreter.warning` into the function's log at each cold start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
_ASK_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


@dataclass(frozen=True)
class Interpreter:
    path: str
    #: (major, minor) of ``path``
    version: tuple[int, int]
    #: set when ``path`` is not the declared runtime's version (a line for the function's log)
    warning: str | None = None

    @property
    def site_version(self) -> str:
        """``3.12``: the ``lib/python3.12/site-packages`` part of a layer's path."""
        return f"{self.version[0]}.{self.version[1]}"


def wanted_version(runtime: str) -> tuple[int, int] | None:
    """``python3.12`` -> (3, 12); None for anything else (not a Python runtime, or unset)."""
    match = _RUNTIME.match(runtime or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _candidates(version: tuple[int, int]) -> list[str]:
    """Places a Python ``major.minor`` may be installed, most specific first."""
    name = f"python{version[0]}.{version[1]}"
    found: list[str] = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    # real pyenv installs (newest patch release first), never the shims
    installs = sorted(
        pyenv_root.glob(f"versions/{version[0]}.{version[1]}.*/bin/{name}"),
        key=lambda p: [int(x) if x.isdigit() else -1 for x in p.parent.parent.name.split(".")],
        reverse=True,
    )
    found.extend(str(p) for p in installs)
    found.extend(f"{prefix}/bin/{name}" for prefix in ("/usr/local", "/usr", "/opt/python"))
    if which := shutil.which(name):
        found.append(which)
    return list(dict.fromkeys(found))


def _version_of(path: str) -> tuple[int, int] | None:
    """The version ``path`` reports when run isolated, or None if it does not run (a pyenv shim)."""
    if not os.access(path, os.X_OK):
        return None
    try:
        answer = subprocess.run(
            [path, "-I", "-S", "-c", _ASK_VERSION],
            capture_output=True,
            text=True,
            timeout=10,
            env={"PATH": os.environ.get("PATH", os.defpath)},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", answer.stdout.strip())
    if answer.returncode != 0 or match is None:
        return None
    return int(match.group(1)), int(match.group(2))


_cache: dict[str, Interpreter] = {}
_cache_lock = threading.Lock()


def resolve_interpreter(runtime: str) -> Interpreter:
    """The interpreter for ``runtime`` (e.g. ``python3.12``), found once per process."""
    with _cache_lock:
        if runtime in _cache:
            return _cache[runtime]
    current = sys.version_info[:2]
    wanted = wanted_version(runtime)
    interpreter: Interpreter | None = None
    if wanted is None or wanted == current:
        interpreter = Interpreter(sys.executable, current)
    else:
        for candidate in _candidates(wanted):
            if _version_of(candidate) == wanted:
                interpreter = Interpreter(candidate, wanted)
                break
    if interpreter is None:
        interpreter = Interpreter(
            sys.executable,
            current,
            warning=(
                f"[WARNING] tenantml emulator: no Python for {runtime} is installed; "
                f"running it on Python {current[0]}.{current[1]} ({sys.executable})"
            ),
        )
    with _cache_lock:
        return _cache.setdefault(runtime, interpreter)


@cache
def fixed_interpreter(path: str) -> Interpreter:
    """An interpreter chosen by the caller (``LambdaRuntime(python=...)``), whatever the runtime."""
    return Interpreter(path, _version_of(path) or sys.version_info[:2])


__all__ = ["Interpreter", "fixed_interpreter", "resolve_interpreter", "wanted_version"]
