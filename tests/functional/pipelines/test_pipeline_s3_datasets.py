from __future__ import annotations

import hashlib
import io

import pandas as pd
import pytest

from core.errors import DatasetNotFoundError, DatasetTooLargeError, DataValidationError
from pipelines.data.datasets import load_dataset


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def test_loads_parquet_from_a_versioned_bucket_with_its_version(s3, bucket, cancer):
    # given two versions of the same key
    first = _parquet(cancer.head(100))
    v1 = s3.put_object(Bucket=bucket, Key="raw/train.parquet", Body=first)["VersionId"]
    s3.put_object(Bucket=bucket, Key="raw/train.parquet", Body=_parquet(cancer))
    # when loaded
    dataset = load_dataset(f"s3://{bucket}/raw/train.parquet", s3=s3)
    # then the latest version is read and its version id and hash recorded
    assert len(dataset.frame) == 569
    latest = s3.head_object(Bucket=bucket, Key="raw/train.parquet")["VersionId"]
    assert dataset.provenance.version_id == latest != v1
    body = s3.get_object(Bucket=bucket, Key="raw/train.parquet")["Body"].read()
    assert dataset.provenance.sha256 == hashlib.sha256(body).hexdigest()
    assert dataset.provenance.size_bytes == len(body)


def test_loads_csv_from_an_unversioned_bucket(s3, region, cancer):
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket="plain", Key="train.csv", Body=cancer.head(50).to_csv(index=False).encode())
    dataset = load_dataset("s3://plain/train.csv", s3=s3)
    assert dataset.provenance.version_id is None
    assert dataset.provenance.format == "csv"
    assert dataset.frame.shape == (50, 31)


def test_missing_object_is_not_found(s3, bucket):
    with pytest.raises(
        DatasetNotFoundError, match=f"s3://{bucket}/raw/missing.parquet: S3 object does not exist"
    ):
        load_dataset(f"s3://{bucket}/raw/missing.parquet", s3=s3)


def test_size_limit_uses_head_object_before_reading(s3, bucket):
    # given a corrupt object bigger than the limit
    version = s3.put_object(Bucket=bucket, Key="big.parquet", Body=b"x" * 2048)["VersionId"]
    uri = f"s3://{bucket}/big.parquet"
    calls: list[tuple[str, str | None]] = []
    s3.meta.events.register(
        "provide-client-params.s3.*",
        lambda model, params, **_: calls.append((model.name, params.get("VersionId"))),
    )
    # when loaded / then the size error comes from HeadObject alone: the body was never fetched
    with pytest.raises(DatasetTooLargeError) as caught:
        load_dataset(uri, s3=s3, max_bytes=1024)
    assert caught.value.problems[0].location == uri
    assert "is 2048 bytes, over the limit of 1024 bytes" in str(caught.value)
    assert calls == [("HeadObject", None)]
    # and within the limit, the read is pinned to the version HeadObject saw
    calls.clear()
    with pytest.raises(DataValidationError, match="cannot be read as parquet"):
        load_dataset(uri, s3=s3, max_bytes=4096)
    assert calls == [("HeadObject", None), ("GetObject", version)]


def test_corrupt_object_names_the_uri(s3, bucket):
    s3.put_object(Bucket=bucket, Key="bad.parquet", Body=b"PAR1 garbage")
    with pytest.raises(DataValidationError, match=f"s3://{bucket}/bad.parquet: cannot be read as parquet"):
        load_dataset(f"s3://{bucket}/bad.parquet", s3=s3)


def test_malformed_uri_is_rejected(s3):
    with pytest.raises(ValueError, match="not an S3 object URI"):
        load_dataset("s3://only-bucket", s3=s3)
