"""Request bodies to feature matrices: every accepted shape, and errors that name the row and column."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from core.errors import InferenceInputError
from pipelines.data.features import FeatureSignature
from pipelines.serving.schema import InputSchema, parse_csv, parse_json

SIGNATURE = [
    FeatureSignature(name="amount", dtype="float64", kind="numeric"),
    FeatureSignature(name="color", dtype="str", kind="categorical"),
    FeatureSignature(name="age", dtype="float64", kind="numeric"),
    FeatureSignature(name="member", dtype="bool", kind="categorical"),
]
NUMERIC = [FeatureSignature(name=n, dtype="float64", kind="numeric") for n in ("a", "b", "c")]


@pytest.fixture
def mixed() -> InputSchema:
    return InputSchema(SIGNATURE)


@pytest.fixture
def numeric() -> InputSchema:
    return InputSchema(NUMERIC)


def test_csv_rows_without_header_become_a_float_matrix(numeric):
    # given two CSV lines, one with a trailing newline / when parsed
    batch = parse_csv(b"1,2.5,3\n4, 5 ,nan\n", numeric)
    # then numbers land in signature order and "nan" is a missing value
    assert batch.n_rows == 2 and batch.categorical is None
    np.testing.assert_array_equal(batch.numeric[0], [1.0, 2.5, 3.0])
    assert batch.numeric[1, 1] == 5.0 and math.isnan(batch.numeric[1, 2])


def test_csv_header_in_any_order_is_reordered_to_the_signature(numeric):
    batch = parse_csv(b"c,a,b\n3,1,2\n", numeric)
    np.testing.assert_array_equal(batch.numeric, [[1.0, 2.0, 3.0]])


def test_csv_empty_field_is_missing_and_quoted_fields_parse(mixed):
    batch = parse_csv(b'12.5,"red",,True\n,,40,\n', mixed)
    assert batch.numeric[0, 0] == 12.5 and math.isnan(batch.numeric[0, 1])
    assert math.isnan(batch.numeric[1, 0]) and batch.numeric[1, 1] == 40.0
    assert batch.categorical.tolist() == [["red", "True"], [None, None]]


def test_csv_wrong_column_count_names_expected_got_and_row(numeric):
    with pytest.raises(InferenceInputError) as err:
        parse_csv(b"1,2,3\n4,5\n", numeric)
    assert err.value.status_code == 400
    assert "row 2: expected 3 values" in str(err.value) and "got 2" in str(err.value)


def test_csv_non_numeric_value_names_row_and_column(numeric):
    with pytest.raises(InferenceInputError) as err:
        parse_csv(b"1,2,3\n4,five,6\n", numeric)
    assert "row 2, column 'b'" in str(err.value) and "'five' is not a number" in str(err.value)


def test_csv_header_with_missing_and_unknown_columns_names_them(numeric):
    with pytest.raises(InferenceInputError) as err:
        parse_csv(b"a,b,x\n1,2,3\n", numeric)
    assert "missing column(s) 'c'" in str(err.value) and "unknown column(s) 'x'" in str(err.value)


def test_infinite_values_are_refused(numeric):
    with pytest.raises(InferenceInputError, match=r"row 1, column 'c': infinite"):
        parse_csv(b"1,2,inf\n", numeric)


def test_json_instances_rows_inputs_records_and_bare_lists_agree(mixed):
    row = [10.0, "blue", 33, False]
    record = dict(zip(["amount", "color", "age", "member"], row, strict=True))
    bodies = [
        {"instances": [row]},
        {"instances": [record]},
        {"inputs": [record]},
        [row],
        [record],
    ]
    batches = [parse_json(orjson.dumps(body), mixed) for body in bodies]
    for batch in batches:
        np.testing.assert_array_equal(batch.numeric, [[10.0, 33.0]])
        # booleans and numbers in categorical features are compared as their str(), as in training
        assert batch.categorical.tolist() == [["blue", "False"]]


def test_json_null_is_missing_but_an_absent_key_is_an_error(mixed):
    batch = parse_json(b'{"inputs": [{"amount": null, "color": null, "age": 3, "member": true}]}', mixed)
    assert math.isnan(batch.numeric[0, 0]) and batch.categorical.tolist() == [[None, "True"]]
    with pytest.raises(InferenceInputError) as err:
        parse_json(
            b'{"inputs": [{"amount": 1, "color": "red", "age": 3, "member": true}, {"amount": 1}]}', mixed
        )
    assert "record 2: missing field(s) 'color', 'age', 'member'" in str(err.value)


def test_json_unknown_record_field_is_named(mixed):
    body = {"inputs": [{"amount": 1, "colour": "red", "age": 3, "member": True}]}
    with pytest.raises(InferenceInputError) as err:
        parse_json(orjson.dumps(body), mixed)
    assert "missing field(s) 'color'" in str(err.value) and "unknown field(s) 'colour'" in str(err.value)


def test_json_string_for_numeric_feature_names_row_and_column(mixed):
    with pytest.raises(InferenceInputError) as err:
        parse_json(b'{"instances": [[1, "red", 2, true], [1, "red", "old", true]]}', mixed)
    assert "row 2, column 'age'" in str(err.value)


def test_json_object_in_a_categorical_feature_is_refused(mixed):
    with pytest.raises(InferenceInputError, match=r"row 1, column 'color': expected a string, got an object"):
        parse_json(b'[[1, {"x": 1}, 2, true]]', mixed)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"rows": []}', 'exactly one of "instances"'),
        (b'{"instances": []}', "holds no rows"),
        (b"[1, 2, 3]", "item 1 is a number"),
        (b'[[1, 2, 3], {"a": 1}]', "row 2: expected a list of values"),
        (b'"text"', "must be an object or a list"),
    ],
)
def test_json_shape_errors_say_what_is_expected(numeric, body, message):
    with pytest.raises(InferenceInputError, match=message) as err:
        parse_json(body, numeric)
    assert err.value.status_code == 400


def test_rows_from_batch_restores_signature_order_with_none_for_missing(mixed):
    batch = parse_csv(b"12.5,red,,True\n", mixed)
    assert mixed.rows_from_batch(batch) == [{"amount": 12.5, "color": "red", "age": None, "member": "True"}]


def test_frames_with_pandas_missing_markers_become_batches(mixed):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "amount": pd.array([1.5, None], dtype="Float64"),
            "color": pd.array(["red", None], dtype="string"),
            "age": [30, 40],
            "member": [True, False],
        }
    )
    batch = mixed.batch_from_frame(frame)
    assert batch.numeric[0].tolist() == [1.5, 30.0] and math.isnan(batch.numeric[1, 0])
    assert batch.categorical.tolist() == [["red", "True"], [None, "False"]]


def test_frames_missing_a_feature_column_are_refused(mixed):
    import pandas as pd

    with pytest.raises(InferenceInputError, match="missing column\\(s\\) 'member'"):
        mixed.batch_from_frame(pd.DataFrame({"amount": [1.0], "color": ["red"], "age": [3]}))
