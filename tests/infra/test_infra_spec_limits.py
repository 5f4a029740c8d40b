"""The spec's tag limit holds on the synthesized stacks: no resource gets more tags than AWS allows.

``core.spec`` allows MAX_SPEC_TAGS tags, counting the platform's tags and the most any construct adds
to one resource. A construct that adds one more tag to a resource, or a new platform tag, breaks the
count; this test synthesizes both examples with the most tags allowed and reads every tag set back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra_support import EXAMPLE_TENANTS, synthesize_specs

from core.spec import AWS_TAG_LIMIT, MAX_SPEC_TAGS, PLATFORM_TAG_KEYS, TenantSpec, load_specs


def _nested_tag_sets(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every ``tags`` mapping inside a resource body (launch template tag_specifications, ...)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "tags" and isinstance(item, Mapping):
                yield item
            else:
                yield from _nested_tag_sets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nested_tag_sets(item)


def test_given_the_most_tags_a_spec_allows_when_synthesized_then_no_resource_has_more_than_aws_allows(
    tmp_path,
):
    # given: both examples (EC2 with a launch template, EKS with three AZs of subnets), tags filled up
    tags = {f"team-tag-{i:02d}": f"value-{i}" for i in range(MAX_SPEC_TAGS)}
    specs = [
        TenantSpec.model_validate({**spec.model_dump(mode="json"), "tags": tags})
        for spec in load_specs(EXAMPLE_TENANTS)
    ]

    # when
    stacks = synthesize_specs(specs, tmp_path)

    # then: default_tags merge into each resource's own tags, and AWS counts the union
    counts = {}
    for tenant, stack in stacks.items():
        (provider,) = stack.doc["provider"]["aws"]
        default_tags = provider["default_tags"][0]["tags"]
        assert len(default_tags) == MAX_SPEC_TAGS + len(PLATFORM_TAG_KEYS)
        for resource_type, resources in stack.doc["resource"].items():
            for name, body in resources.items():
                own = body.get("tags") or {}
                counts[f"{tenant}/{resource_type}.{name}"] = len({**default_tags, **own})
                for nested in _nested_tag_sets({k: v for k, v in body.items() if k != "tags"}):
                    counts[f"{tenant}/{resource_type}.{name} (nested)"] = len(nested)
    over = {address: n for address, n in counts.items() if n > AWS_TAG_LIMIT}
    assert over == {}
    # the limit is tight: some resource (a subnet) reaches exactly AWS's limit
    assert max(counts.values()) == AWS_TAG_LIMIT
