from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DatasetNotFoundError, DatasetTooLargeError, DataValidationError
from pipelines.data.datasets import load_dataset, load_directory, split_holdout


@pytest.fixture
def small() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["red", "blue", None], "target": [0, 1, 0]})


def test_loads_parquet_with_provenance_of_the_exact_bytes(tmp_path: Path, small: pd.DataFrame):
    # given a Parquet file
    path = tmp_path / "data.parquet"
    small.to_parquet(path)
    # when loaded
    dataset = load_dataset(path)
    # then the frame round-trips and the provenance fingerprints the file
    pd.testing.assert_frame_equal(dataset.frame, small)
    assert dataset.provenance.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.provenance.size_bytes == path.stat().st_size
    assert (dataset.provenance.format, dataset.provenance.uri, dataset.provenance.version_id) == (
        "parquet",
        str(path),
        None,
    )


def test_loads_csv_and_file_uri(tmp_path: Path, small: pd.DataFrame):
    path = tmp_path / "data.csv"
    small.to_csv(path, index=False)
    dataset = load_dataset(f"file://{path}")
    assert dataset.provenance.format == "csv"
    assert dataset.frame["x"].tolist() == [1.0, 2.0, 3.0]
    assert dataset.frame["colour"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize(("writer", "expected"), [("parquet", "parquet"), ("csv", "csv")])
def test_detects_format_by_content_without_extension(tmp_path: Path, small: pd.DataFrame, writer, expected):
    path = tmp_path / "part-00000"
    small.to_parquet(path) if writer == "parquet" else small.to_csv(path, index=False)
    dataset = load_dataset(path)
    assert dataset.provenance.format == expected
    assert len(dataset.frame) == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.parquet", b"", "file is empty"),
        ("empty.csv", b"  \n", "file is empty"),
        ("corrupt.parquet", b"PAR1 this is not really parquet", "cannot be read as parquet"),
        ("header.csv", b"a,b,target\n", "has a header but no rows"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", "cannot be read as csv"),
        ("blob", b"\x00\xff\xfe\x81" * 100, "unknown file format"),
    ],
)
def test_bad_files_raise_data_validation_error_naming_the_file(tmp_path: Path, name, content, message):
    # given an unreadable file
    path = tmp_path / name
    path.write_bytes(content)
    # when loaded / then the error names the file and says what is wrong
    with pytest.raises(DataValidationError) as caught:
        load_dataset(path)
    assert caught.value.problems[0].location == str(path)
    assert message in caught.value.problems[0].message
    assert str(path) in str(caught.value)


def test_missing_file_raises_not_found(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match=r"nope\.csv: file does not exist"):
        load_dataset(tmp_path / "nope.csv")


def test_size_limit_is_checked_before_reading(tmp_path: Path):
    # given a corrupt file larger than the limit
    path = tmp_path / "big.parquet"
    path.write_bytes(b"garbage" * 100)
    # when loaded with a small limit / then the size error wins: the content was never parsed
    with pytest.raises(DatasetTooLargeError) as caught:
        load_dataset(path, max_bytes=100)
    assert caught.value.problems[0].location == str(path)
    assert "is 700 bytes, over the limit of 100 bytes" in caught.value.problems[0].message
    # and the same file within the limit fails on its content instead
    with pytest.raises(DataValidationError, match="cannot be read as parquet"):
        load_dataset(path, max_bytes=1000)


def test_load_directory_concatenates_parts_in_name_order(tmp_path: Path, small: pd.DataFrame):
    # given a channel with two parts, a marker file and a hidden file
    small.iloc[:2].to_parquet(tmp_path / "part-0.parquet")
    small.iloc[2:].to_parquet(tmp_path / "part-1.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    # when loaded
    dataset = load_directory(tmp_path)
    # then all rows are there, in order, and the provenance lists both parts
    assert dataset.frame["x"].tolist() == [1.0, 2.0, 3.0]
    assert [Path(p.uri).name for p in dataset.provenance.parts] == ["part-0.parquet", "part-1.parquet"]
    assert dataset.provenance.format == "directory"
    # and changing one part changes the directory's hash
    before = dataset.provenance.sha256
    small.iloc[2:].assign(x=9.0).to_parquet(tmp_path / "part-1.parquet")
    assert load_directory(tmp_path).provenance.sha256 != before


def test_load_directory_rejects_parts_with_different_columns(tmp_path: Path, small: pd.DataFrame):
    small.to_parquet(tmp_path / "a.parquet")
    small.drop(columns="colour").to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataValidationError, match=r"b\.parquet: columns differ from a\.parquet"):
        load_directory(tmp_path)


def test_load_directory_limit_applies_to_the_sum(tmp_path: Path, small: pd.DataFrame):
    small.to_parquet(tmp_path / "a.parquet")
    small.to_parquet(tmp_path / "b.parquet")
    one = (tmp_path / "a.parquet").stat().st_size
    with pytest.raises(DatasetTooLargeError, match=str(tmp_path)):
        load_directory(tmp_path, max_bytes=one + 1)


def test_load_directory_errors_for_missing_and_empty_directories(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="directory does not exist"):
        load_directory(tmp_path / "missing")
    with pytest.raises(DataValidationError, match="directory holds no data files"):
        load_directory(tmp_path)


def test_split_holdout_is_stratified_and_seeded(cancer, classification_spec):
    train, holdout = split_holdout(cancer, classification_spec, test_size=0.2, seed=3)
    assert len(train) + len(holdout) == len(cancer)
    assert abs(holdout["target"].mean() - cancer["target"].mean()) < 0.01
    again, _ = split_holdout(cancer, classification_spec, test_size=0.2, seed=3)
    pd.testing.assert_frame_equal(train, again)
