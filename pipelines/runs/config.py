"""What a pipeline run is configured with, and how it is read from a Lambda's environment or a file.

:class:`PipelineConfig` is one validated object; the data-arrival and alarm Lambdas read it (and the
tenant's model spec) from their environment variables, ``tenantml train`` from ``--config``. A bad
value raises an error that names the variable or file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import (
    Problem,
    TenantResourcesError,
)
from core.spec import ModelSpec
from pipelines.data.datasets import DEFAULT_MAX_BYTES
from pipelines.data.validation import ValidationConfig
from pipelines.training.train import TrainingConfig

#: the serving image a version names when neither the config nor the stack outputs give one
DEFAULT_SERVING_IMAGE = "tenantml/serving:latest"


class PipelineConfig(BaseModel):
    """Knobs of a run that are not part of the tenant's model spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: largest dataset file a run reads (checked with HeadObject before downloading)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    cv_folds: int = Field(default=5, ge=2, le=20)
    #: override the spec's search budget (tests, demos, benchmarks)
    n_trials: int | None = Field(default=None, ge=1, le=1000)
    timeout_seconds: float | None = Field(default=None, gt=0)
    validation: ValidationConfig = ValidationConfig()
    importance_repeats: int = Field(default=5, ge=1)
    importance_rows: int = Field(default=500, ge=10)
    serving_image_uri: str | None = None
    #: ``None``: the git revision of this checkout (or ``TENANTML_CODE_REVISION``)
    code_revision: str | None = None
    publish_alerts: bool = True

    def training_config(self, spec: ModelSpec) -> TrainingConfig:
        overrides: dict[str, Any] = {
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "max_bytes": self.max_bytes,
        }
        if self.n_trials is not None:
            overrides["n_trials"] = self.n_trials
        if self.timeout_seconds is not None:
            overrides["timeout_seconds"] = self.timeout_seconds
        return TrainingConfig.from_spec(spec, **overrides)

    def artifact_settings(self, spec: ModelSpec) -> dict[str, str]:
        """What besides the data decides the registered artifact's bytes: the training job's
        hyperparameters and the holdout split (recorded in the lineage for reproduction)."""
        return {
            **self.training_config(spec).to_hyperparameters(),
            "holdout_fraction": str(self.holdout_fraction),
        }


def model_spec_from_env(environ: Mapping[str, str]) -> ModelSpec:
    """The tenant's model spec from ``TENANTML_MODEL_SPEC`` (JSON, set by the stack)."""
    text = environ.get("TENANTML_MODEL_SPEC")
    if not text:
        raise TenantResourcesError(
            [
                Problem(
                    "environment: TENANTML_MODEL_SPEC",
                    "is missing; the tenant stack sets it to the model spec",
                )
            ]
        )
    try:
        return ModelSpec.model_validate_json(text)
    except ValidationError as err:
        raise TenantResourcesError(
            [
                Problem(
                    f"environment: TENANTML_MODEL_SPEC: {'.'.join(map(str, e['loc'])) or '(top level)'}",
                    e["msg"],
                )
                for e in err.errors(include_url=False)
            ],
            headline="TENANTML_MODEL_SPEC is not a valid model spec",
        ) from err


def pipeline_config_from_env(environ: Mapping[str, str]) -> PipelineConfig:
    """Run settings from optional variables: ``TENANTML_PIPELINE_CONFIG`` (JSON of
    :class:`PipelineConfig` fields), then ``TENANTML_MAX_BYTES`` and ``TENANTML_SERVING_IMAGE_URI``."""
    values: dict[str, Any] = {}
    if environ.get("TENANTML_PIPELINE_CONFIG"):
        values.update(
            _json_object(environ["TENANTML_PIPELINE_CONFIG"], "environment: TENANTML_PIPELINE_CONFIG")
        )
    if environ.get("TENANTML_MAX_BYTES"):
        values["max_bytes"] = environ["TENANTML_MAX_BYTES"]
    if environ.get("TENANTML_SERVING_IMAGE_URI"):
        values["serving_image_uri"] = environ["TENANTML_SERVING_IMAGE_URI"]
    return parse_pipeline_config(values, source="environment")


def parse_pipeline_config(values: Mapping[str, Any], *, source: str) -> PipelineConfig:
    """A :class:`PipelineConfig` from a mapping; raise :class:`TenantResourcesError` naming every bad field."""
    try:
        return PipelineConfig.model_validate(dict(values))
    except ValidationError as err:
        raise TenantResourcesError(
            [
                Problem(
                    f"{source}: {'.'.join(map(str, e['loc'])) or '(top level)'}", e["msg"], e.get("input")
                )
                for e in err.errors(include_url=False)
            ],
            headline="invalid pipeline settings",
        ) from err


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TenantResourcesError([Problem(source, f"not valid JSON: {err}")]) from err
    if not isinstance(value, dict):
        raise TenantResourcesError([Problem(source, "must be a JSON object", type(value).__name__)])
    return value
