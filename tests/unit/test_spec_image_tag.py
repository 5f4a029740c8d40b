"""The tenant's one image tag: ``image_tag`` at the top of a spec; ``serving.image_tag`` must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TenantSpecError
from core.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "fraud.yaml"


def test_the_example_pins_one_tag_for_pipeline_and_serving() -> None:
    spec = parse_spec(EXAMPLE, EXAMPLE.read_text())
    assert spec.image_tag == spec.serving.image_tag == spec.pipeline_image_tag == "1.0.0"


def test_a_serving_tag_that_differs_from_the_tenants_is_rejected_naming_the_field() -> None:
    text = EXAMPLE.read_text().replace('  image_tag: "1.0.0"', '  image_tag: "2.0.0"')
    with pytest.raises(TenantSpecError) as raised:
        parse_spec(Path("fraud.yaml"), text)
    assert "fraud.yaml: serving.image_tag: differs from the tenant's image_tag '1.0.0'" in str(raised.value)


def test_a_malformed_tag_is_rejected() -> None:
    text = EXAMPLE.read_text().replace('\nimage_tag: "1.0.0"', '\nimage_tag: "bad tag"')
    with pytest.raises(TenantSpecError, match="image_tag"):
        parse_spec(Path("fraud.yaml"), text)
