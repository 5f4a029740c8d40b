from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.data.features import categories_as_strings, feature_kind, input_signature, numbers_as_float


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1, 2, 3], "int64", "numeric"),
        ([1.5, np.nan, 3.0], "float64", "numeric"),
        ([1, None, 3], "Int64", "numeric"),
        (["a", None, "b"], "str", "categorical"),
        (["a", None, "b"], object, "categorical"),
        (["a", "b", "a"], "category", "categorical"),
        ([True, False, True], "bool", "categorical"),
        (["a", 2, 3.5], object, None),
        (pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]), None, None),
    ],
)
def test_feature_kind(values, dtype, expected):
    # given a column of this dtype / when classified / then
    assert feature_kind(pd.Series(values, dtype=dtype)) == expected


def test_input_signature_lists_features_in_order_without_the_target():
    frame = pd.DataFrame({"b": [1.0], "target": [0], "a": ["x"]})
    signature = input_signature(frame, "target")
    assert [(f.name, f.kind, f.dtype) for f in signature] == [
        ("b", "numeric", "float64"),
        ("a", "categorical", "str"),
    ]


def test_input_signature_rejects_an_unusable_column_by_name():
    frame = pd.DataFrame({"mixed": ["a", 1], "target": [0, 1]})
    with pytest.raises(ValueError, match="column 'mixed' has unsupported dtype object"):
        input_signature(frame, "target")


def test_categories_as_strings_unifies_missing_markers_and_types():
    # given training-style and serving-style inputs for the same categorical column
    frame = pd.DataFrame({"c": pd.Series(["a", None, "b"], dtype=object), "flag": [True, False, None]})
    # when normalized
    out = categories_as_strings(frame)
    # then every present value is a str and both None and NaN are NaN
    assert out["c"].tolist()[0] == "a" and out["c"].isna().tolist() == [False, True, False]
    assert out["flag"].tolist()[:2] == ["True", "False"] and pd.isna(out["flag"].iloc[2])


def test_numbers_as_float_converts_json_style_columns_and_rejects_text():
    frame = pd.DataFrame({"n": pd.Series([1, None, 3], dtype=object), "m": [1, 2, 3]})
    out = numbers_as_float(frame)
    assert out.dtypes.tolist() == [np.dtype("float64")] * 2
    assert np.isnan(out["n"].iloc[1])
    with pytest.raises(ValueError, match="Unable to parse string"):
        numbers_as_float(pd.DataFrame({"n": ["1", "abc"]}))
