"""Feature kinds and the model's input signature.

Validation, training, baselines and serving must agree on which columns are numeric and which
are categorical; this module is the one place that decides. The two ``*_as_*`` functions are
referenced by pickled models: keep their names and module stable.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict

FeatureKind = Literal["numeric", "categorical"]


class FeatureSignature(BaseModel):
    """One input column of a model: its name, the pandas dtype it was trained on, and its kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: str
    kind: FeatureKind


def feature_kind(series: pd.Series) -> FeatureKind | None:
    """Numeric, categorical, or ``None`` when the column holds something a model cannot use.

    Booleans count as categorical (scikit-learn's imputers reject bool arrays); object columns are
    categorical only when every present value is a string, so a column that mixes numbers and
    strings (a typical CSV export accident) is reported instead of silently one-hot encoded.
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_object_dtype(dtype):
        present = series.dropna()
        return "categorical" if all(isinstance(v, str) for v in present) else None
    if ptypes.is_string_dtype(dtype):
        return "categorical"
    return None


def input_signature(frame: pd.DataFrame, target: str) -> list[FeatureSignature]:
    """The signature of every usable feature column (all columns but the target), in frame order.

    Raises ``ValueError`` for a column with an unusable dtype: validation reports those first.
    """
    signature = []
    for name in frame.columns:
        if name == target:
            continue
        kind = feature_kind(frame[name])
        if kind is None:
            raise ValueError(f"column {name!r} has unsupported dtype {frame[name].dtype}")
        signature.append(FeatureSignature(name=str(name), dtype=str(frame[name].dtype), kind=kind))
    return signature


def categories_as_strings(frame: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """Categorical inputs as object strings with ``NaN`` for missing.

    Training data (pandas ``str``/``category``/``bool``) and serving data (JSON: strings, ``None``,
    sometimes numbers) arrive with different dtypes and missing markers; one canonical form keeps
    the imputer and one-hot encoder seeing the same categories in both places.
    """
    frame = pd.DataFrame(frame)
    missing = frame.isna()
    as_text = frame.astype(object).map(str)
    return as_text.mask(missing, np.nan)


def numbers_as_float(frame: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """Numeric inputs as float64 with ``NaN`` for missing (nullable ints and JSON ``None`` included)."""
    frame = pd.DataFrame(frame)
    loose = [c for c in frame.columns if not ptypes.is_numeric_dtype(frame[c].dtype)]
    if loose:
        # errors raise: a string in a numeric column is bad input, not a missing value
        frame = frame.assign(**{str(c): pd.to_numeric(frame[c]) for c in loose})
    return frame.astype("float64")


__all__ = [
    "FeatureKind",
    "FeatureSignature",
    "categories_as_strings",
    "feature_kind",
    "input_signature",
    "numbers_as_float",
]
