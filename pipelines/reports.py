"""Render the HTML reports (validation, evaluation) from the Jinja2 templates next to this module."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"


@cache
def _environment() -> Environment:
    # autoescape: column names and class labels come from tenant data
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, **context: Any) -> str:
    """Render one template from ``pipelines/templates``."""
    return _environment().get_template(name).render(**context)


__all__ = ["TEMPLATE_DIR", "render_template"]
