"""Terraform JSON text exactly as cdktf writes it, so that Python can write a stack's document itself.

cdktf writes ``cdk.tf.json`` with ``json-stable-stringify`` (``{space: 2}``) in its Node process:
keys sorted, two-space indent, an empty array or object still opened and closed on two lines,
numbers as JavaScript prints them, no trailing newline. Handing a whole document to Node to
have it written costs more than building it (every value crosses the jsii boundary), so
:func:`dumps` writes the same bytes here.
"""

from __future__ import annotations

import json.encoder
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

#: JSON.stringify and Python's encoder escape the same characters the same way (``"``, ``\\``,
#: the control characters, as ``\\n`` or ``\\u00xx``) and leave every other character as is
_string = json.encoder.encode_basestring  # type: ignore[attr-defined]

INDENT = "  "


def dumps(value: Any) -> str:
    """``value`` as ``json-stable-stringify(value, {space: 2})`` writes it."""
    parts: list[str] = []
    _write(value, 0, parts)
    return "".join(parts)


def js_number(value: float) -> str:
    """A number as JavaScript's ``Number.prototype.toString`` prints it (``1.0`` -> ``1``, ``1e-7``)."""
    if not math.isfinite(value):
        return "null"  # what JSON.stringify writes for NaN and the infinities
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr is the shortest string that reads back as the same double, as JavaScript's digits are
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # the value is 0.<digits> x 10^point (ECMA-262's n)
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    shown = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{shown}e{'+' if power >= 0 else '-'}{abs(power)}"


def _sort_key(key: str) -> Any:
    # JavaScript sorts keys by UTF-16 code units: only characters beyond U+FFFF order differently
    return key.encode("utf-16-be") if key and max(key) > "\uffff" else key


def _write(value: Any, level: int, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(_string(value))
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif value is None:
        parts.append("null")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(js_number(value))
    elif isinstance(value, Mapping):
        inner = "\n" + INDENT * (level + 1)
        parts.append("{")
        first = True
        for key in sorted(value, key=_sort_key):
            parts.append(inner if first else "," + inner)
            first = False
            parts.append(_string(key))
            parts.append(": ")
            _write(value[key], level + 1, parts)
        parts.append("\n" + INDENT * level + "}")
    elif isinstance(value, (list, tuple)):
        inner = "\n" + INDENT * (level + 1)
        parts.append("[")
        for i, item in enumerate(value):
            parts.append(inner if i == 0 else "," + inner)
            _write(item, level + 1, parts)
        parts.append("\n" + INDENT * level + "]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as Terraform JSON: {value!r}")


__all__ = ["dumps", "js_number"]
