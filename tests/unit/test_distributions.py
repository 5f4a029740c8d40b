"""Reading distributions' names and versions from their METADATA headers gives what importlib gives."""

from __future__ import annotations

import importlib.metadata

from core.distributions import name_and_version, packages_distributions


def test_given_the_installed_distributions_when_read_from_headers_then_names_and_versions_match_importlib():
    # given
    dists = list(importlib.metadata.distributions())

    # when
    fast = [name_and_version(d) for d in dists]

    # then
    assert fast == [(d.metadata["Name"], d.version) for d in dists]
    assert len(fast) > 10


def test_given_the_installed_distributions_when_mapped_by_module_then_the_map_is_importlibs():
    # when / then
    assert packages_distributions() == importlib.metadata.packages_distributions()


def test_given_a_description_with_header_like_lines_when_read_then_only_the_headers_count(tmp_path):
    # given: a long description (after the blank line) that mentions other names and versions
    info = tmp_path / "demo-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.2\n\nName: not-this\nVersion: 9.9\n", encoding="utf-8"
    )

    # when
    found = name_and_version(importlib.metadata.PathDistribution(info))

    # then
    assert found == ("demo", "1.2")
