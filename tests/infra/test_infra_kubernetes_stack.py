"""An EKS tenant's second stack, ``<tenant>-kubernetes``, through ``tenantml synth``."""

from __future__ import annotations

import json
from pathlib import Path

from infra_support import EXAMPLE_TENANTS

from core.spec import TenantSpec, load_specs
from tenantml.synthesis import synth


def _fraud(**serving: object) -> TenantSpec:
    base = next(s for s in load_specs(EXAMPLE_TENANTS) if s.name == "fraud")
    data = base.model_dump(mode="json")
    data["serving"] = {**data["serving"], **serving}
    return TenantSpec.model_validate(data)


def test_given_a_tenant_that_stops_serving_on_eks_then_its_kubernetes_stack_leaves_the_output(tmp_path: Path):
    # given fraud synthesized with EKS serving: two stacks, both in the manifest cdktf deploy reads
    out = tmp_path / "out"
    results = synth([_fraud()], out)
    assert [r.stack for r in results] == ["fraud", "fraud-kubernetes"]
    assert {r.tenant for r in results} == {"fraud"}
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["fraud", "fraud-kubernetes"]

    # when it is synthesized again serving locally
    results = synth([_fraud(platform="local")], out)

    # then the Kubernetes stack is gone from the output and the manifest, not left to be deployed
    assert [r.stack for r in results] == ["fraud"]
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["fraud"]
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["fraud"]
