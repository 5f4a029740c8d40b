"""The bundled sample dataset for demos: scikit-learn's breast cancer data, as Parquet.

``load_breast_cancer`` ships inside scikit-learn, so nothing is downloaded: 569 rows, 30 numeric
features and a binary ``target`` column, which fits the example ``churn`` tenant's spec
(classification, target ``target``, ROC AUC). The ``drifted`` variant shifts a third of the
features by a fraction of their spread and rescales a few more, for monitoring demos where the
drift alarm must fire; its labels are the same rows' labels.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

TARGET = "target"
SAMPLE_KEY = "incoming/sample/breast_cancer.parquet"
DRIFTED_SAMPLE_KEY = "incoming/sample/breast_cancer_drifted.parquet"

#: the features the drifted variant moves, and by how many standard deviations
_SHIFTED = {
    "mean radius": 1.0,
    "mean texture": 0.8,
    "mean perimeter": 1.0,
    "mean area": 1.2,
    "mean smoothness": -0.7,
    "worst radius": 1.0,
    "worst texture": 0.8,
    "worst perimeter": 1.0,
    "worst area": 1.2,
    "worst concave points": 0.6,
}
#: and the ones it widens (multiplies the distance from the mean)
_SCALED = {"mean compactness": 1.8, "worst compactness": 1.8, "mean symmetry": 1.5}


def sample_frame(*, drifted: bool = False, seed: int = 0) -> pd.DataFrame:
    """The sample dataset (a fresh copy); ``drifted`` moves the feature distributions."""
    frame = load_breast_cancer(as_frame=True).frame
    frame[TARGET] = frame[TARGET].astype("int64")
    if not drifted:
        return frame
    rng = np.random.default_rng(seed)
    for name, shift in _SHIFTED.items():
        spread = float(frame[name].std())
        noise = rng.normal(0.0, 0.1 * spread, size=len(frame))
        frame[name] = (frame[name] + shift * spread + noise).clip(lower=0.0)
    for name, factor in _SCALED.items():
        mean = float(frame[name].mean())
        frame[name] = (mean + (frame[name] - mean) * factor).clip(lower=0.0)
    return frame


@functools.cache
def sample_parquet_bytes(*, drifted: bool = False) -> bytes:
    """The sample dataset as Parquet bytes (no index column), made once per process (same bytes each time)."""
    buffer = io.BytesIO()
    sample_frame(drifted=drifted).to_parquet(buffer, index=False)
    return buffer.getvalue()


def write_sample_dataset(path: Path, *, drifted: bool = False) -> Path:
    """Write the sample dataset as Parquet to ``path``; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sample_parquet_bytes(drifted=drifted))
    return path


def upload_sample_dataset(s3: object, bucket: str, *, drifted: bool = False, key: str | None = None) -> str:
    """Put the sample dataset into ``bucket`` (default key under ``incoming/``); return its S3 URI."""
    key = key or (DRIFTED_SAMPLE_KEY if drifted else SAMPLE_KEY)
    s3.put_object(  # type: ignore[attr-defined]
        Bucket=bucket,
        Key=key,
        Body=sample_parquet_bytes(drifted=drifted),
        ContentType="application/vnd.apache.parquet",
    )
    return f"s3://{bucket}/{key}"


__all__ = [
    "DRIFTED_SAMPLE_KEY",
    "SAMPLE_KEY",
    "TARGET",
    "sample_frame",
    "sample_parquet_bytes",
    "upload_sample_dataset",
    "write_sample_dataset",
]
