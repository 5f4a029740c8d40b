from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataValidationError
from pipelines.data.validation import (
    CheckStatus,
    ValidationConfig,
    check_dataset,
    validate_dataset,
    write_report,
)


def _status(report, name, column=None):
    matches = [c for c in report.checks if c.name == name and c.column == column]
    assert matches, f"no check {name} on {column}"
    return matches[0].status


def _failed(err: DataValidationError) -> set[tuple[str, str]]:
    """(location, check name) of every problem in the error."""
    return {(p.location, p.message.split(":")[0]) for p in err.problems}


def test_clean_data_passes_every_check(cancer, classification_spec):
    # given the breast cancer data / when validated
    report = validate_dataset(cancer, classification_spec, dataset="cancer.parquet")
    # then nothing failed and class balance is reported
    assert report.passed
    assert {c.status for c in report.checks} == {CheckStatus.PASSED}
    assert report.rows == 569 and report.columns == 31
    assert report.class_balance == pytest.approx({"1": 357 / 569, "0": 212 / 569})
    names = {c.name for c in report.checks}
    assert {
        "min_rows",
        "duplicate_rows",
        "target_present",
        "supported_dtype",
        "missing_ratio",
        "not_all_missing",
        "finite_values",
        "min_classes",
        "class_balance",
    } <= names


def test_missing_target_column_fails_and_skips_target_checks(cancer, classification_spec):
    # given data without the spec's target column
    frame = cancer.drop(columns="target")
    # when validated / then the error names the file, the column and the check
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, classification_spec, dataset="s3://b/train.parquet")
    assert _failed(caught.value) == {("s3://b/train.parquet: column 'target'", "target_present")}
    assert "column is missing (the spec's target is 'target')" in str(caught.value)
    report = check_dataset(frame, classification_spec)
    assert _status(report, "class_balance", "target") is CheckStatus.SKIPPED


def test_every_failing_check_is_listed_with_its_column(cancer, classification_spec):
    # given several problems at once
    frame = cancer.copy()
    frame["mixed"] = ["a", 1] * 284 + ["b"]
    frame["empty"] = np.nan
    frame.loc[:10, "mean radius"] = np.inf
    frame["when"] = pd.Timestamp("2024-01-01")
    # when validated
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, classification_spec, dataset="train.csv")
    # then every one is reported, by column
    assert _failed(caught.value) == {
        ("train.csv: column 'mixed'", "supported_dtype"),
        ("train.csv: column 'empty'", "not_all_missing"),
        ("train.csv: column 'empty'", "missing_ratio"),
        ("train.csv: column 'mean radius'", "finite_values"),
        ("train.csv: column 'when'", "supported_dtype"),
    }
    text = str(caught.value)
    assert "object column mixes value types (int, str)" in text
    assert "11 infinite values" in text
    assert "dtype datetime64[us] is neither numeric nor categorical" in text


def test_single_class_target_fails(cancer, classification_spec):
    frame = cancer.assign(target=1)
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, classification_spec)
    assert ("dataset: column 'target'", "min_classes") in _failed(caught.value)
    assert "1 distinct class(es) (only 1); classification needs at least 2" in str(caught.value)


def test_minority_class_below_threshold_fails_with_the_balance(cancer, classification_spec):
    # given 5 positives among ~200 negatives (2.3%)
    frame = pd.concat([cancer[cancer.target == 0], cancer[cancer.target == 1].head(5)], ignore_index=True)
    config = ValidationConfig(min_minority_class_ratio=0.05)
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, classification_spec, config=config)
    assert _failed(caught.value) == {("dataset: column 'target'", "class_balance")}
    assert "minority class 1 is 2.3% of rows (at least 5.0% required)" in str(caught.value)
    # and a lower threshold accepts the same data
    assert validate_dataset(
        frame, classification_spec, config=ValidationConfig(min_minority_class_ratio=0.01)
    ).passed


def test_duplicates_and_min_rows_use_the_configured_thresholds(cancer, classification_spec):
    frame = pd.concat([cancer, cancer.head(100)], ignore_index=True)
    report = check_dataset(
        frame, classification_spec, config=ValidationConfig(max_duplicate_ratio=0.1, min_rows=1000)
    )
    duplicate = next(c for c in report.checks if c.name == "duplicate_rows")
    assert duplicate.status is CheckStatus.FAILED
    assert duplicate.observed == pytest.approx(100 / 669)
    assert _status(report, "min_rows") is CheckStatus.FAILED
    assert check_dataset(frame, classification_spec, config=ValidationConfig(max_duplicate_ratio=0.2)).passed


def test_missing_ratio_threshold_and_target_without_values(cancer, classification_spec):
    frame = cancer.copy()
    frame.loc[: int(len(frame) * 0.6), "mean texture"] = np.nan
    frame.loc[:2, "target"] = np.nan
    report = check_dataset(frame, classification_spec, config=ValidationConfig(max_missing_ratio=0.5))
    failed = {(c.name, c.column) for c in report.failures}
    assert failed == {("missing_ratio", "mean texture"), ("target_not_missing", "target")}
    detail = next(c for c in report.failures if c.name == "missing_ratio").details
    assert detail == "60.1% missing; at most 50.0% allowed"


def test_regression_target_must_be_numeric(diabetes, regression_spec):
    assert validate_dataset(diabetes, regression_spec).passed
    frame = diabetes.assign(target=["low", "high"] * 221)
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, regression_spec)
    assert _failed(caught.value) == {("dataset: column 'target'", "target_numeric")}
    assert "a regression target must be numeric, got dtype str" in str(caught.value)


def test_expected_features_require_columns_of_the_right_kind(cancer, classification_spec):
    # given the signature of a trained model
    expected = {"mean radius": "numeric", "segment": "categorical"}
    frame = cancer.assign(**{"mean radius": cancer["mean radius"].astype(str)})
    # when new data misses one column and has the other as text
    with pytest.raises(DataValidationError) as caught:
        validate_dataset(frame, classification_spec, config=ValidationConfig(expected_features=expected))
    assert _failed(caught.value) == {
        ("dataset: column 'segment'", "column_present"),
        ("dataset: column 'mean radius'", "expected_kind"),
    }


def test_categorical_features_pass(classification_spec):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", None], size=300),
            "region": pd.Categorical(rng.choice(["eu", "us"], size=300)),
            "usage": rng.normal(size=300),
            "target": rng.choice(["churn", "stay"], size=300),
        }
    )
    report = validate_dataset(frame, classification_spec)
    assert report.passed
    assert set(report.class_balance) == {"churn", "stay"}


def test_report_renders_to_json_and_html(tmp_path: Path, cancer, classification_spec):
    frame = cancer.assign(target=1)
    report = check_dataset(frame, classification_spec, dataset="<train>.csv")
    json_path, html_path = write_report(report, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["passed"] is False
    assert {c["name"] for c in data["checks"] if c["status"] == "failed"} == {"min_classes", "class_balance"}
    html = html_path.read_text()
    assert html.startswith("<!doctype html>")
    assert "&lt;train&gt;.csv" in html and "<train>" not in html  # tenant data is escaped
    assert html.count('class="badge failed"') == 3  # the headline plus two checks


def test_target_without_any_value_reports_zero_classes(cancer, classification_spec):
    report = check_dataset(cancer.assign(target=np.nan), classification_spec)
    details = {c.name: c.details for c in report.failures}
    assert details["min_classes"] == "0 distinct class(es); classification needs at least 2"
    assert details["not_all_missing"] == "every value is missing; drop the column or fix the export"
