"""Fixtures shared by every test directory (a directory's own conftest may override one)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer


@pytest.fixture(scope="session")
def _cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture
def cancer(_cancer: pd.DataFrame) -> pd.DataFrame:
    """Breast cancer: 569 rows, 30 numeric features, binary ``target`` (a fresh copy per test)."""
    return _cancer.copy()
