"""The tenant's one image tag: ``image_tag`` at the top of a spec, required; ``serving.image_tag`` is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TenantSpecError
from core.spec import load_specs, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "tenants"
EXAMPLE = EXAMPLES / "fraud.yaml"
PINNED = '\nimage_tag: "1.0.0"\n'


def _problems(text: str) -> list[tuple[str, str, object]]:
    with pytest.raises(TenantSpecError) as raised:
        parse_spec(Path("fraud.yaml"), text)
    return [(p.location, p.message, p.value) for p in raised.value.problems]


def test_every_example_pins_its_one_image_tag() -> None:
    assert {spec.name: spec.image_tag for spec in load_specs(EXAMPLES)} == {
        "churn": "1.0.0",
        "fraud": "1.0.0",
        "shop": "1.0.0",
    }


def test_a_spec_without_an_image_tag_is_refused_naming_the_field() -> None:
    text = EXAMPLE.read_text()
    assert PINNED in text

    problems = _problems(text.replace(PINNED, "\n"))

    assert problems == [("fraud.yaml: image_tag", "Field required", None)]


def test_a_serving_image_tag_is_refused_telling_to_move_it_to_the_top_level() -> None:
    text = EXAMPLE.read_text().replace("  platform: eks\n", '  platform: eks\n  image_tag: "1.0.0"\n')

    problems = _problems(text)

    assert [(where, value) for where, _, value in problems] == [("fraud.yaml: serving.image_tag", "1.0.0")]
    assert "move this tag to the top-level image_tag" in problems[0][1]


def test_a_serving_image_tag_without_a_top_level_one_gets_both_problems() -> None:
    text = (
        EXAMPLE.read_text()
        .replace(PINNED, "\n")
        .replace("  platform: eks\n", "  platform: eks\n  image_tag: v2\n")
    )

    problems = _problems(text)

    assert sorted(where for where, _, _ in problems) == [
        "fraud.yaml: image_tag",
        "fraud.yaml: serving.image_tag",
    ]


def test_a_malformed_tag_is_rejected() -> None:
    text = EXAMPLE.read_text().replace(PINNED, '\nimage_tag: "bad tag"\n')
    with pytest.raises(TenantSpecError, match="image_tag"):
        parse_spec(Path("fraud.yaml"), text)
