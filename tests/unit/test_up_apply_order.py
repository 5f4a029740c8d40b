"""`up` applies the tenant whose run is likely to end last first (its data lands first)."""

from __future__ import annotations

from pathlib import Path

from core.spec import load_specs
from tenantml.up import apply_order

TENANTS = Path(__file__).resolve().parents[2] / "tenants"


def test_the_longest_search_bound_is_applied_first_and_ties_go_by_name() -> None:
    specs = load_specs(TENANTS)
    bounds = {s.name: s.model.search_timeout_seconds for s in specs}
    # given the example tenants: fraud may search 600 s, churn 120 s, shop 60 s
    assert bounds == {"churn": 120, "fraud": 600, "shop": 60}
    assert apply_order(specs) == ["fraud", "churn", "shop"]
    # a tie is broken by name, whatever order the specs came in
    tied = [
        s.model_copy(update={"model": s.model.model_copy(update={"search_timeout_seconds": 60})})
        for s in specs
    ]
    assert apply_order(list(reversed(tied))) == ["churn", "fraud", "shop"]
