"""The emulator can apply what the stacks synthesize: a handler for every resource type, read from the
synthesized stacks rather than from a hand-kept list that drifts."""

from __future__ import annotations

import pytest
from infra_support import EXAMPLE_TENANTS, SynthesizedStack, synthesize_specs

from core.spec import TenantSpec, load_specs
from tenantml.emulator.resources import DATA_SOURCES, HANDLERS

#: the serving resources exist only when a version is pinned on a SageMaker endpoint (not in the examples)
PINNED_ONLY = {"aws_sagemaker_model", "aws_sagemaker_endpoint_configuration", "aws_sagemaker_endpoint"}


@pytest.fixture(scope="module")
def pinned_churn(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    """churn with version 3 on a SageMaker endpoint: the only spec option that adds resource types."""
    data = next(s for s in load_specs(EXAMPLE_TENANTS) if s.name == "churn").model_dump(mode="json")
    data["serving"] = {**data["serving"], "platform": "sagemaker", "model_version": 3}
    (stack,) = synthesize_specs([TenantSpec.model_validate(data)], tmp_path_factory.mktemp("pinned")).values()
    return stack


def _types(stacks: list[SynthesizedStack], block: str) -> dict[str, set[str]]:
    """Every type in ``block`` ("resource" or "data") of ``stacks``, with the tenants that use it."""
    found: dict[str, set[str]] = {}
    for stack in stacks:
        for type_name in stack.doc.get(block, {}):
            found.setdefault(type_name, set()).add(stack.tenant)
    return found


@pytest.fixture(scope="module")
def synthesized(
    example_stacks: dict[str, SynthesizedStack], pinned_churn: SynthesizedStack
) -> list[SynthesizedStack]:
    return [*example_stacks.values(), pinned_churn]


def test_given_the_synthesized_stacks_then_every_resource_type_has_an_emulator_handler(synthesized):
    types = _types(synthesized, "resource")
    assert PINNED_ONLY <= set(types), "the pinned variant no longer adds the endpoint: update PINNED_ONLY"

    unhandled = {t: tenants for t, tenants in types.items() if t not in HANDLERS}

    assert unhandled == {}, f"resource types the emulator cannot apply (type: tenants): {unhandled}"


def test_given_the_synthesized_stacks_then_every_data_source_has_an_emulator_reader(synthesized):
    data = _types(synthesized, "data")

    unread = {t: tenants for t, tenants in data.items() if t not in DATA_SOURCES}

    assert data and unread == {}, f"data sources the emulator cannot read (type: tenants): {unread}"


def test_given_the_synthesized_stacks_then_exactly_their_kubernetes_objects_are_recorded_not_applied(
    synthesized,
):
    # moto runs no cluster: a Kubernetes object is recorded, anything else must really be applied
    types = set(_types(synthesized, "resource"))

    skipped = {t for t in types if HANDLERS[t].skip_reason}

    assert skipped == {t for t in types if t.startswith("kubernetes_")} != set()
