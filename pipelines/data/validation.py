"""Data checks on a tenant's dataset, run as a pandera schema built from the data and the model spec.

:func:`check_dataset` always returns a :class:`ValidationReport` with every check (passed, failed
or skipped, with the measured value); :func:`validate_dataset` also raises
:class:`DataValidationError` listing every failed check with its column. Reports render to JSON
and to a small HTML page.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, computed_field

from core.errors import DataValidationError, Problem
from core.spec import ModelSpec, ProblemType
from pipelines.data.features import FeatureKind, feature_kind
from pipelines.reports import render_template

with warnings.catch_warnings():
    # pandera warns at import when typeguard 2 is installed (jsii, under cdktf, pins it); the
    # warning is about pandera's typing helpers, which tenantml does not use
    warnings.filterwarnings("ignore", message="Using typeguard < 3", category=UserWarning)
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckResult(BaseModel):
    """The outcome of one check; ``column`` is ``None`` for checks on the whole dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    status: CheckStatus
    column: str | None = None
    details: str
    observed: float | None = None
    threshold: float | None = None


class ValidationConfig(BaseModel):
    """Thresholds of the data checks. ``expected_features`` (for example a trained model's input
    signature) makes each listed column required and of the given kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_rows: int = Field(default=100, ge=1)
    max_missing_ratio: float = Field(default=0.5, ge=0, le=1)
    max_duplicate_ratio: float = Field(default=0.1, ge=0, le=1)
    min_minority_class_ratio: float = Field(default=0.05, ge=0, le=0.5)
    expected_features: dict[str, FeatureKind] | None = None


class ValidationReport(BaseModel):
    """Every check run on one dataset for one model spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str
    model_name: str
    problem: ProblemType
    target: str
    rows: int
    columns: int
    checks: tuple[CheckResult, ...]
    #: class label -> share of rows with a target (classification only)
    class_balance: dict[str, float] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is CheckStatus.FAILED]

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` naming every failed check and its column."""
        if self.failures:
            raise DataValidationError(
                [
                    Problem(
                        f"{self.dataset}: column {c.column!r}" if c.column is not None else self.dataset,
                        f"{c.name}: {c.details}",
                    )
                    for c in self.failures
                ],
                headline=(
                    f"dataset {self.dataset} failed {len(self.failures)} check(s) "
                    f"for model {self.model_name!r}"
                ),
            )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_html(self) -> str:
        return render_template("validation_report.html.j2", report=self)


Outcome = tuple[bool, str, float | None]


@dataclass
class _Check:
    """One named check; pandera runs it and it keeps its measured outcome for the report."""

    name: str
    column: str | None
    evaluate: Callable[[Any], Outcome]
    threshold: float | None = None
    outcome: Outcome | None = None

    def to_pandera(self) -> pa.Check:
        def run(data: Any) -> bool:
            self.outcome = self.evaluate(data)
            return self.outcome[0]

        # ignore_na=False: the missing-value checks must see the missing values
        return pa.Check(run, name=self.name, ignore_na=False)


def build_schema(
    frame: pd.DataFrame, spec: ModelSpec, config: ValidationConfig | None = None
) -> tuple[pa.DataFrameSchema, list[_Check]]:
    """The pandera schema for this data and spec, and the checks it runs (for the report)."""
    config = config or ValidationConfig()
    frame_checks = [
        _Check("min_rows", None, lambda df: _min_rows(df, config.min_rows), float(config.min_rows)),
        _Check(
            "duplicate_rows",
            None,
            lambda df: _duplicates(df, config.max_duplicate_ratio),
            config.max_duplicate_ratio,
        ),
    ]
    column_checks: dict[str, list[_Check]] = {}
    expected = config.expected_features or {}
    for name in dict.fromkeys([*frame.columns, *expected, spec.target]):
        checks = column_checks.setdefault(name, [])
        checks.append(_Check("supported_dtype", name, _supported_dtype))
        if name in expected:
            kind = expected[name]
            checks.append(_Check("expected_kind", name, lambda s, kind=kind: _expected_kind(s, kind)))
        checks.append(_Check("not_all_missing", name, _not_all_missing))
        if name == spec.target:
            checks.append(_Check("target_not_missing", name, _target_not_missing, 0.0))
        else:
            checks.append(
                _Check(
                    "missing_ratio",
                    name,
                    lambda s: _missing_ratio(s, config.max_missing_ratio),
                    config.max_missing_ratio,
                )
            )
        checks.append(_Check("finite_values", name, _finite))
    target_checks = column_checks[spec.target]
    if spec.problem is ProblemType.REGRESSION:
        target_checks.append(_Check("target_numeric", spec.target, _target_numeric))
    else:
        target_checks.append(_Check("min_classes", spec.target, _min_classes, 2.0))
        target_checks.append(
            _Check(
                "class_balance",
                spec.target,
                lambda s: _class_balance(s, config.min_minority_class_ratio),
                config.min_minority_class_ratio,
            )
        )
    schema = pa.DataFrameSchema(
        {
            name: pa.Column(
                None,
                nullable=True,
                required=name == spec.target or name in expected,
                checks=[c.to_pandera() for c in checks],
            )
            for name, checks in column_checks.items()
        },
        checks=[c.to_pandera() for c in frame_checks],
        name=f"{spec.name}-training-data",
    )
    return schema, [*frame_checks, *(c for checks in column_checks.values() for c in checks)]


def check_dataset(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    config: ValidationConfig | None = None,
    dataset: str = "dataset",
) -> ValidationReport:
    """Run every check and report them all; never raises for bad data.

    ``dataset`` names the data in the report and in errors (use the file or S3 URI).
    """
    config = config or ValidationConfig()
    schema, checks = build_schema(frame, spec, config)
    missing_columns: set[str] = set()
    extra_failures: list[CheckResult] = []
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        for row in err.failure_cases.itertuples(index=False):
            if row.check == "column_in_dataframe":
                missing_columns.add(str(row.failure_case))
            elif not any(c.name == row.check for c in checks):
                extra_failures.append(
                    CheckResult(
                        name=str(row.check),
                        status=CheckStatus.FAILED,
                        column=None if pd.isna(row.column) else str(row.column),
                        details=str(row.failure_case),
                    )
                )

    results: list[CheckResult] = []
    required = dict.fromkeys([spec.target, *(config.expected_features or {})])
    for name in required:
        check_name = "target_present" if name == spec.target else "column_present"
        if name in missing_columns:
            hint = f"the spec's target is {spec.target!r}" if name == spec.target else "the model needs it"
            results.append(
                CheckResult(
                    name=check_name,
                    status=CheckStatus.FAILED,
                    column=name,
                    details=f"column is missing ({hint}); columns present: {_list(frame.columns)}",
                )
            )
        else:
            results.append(
                CheckResult(name=check_name, status=CheckStatus.PASSED, column=name, details="column present")
            )
    for check in checks:
        if check.outcome is None:
            results.append(
                CheckResult(
                    name=check.name,
                    status=CheckStatus.SKIPPED,
                    column=check.column,
                    details="not run: column is missing",
                    threshold=check.threshold,
                )
            )
            continue
        ok, details, observed = check.outcome
        results.append(
            CheckResult(
                name=check.name,
                status=CheckStatus.PASSED if ok else CheckStatus.FAILED,
                column=check.column,
                details=details,
                observed=observed,
                threshold=check.threshold,
            )
        )
    results.extend(extra_failures)

    balance = None
    if spec.problem is ProblemType.CLASSIFICATION and spec.target in frame.columns:
        shares = frame[spec.target].dropna().value_counts(normalize=True)
        balance = {str(k): float(v) for k, v in shares.items()}
    return ValidationReport(
        dataset=dataset,
        model_name=spec.name,
        problem=spec.problem,
        target=spec.target,
        rows=len(frame),
        columns=frame.shape[1],
        checks=tuple(results),
        class_balance=balance,
    )


def validate_dataset(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    config: ValidationConfig | None = None,
    dataset: str = "dataset",
) -> ValidationReport:
    """:func:`check_dataset`, raising :class:`DataValidationError` when any check failed."""
    report = check_dataset(frame, spec, config=config, dataset=dataset)
    report.raise_for_failures()
    return report


def write_report(report: ValidationReport, directory: Path) -> tuple[Path, Path]:
    """Write ``validation_report.json`` and ``validation_report.html``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "validation_report.json"
    html_path = directory / "validation_report.html"
    json_path.write_text(report.to_json(), encoding="utf-8")
    html_path.write_text(report.to_html(), encoding="utf-8")
    return json_path, html_path


# --- the checks: each returns (passed, details, measured value) ---------------------------------


def _min_rows(frame: pd.DataFrame, minimum: int) -> Outcome:
    rows = len(frame)
    return rows >= minimum, f"{rows} rows; at least {minimum} required", float(rows)


def _duplicates(frame: pd.DataFrame, maximum: float) -> Outcome:
    try:
        duplicated = frame.duplicated()
    except TypeError:
        # unhashable cells (lists, dicts); supported_dtype reports those columns
        return True, "not measured: some cells are unhashable", None
    count = int(duplicated.sum())
    ratio = count / len(frame) if len(frame) else 0.0
    return (
        ratio <= maximum,
        f"{count} exact duplicate rows ({ratio:.1%}); at most {maximum:.1%} allowed",
        ratio,
    )


def _supported_dtype(series: pd.Series) -> Outcome:
    kind = feature_kind(series)
    if kind is not None:
        return True, f"dtype {series.dtype} is {kind}", None
    if pd.api.types.is_object_dtype(series.dtype):
        types = sorted({type(v).__name__ for v in series.dropna()})
        return (
            False,
            (
                f"object column mixes value types ({', '.join(types)}); "
                "a categorical column must hold only strings, a numeric one only numbers"
            ),
            None,
        )
    return False, f"dtype {series.dtype} is neither numeric nor categorical (string/category)", None


def _expected_kind(series: pd.Series, expected: FeatureKind) -> Outcome:
    kind = feature_kind(series)
    return kind == expected, f"expected {expected}, got {kind or 'unsupported'} (dtype {series.dtype})", None


def _not_all_missing(series: pd.Series) -> Outcome:
    present = int(series.notna().sum())
    if present == 0:
        return False, "every value is missing; drop the column or fix the export", 0.0
    return True, f"{present} values present", float(present)


def _missing_ratio(series: pd.Series, maximum: float) -> Outcome:
    ratio = float(series.isna().mean()) if len(series) else 0.0
    return ratio <= maximum, f"{ratio:.1%} missing; at most {maximum:.1%} allowed", ratio


def _target_not_missing(series: pd.Series) -> Outcome:
    count = int(series.isna().sum())
    if count:
        return False, f"{count} rows have no target value; drop or label them", float(count)
    return True, "every row has a target value", 0.0


def _finite(series: pd.Series) -> Outcome:
    if feature_kind(series) != "numeric":
        return True, "not numeric", None
    values = series.dropna().to_numpy(dtype="float64", na_value=np.nan)
    count = int(np.isinf(values).sum())
    if count:
        return False, f"{count} infinite values; replace them or mark them missing", float(count)
    return True, "all present values are finite", 0.0


def _target_numeric(series: pd.Series) -> Outcome:
    if feature_kind(series) == "numeric":
        return True, f"dtype {series.dtype} is numeric", None
    return False, f"a regression target must be numeric, got dtype {series.dtype}", None


def _min_classes(series: pd.Series) -> Outcome:
    classes = series.dropna().unique()
    count = len(classes)
    if count < 2:
        shown = ""
        if count == 1:
            label = classes[0].item() if hasattr(classes[0], "item") else classes[0]
            shown = f" (only {label!r})"
        return False, f"{count} distinct class(es){shown}; classification needs at least 2", float(count)
    return True, f"{count} distinct classes", float(count)


def _class_balance(series: pd.Series, minimum: float) -> Outcome:
    shares = series.dropna().value_counts(normalize=True)
    if len(shares) < 2:
        return False, "fewer than 2 classes; see min_classes", None
    label, share = shares.index[-1], float(shares.iloc[-1])
    listing = ", ".join(f"{k!s} {v:.1%}" for k, v in shares.items())
    return (
        share >= minimum,
        f"minority class {label!s} is {share:.1%} of rows (at least {minimum:.1%} required); {listing}",
        share,
    )


def _list(columns: Any, limit: int = 20) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


__all__ = [
    "CheckResult",
    "CheckStatus",
    "ValidationConfig",
    "ValidationReport",
    "build_schema",
    "check_dataset",
    "validate_dataset",
    "write_report",
]
