"""What jsii's Node.js process prints outside its protocol, as readable text.

jsii's Python side reads its Node process's stderr line by line; a line that is not one of its
JSON console messages is printed with ``print(line)``, a bytes repr. Node's end-of-life banner
(a dozen framed lines, a real warning: the machine's Node no longer gets fixes) reached
``tenantml up``'s output as a dozen ``b'!!...!!\\n'`` lines. :func:`install` swaps jsii's reader for
one that decodes such lines and prints a framed banner as one line; :mod:`infra.cdk` installs it
before it imports the CDK (importing ``constructs`` starts the Node process). JSON console
messages are written as jsii writes them.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: a banner's top and bottom border: a line of nothing but ``!``
_BORDER = re.compile(r"^!{10,}$")


def banner_text(lines: Iterable[str]) -> str:
    """One line for a framed banner's lines (borders and frame removed, list items joined)."""
    sentences: list[str] = []
    items: list[str] = []
    for raw in lines:
        text = _ANSI.sub("", raw).strip()
        if _BORDER.match(text):
            continue
        text = text.removeprefix("!!").removesuffix("!!").strip()
        if text.startswith("- "):
            items.append(text[2:])
        elif text:
            sentences.append(text)
    if items:
        sentences.append(", ".join(items))
    return " ".join(sentences)


def _decoded(line: bytes | str) -> str:
    return line.decode(errors="replace") if isinstance(line, bytes) else line


def readable_sink(reader: IO[Any]) -> None:
    """jsii's stderr reader, printing lines outside its protocol as text and a banner as one line."""
    banner: list[str] | None = None
    for line in iter(reader.readline, b""):
        if not line:
            break
        try:
            console = json.loads(line)
        except ValueError:
            text = _ANSI.sub("", _decoded(line)).strip()
            if banner is None and _BORDER.match(text):
                banner = []
            elif banner is not None and _BORDER.match(text):
                print(f"jsii: {banner_text(banner)}", file=sys.stderr, flush=True)
                banner = None
            elif banner is not None:
                banner.append(text)
            else:
                print(text, file=sys.stderr, flush=True)
            continue
        if not isinstance(console, dict):
            print(_decoded(line).rstrip("\n"), file=sys.stderr, flush=True)
            continue
        if console.get("stderr") is not None:
            sys.stderr.buffer.write(base64.b64decode(console["stderr"]))
        if console.get("stdout") is not None:
            sys.stdout.buffer.write(base64.b64decode(console["stdout"]))
    if banner:  # the process ended inside a banner: what there was of it
        print(f"jsii: {banner_text(banner)}", file=sys.stderr, flush=True)


def install() -> None:
    """Read jsii's Node stderr with :func:`readable_sink` (only a process started afterwards)."""
    from jsii._kernel.providers import process

    # jsii looks the reader up by name when it starts its Node process
    process.stderr_sink = readable_sink


__all__ = ["banner_text", "install", "readable_sink"]
