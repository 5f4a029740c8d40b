"""The interpreter a function runs on: the declared runtime's version, never a pyenv shim that fails."""

from __future__ import annotations

import sys

from tenantml.emulator.runtime import interpreters


def _script(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_given_a_pyenv_shim_that_fails_and_a_real_install_then_the_install_is_chosen(tmp_path, monkeypatch):
    # a shim on PATH failing as pyenv's do without PYENV_VERSION, and a "3.12" install under PYENV_ROOT
    shim = _script(
        tmp_path / "shims" / "python3.12",
        "#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n",
    )
    real = _script(
        tmp_path / "root" / "versions" / "3.12.7" / "bin" / "python3.12",
        f"#!/bin/sh\nexec {sys.executable} -c \"print('3.12')\"\n",
    )
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("PATH", f"{shim.parent}:/usr/bin:/bin")

    assert interpreters._version_of(str(shim)) is None
    candidates = interpreters._candidates((3, 12))
    assert candidates[0] == str(real) and str(shim) in candidates
    assert interpreters._version_of(str(real)) == (3, 12)


def test_given_a_runtime_whose_python_is_missing_then_the_current_interpreter_runs_it_with_a_warning(
    monkeypatch,
):
    monkeypatch.setattr(interpreters, "_candidates", lambda version: [])
    monkeypatch.setattr(interpreters, "_cache", {})

    chosen = interpreters.resolve_interpreter("python3.99")

    assert chosen.path == sys.executable and chosen.version == sys.version_info[:2]
    assert chosen.warning is not None and "python3.99" in chosen.warning
