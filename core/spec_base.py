"""What every section of a tenant spec shares: frozen, no unknown fields, no Terraform templates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

#: Terraform reads ``${...}`` (interpolation) and ``%{...}`` (template directives) in every string of a
#: stack, and every spec string reaches one (tags, e-mail subscriptions, the model spec in the Lambda
#: environment, ...): ``${file("/etc/passwd")}`` in a tag would be read on apply. No spec field needs
#: either sequence (AWS tag values and e-mail addresses do not even allow the braces' neighbours in
#: practice), so they are refused rather than escaped as ``$${``/``%%{`` construct by construct.
TERRAFORM_TEMPLATE_SEQUENCES = ("${", "%{")


def _template_sequence_in(value: Any) -> tuple[str, str] | None:
    """(where inside ``value``, the offending string) for the first string holding ``${`` or ``%{``."""
    if isinstance(value, str):
        return ("", value) if any(s in value for s in TERRAFORM_TEMPLATE_SEQUENCES) else None
    items: Iterable[tuple[str, Any]]
    if isinstance(value, Mapping):
        items = [(f" key {k!r}", k) for k in value] + [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        return None  # numbers, enums, and nested sections (they check their own fields)
    for where, item in items:
        found = _template_sequence_in(item)
        if found is not None:
            return where + found[0], found[1]
    return None


class SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    @field_validator("*")
    @classmethod
    def _no_terraform_template(cls, value: Any) -> Any:
        found = _template_sequence_in(value)
        if found is not None:
            where, text = found
            which = f"{where.strip()} ({shorten(text)!r}) " if where else ""
            raise ValueError(
                f"{which}must not contain '${{' or '%{{': Terraform would evaluate it as an expression "
                "instead of keeping the text"
            )
        return value


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["TERRAFORM_TEMPLATE_SEQUENCES", "SpecModel", "shorten"]
