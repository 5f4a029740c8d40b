"""Terraform JSON written as cdktf's Node process writes it (json-stable-stringify, two spaces).

The expected texts are what Node printed for the same values (``String(n)`` for numbers,
``stringify(value, {space: 2})`` for documents); ``tests/infra/test_infra_document_writer.py``
compares whole synthesized stacks with what cdktf writes itself.
"""

from __future__ import annotations

import pytest

from core.terraform.stable_json import dumps, js_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (1e-7, "1e-7"),
        (1.5e-6, "0.0000015"),
        (0.000001, "0.000001"),
        (1e16, "10000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.25e22, "1.25e+22"),
        (-2.5, "-2.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (float("nan"), "null"),
    ],
)
def test_given_a_float_when_written_then_it_reads_as_javascript_prints_it(value, expected):
    # when / then
    assert js_number(value) == expected


def test_given_a_document_when_written_then_keys_are_sorted_and_empty_containers_open_on_two_lines():
    # given
    doc = {"b": {"z": [], "a": {}}, "a": [1, True, None, "x"], "//": {"metadata": {"path": "s/A"}}}

    # when
    text = dumps(doc)

    # then
    assert text == (
        "{\n"
        '  "//": {\n    "metadata": {\n      "path": "s/A"\n    }\n  },\n'
        '  "a": [\n    1,\n    true,\n    null,\n    "x"\n  ],\n'
        '  "b": {\n    "a": {\n    },\n    "z": [\n    ]\n  }\n'
        "}"
    )


def test_given_strings_with_quotes_controls_and_non_ascii_when_written_then_only_json_escapes_apply():
    # when
    text = dumps({"k": 'a"b\\c\nd\te\x01 é ✓ 😀'})

    # then: non-ASCII stays as it is (the file is UTF-8); control characters as JavaScript escapes them
    assert text == '{\n  "k": "a\\"b\\\\c\\nd\\te\\u0001 é ✓ 😀"\n}'


def test_given_a_value_json_cannot_hold_when_written_then_the_type_is_named():
    # when
    with pytest.raises(TypeError) as caught:
        dumps({"k": {1, 2}})

    # then
    assert str(caught.value) == "cannot write set as Terraform JSON: {1, 2}"
