"""The bundled sample dataset and its drifted variant."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from tenantml.sample_data import TARGET, sample_frame, sample_parquet_bytes, write_sample_dataset


def test_the_sample_is_the_breast_cancer_data_with_a_binary_target():
    frame = sample_frame()
    assert frame.shape == (569, 31)
    assert TARGET in frame.columns and sorted(frame[TARGET].unique()) == [0, 1]
    assert frame.drop(columns=TARGET).dtypes.map(pd.api.types.is_float_dtype).all()


def test_parquet_bytes_round_trip_without_an_index(tmp_path: Path):
    data = sample_parquet_bytes()
    assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    frame = pd.read_parquet(io.BytesIO(data))
    assert list(frame.columns) == list(sample_frame().columns)
    path = write_sample_dataset(tmp_path / "nested" / "sample.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), sample_frame())


def test_the_drifted_variant_moves_features_but_keeps_labels():
    clean, drifted = sample_frame(), sample_frame(drifted=True)
    assert drifted.shape == clean.shape
    pd.testing.assert_series_equal(drifted[TARGET], clean[TARGET])
    shift = (drifted["mean radius"].mean() - clean["mean radius"].mean()) / clean["mean radius"].std()
    assert 0.8 < shift < 1.2
    assert drifted["mean compactness"].std() > 1.5 * clean["mean compactness"].std()
    assert (drifted.drop(columns=TARGET) >= 0).all().all()
    pd.testing.assert_series_equal(drifted["mean fractal dimension"], clean["mean fractal dimension"])
    pd.testing.assert_frame_equal(sample_frame(drifted=True), drifted)  # deterministic
