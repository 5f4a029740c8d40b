"""The libyaml-backed spec loader keeps every rule of the pure-Python one, by itself.

``load_yaml`` reads a file that fails again with the pure-Python loader (for its wording), so
the tests in ``test_spec.py`` would pass even if the fast loader let an alias through; these
call each loader directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.spec_yaml import LOADER, SpecLoader, SpecYamlError

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "tenants").glob("*.yaml"))
LOADERS = pytest.mark.parametrize("loader", [SpecLoader, LOADER], ids=["python", "fast"])


def test_given_pyyaml_with_libyaml_when_the_loader_is_chosen_then_it_is_the_fast_one():
    # then: the installed PyYAML wheels bundle libyaml; without it every load would be ~10x slower
    assert yaml.__with_libyaml__
    assert LOADER is not SpecLoader


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_given_an_example_spec_when_loaded_by_both_loaders_then_the_data_is_the_same(example):
    # given
    text = example.read_text(encoding="utf-8")

    # when / then
    assert yaml.load(text, Loader=LOADER) == yaml.load(text, Loader=SpecLoader)


@LOADERS
@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: &x 1\nb: *x\n", "YAML anchors and aliases", 1),
        ("a: 1\nb:\n  c: 2\n  c: 3\n", "duplicate key 'c' (first at line 3)", 4),
        (
            "".join(f"{'  ' * i}k{i}:\n" for i in range(12)) + "  " * 12 + "v\n",
            "nested deeper than 10 levels",
            11,
        ),
        ("when: 2024-13-45\n", "cannot read this value", 1),
    ],
    ids=["alias", "duplicate-key", "too-deep", "bad-date"],
)
def test_given_a_document_outside_the_subset_when_loaded_then_each_loader_refuses_it(
    loader, text, message, line
):
    # when
    with pytest.raises(SpecYamlError) as caught:
        yaml.load(text, Loader=loader)

    # then
    assert message in caught.value.problem
    assert caught.value.problem_mark.line + 1 == line
