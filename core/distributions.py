"""Installed distributions' names and versions, read quickly.

``Distribution.metadata`` parses the whole METADATA file with the ``email`` package, about
0.7 ms per distribution: 0.3 s for the ~400 in this environment, paid by every process that
synthesizes (the Lambda layer looks up which distribution owns a module, the synthesis cache
fingerprints the installed versions). ``Name`` and ``Version`` are headers at the top of the
file, so reading up to the first blank line gives the same values.
"""

from __future__ import annotations

import importlib.metadata
from collections import defaultdict
from collections.abc import Mapping


def name_and_version(dist: importlib.metadata.Distribution) -> tuple[str, str]:
    """The ``Name`` and ``Version`` headers of ``dist`` (``""`` for one that is missing)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found = {"Name": "", "Version": ""}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the long description follows
        key, sep, value = line.partition(":")
        if sep and key in found and not found[key]:
            found[key] = value.strip()
    return found["Name"], found["Version"]


def packages_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> the names of the distributions providing it, as
    :func:`importlib.metadata.packages_distributions` returns it, without parsing METADATA."""
    owners: dict[str, list[str]] = defaultdict(list)
    for dist in importlib.metadata.distributions():
        name = name_and_version(dist)[0]
        tops = (dist.read_text("top_level.txt") or "").split() or _record_tops(dist)
        for top in tops:
            owners[top].append(name)
    return dict(owners)


def _record_tops(dist: importlib.metadata.Distribution) -> set[str]:
    """The top-level modules of ``dist``'s ``.py`` files, read from ``RECORD`` as text: ``dist.files``
    builds a path object per file (most of a synthesis' layer time, for thousands of files)."""
    record = dist.read_text("RECORD")
    if record is None:  # no RECORD (an egg-info install): importlib's own listing
        return {
            file.parts[0] if len(file.parts) > 1 else file.with_suffix("").name
            for file in dist.files or ()
            if file.suffix == ".py"
        }
    tops = set()
    for line in record.splitlines():
        path = line.split(",", 1)[0].strip('"')
        if path.endswith(".py"):
            head, sep, _ = path.partition("/")
            tops.add(head if sep else path[:-3])
    return tops


__all__ = ["name_and_version", "packages_distributions"]
