"""The ``features:`` section of a tenant spec and ``model.feature_views``: every mistake is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import TenantSpecError
from core.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "churn.yaml"
SPEC_PATH = Path("tenants/acme.yaml")

VIEW = {
    "name": "customer_activity",
    "entities": [{"name": "customer_id", "type": "int64"}],
    "features": [
        {"name": "sessions_7d", "type": "int64", "default": 0},
        {"name": "spend_30d", "type": "float64"},
    ],
    "ttl_hours": 720,
    "freshness_alarm_minutes": 180,
}


def _spec(features: Any, feature_views: list[str] | None = None) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    # through JSON: an object listed twice would be dumped as a YAML alias, which specs refuse
    document["features"] = json.loads(json.dumps(features))
    if feature_views is not None:
        document["model"]["feature_views"] = feature_views
    return document


def _problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, yaml.safe_dump(document))
    return [(p.location, p.message) for p in caught.value.problems]


def test_a_view_used_by_the_model_parses_with_its_defaults():
    spec = parse_spec(SPEC_PATH, yaml.safe_dump(_spec({"views": [VIEW]}, ["customer_activity"])))
    view = spec.features.view("customer_activity")
    assert view.entity_names == ["customer_id"]
    assert view.feature_names == ["sessions_7d", "spend_30d"]
    assert view.timestamp == "event_timestamp" and view.created_timestamp is None
    assert spec.features.materialize_every_minutes == 60
    assert spec.model.feature_views == ["customer_activity"]


def test_a_spec_without_features_has_no_views():
    spec = parse_spec(SPEC_PATH, EXAMPLE.read_text(encoding="utf-8"))
    assert spec.features.views == [] and spec.model.feature_views == []


@pytest.mark.parametrize(
    ("change", "location", "message"),
    [
        ({"name": "Customer"}, "features.views[0].name", "lowercase letters, digits and '_'"),
        ({"entities": []}, "features.views[0].entities", "at least 1"),
        (
            {"entities": [{"name": "customer_id", "type": "float64"}]},
            "features.views[0].entities[0].type",
            "string or int64",
        ),
        (
            {"features": [{"name": "sessions_7d", "type": "int64", "default": "x"}]},
            "features.views[0].features[0].default",
            "not a int64",
        ),
        (
            {"features": [{"name": "flag", "type": "float64", "default": True}]},
            "features.views[0].features[0].default",
            "not a float64",
        ),
        (
            {"features": [{"name": "customer_id", "type": "int64"}]},
            "features.views[0]",
            "customer_id more than once",
        ),
        ({"features": [{"name": "expires_at", "type": "int64"}]}, "features.views[0]", "reserved"),
        ({"ttl_hours": 0}, "features.views[0].ttl_hours", "greater than or equal to 1"),
        (
            {"features": [{"name": "note", "type": "string", "default": '${file("/etc/passwd")}'}]},
            "features.views[0].features[0].default",
            "Terraform",
        ),
    ],
)
def test_a_bad_view_is_named_by_its_field(change, location, message):
    problems = _problems(_spec({"views": [{**VIEW, **change}]}))
    assert any(loc.endswith(location) and message in text for loc, text in problems), problems


def test_two_views_of_one_name_are_refused():
    problems = _problems(_spec({"views": [VIEW, VIEW]}))
    assert any(
        loc.endswith("features.views") and "customer_activity more than once" in m for loc, m in problems
    )


def test_a_model_naming_an_undeclared_view_is_refused_with_the_declared_ones():
    problems = _problems(_spec({"views": [VIEW]}, ["merchant_risk"]))
    assert any(
        loc.endswith("model.feature_views") and "merchant_risk" in m and "customer_activity" in m
        for loc, m in problems
    ), problems


def test_two_views_of_one_model_sharing_a_feature_name_are_refused():
    other = {**VIEW, "name": "customer_profile"}
    problems = _problems(_spec({"views": [VIEW, other]}, ["customer_activity", "customer_profile"]))
    assert any(loc.endswith("model.feature_views") and "sessions_7d" in m for loc, m in problems), problems


def test_the_model_rule_is_still_judged_when_another_field_is_bad():
    document = _spec({"views": [VIEW]}, ["merchant_risk"])
    document["owners"] = ["not-an-email"]
    locations = [loc for loc, _ in _problems(document)]
    assert any(loc.endswith("owners[0]") for loc in locations)
    assert any(loc.endswith("model.feature_views") for loc in locations)
