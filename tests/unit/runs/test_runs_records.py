"""Run records, run settings and the environment parsing of the data-arrival entry point."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core.errors import PipelineRunError, TenantResourcesError
from core.spec import ModelSpec
from pipelines.evaluation.gate import decide_promotion
from pipelines.runs.config import PipelineConfig, model_spec_from_env, pipeline_config_from_env
from pipelines.runs.records import STEPS, RunRecord, RunStatus, StepName, StepRecord, new_run_id
from tenantml.up_file import is_emulator

SPEC = ModelSpec(
    name="churn",
    problem="classification",
    target="target",
    primary_metric="roc_auc",
    minimum_metric=0.9,
    estimator="logistic_regression",
    search_trials=20,
    search_timeout_seconds=120,
)


def _record(**overrides) -> RunRecord:
    values = {
        "run_id": "r-1",
        "tenant": "churn",
        "model_name": "churn",
        "record_uri": "s3://a/runs/r-1/run.json",
        "executor": "local",
        "code_revision": "abc",
        "started_at": datetime(2025, 6, 2, tzinfo=UTC),
        "steps": [StepRecord(name=name) for name in STEPS],
        "data_uri": "s3://d/incoming/x.parquet",
    }
    return RunRecord(**{**values, **overrides})


def test_a_record_with_a_gate_decision_round_trips_through_json():
    record = _record(gate=decide_promotion({"roc_auc": 0.95}, None, SPEC), status=RunStatus.SUCCEEDED)
    text = record.model_dump_json()
    assert '"status":"approved"' in text.replace(" ", "")
    assert RunRecord.model_validate_json(text) == record


def test_raise_for_status_names_run_step_and_reason():
    failed = _record(status=RunStatus.FAILED, failed_step=StepName.VALIDATE, error="bad target")
    with pytest.raises(PipelineRunError) as raised:
        failed.raise_for_status()
    assert (raised.value.run_id, raised.value.step, raised.value.reason) == ("r-1", "validate", "bad target")
    assert str(raised.value).startswith(
        "run r-1 of model 'churn' (tenant churn) failed in step validate: bad target"
    )
    assert _record(status=RunStatus.SUCCEEDED).raise_for_status().succeeded


def test_the_report_uri_prefers_the_evaluation_report():
    record = _record(artifacts={"validation_report_html": "s3://a/v.html"})
    assert record.report_uri == "s3://a/v.html"
    record.artifacts["evaluation_report"] = "s3://a/e.html"
    assert record.report_uri == "s3://a/e.html"


def test_run_ids_sort_by_time_and_are_unique():
    early = new_run_id(datetime(2025, 1, 1, 12, 0, tzinfo=UTC))
    late = new_run_id(datetime(2025, 1, 1, 12, 1, tzinfo=UTC))
    assert re.fullmatch(r"20250101T120000Z-[0-9a-f]{12}", early)
    assert early < late
    assert len({new_run_id() for _ in range(100)}) == 100


def test_the_pipeline_config_overrides_the_spec_budget_only_when_asked():
    default = PipelineConfig().training_config(SPEC)
    assert (default.n_trials, default.timeout_seconds, default.cv_folds) == (20, 120, 5)
    small = PipelineConfig(n_trials=3, timeout_seconds=30, cv_folds=3, max_bytes=1000).training_config(SPEC)
    assert (small.n_trials, small.timeout_seconds, small.cv_folds, small.max_bytes) == (3, 30, 3, 1000)
    assert small.estimator == "logistic_regression" and small.target == "target"


def test_the_model_spec_comes_from_the_stack_variable():
    assert model_spec_from_env({"TENANTML_MODEL_SPEC": SPEC.model_dump_json()}) == SPEC
    with pytest.raises(TenantResourcesError, match="TENANTML_MODEL_SPEC: is missing"):
        model_spec_from_env({})
    with pytest.raises(TenantResourcesError) as raised:
        model_spec_from_env({"TENANTML_MODEL_SPEC": '{"problem": "classification", "target": "y"}'})
    assert "TENANTML_MODEL_SPEC is not a valid model spec" in str(raised.value)
    assert "TENANTML_MODEL_SPEC: primary_metric" in str(raised.value)


def test_pipeline_settings_from_optional_variables():
    assert pipeline_config_from_env({}) == PipelineConfig()
    config = pipeline_config_from_env({"TENANTML_MAX_BYTES": "2048", "TENANTML_SERVING_IMAGE_URI": "img:1"})
    assert (config.max_bytes, config.serving_image_uri) == (2048, "img:1")


def test_pipeline_settings_as_json_are_validated_field_by_field():
    config = pipeline_config_from_env(
        {"TENANTML_PIPELINE_CONFIG": '{"cv_folds": 3, "holdout_fraction": 0.3}'}
    )
    assert (config.cv_folds, config.holdout_fraction) == (3, 0.3)
    with pytest.raises(TenantResourcesError) as raised:
        pipeline_config_from_env({"TENANTML_PIPELINE_CONFIG": '{"cv_folds": 1, "holdout": 0.3}'})
    assert raised.value.headline == "invalid pipeline settings"
    assert [p.location for p in raised.value.problems] == ["environment: cv_folds", "environment: holdout"]
    with pytest.raises(TenantResourcesError, match="TENANTML_PIPELINE_CONFIG: not valid JSON"):
        pipeline_config_from_env({"TENANTML_PIPELINE_CONFIG": "cv_folds=3"})


@pytest.mark.parametrize(
    ("endpoint", "emulated"),
    [
        ("http://127.0.0.1:4599", True),
        ("http://localhost:4599", True),
        ("https://s3.eu-west-1.amazonaws.com", False),
        (None, False),
    ],
)
def test_a_loopback_endpoint_is_the_emulator(endpoint, emulated):
    assert is_emulator(endpoint) is emulated
