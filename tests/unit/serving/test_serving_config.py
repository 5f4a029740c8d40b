"""The server's inference-log settings as a user writes them in the server config."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.errors import ServingConfigError
from pipelines.data.features import FeatureSignature
from pipelines.serving.app import default_logger_factory
from pipelines.serving.config import CONFIG_ENV, InferenceLogConfig, ServerConfig
from pipelines.serving.loader import DirectorySource
from pipelines.serving.schema import InputSchema

MODEL = SimpleNamespace(
    schema=InputSchema([FeatureSignature(name="x", dtype="float64", kind="numeric")]),
    predictor=SimpleNamespace(probability_classes=None),
)


def _config(**log) -> ServerConfig:
    return ServerConfig(
        source=DirectorySource(path="/models/churn", version="3"),
        inference_log=InferenceLogConfig(stream_name="churn-inference", **log),
    )


@pytest.mark.parametrize(("aggregate_bytes", "expected"), [(None, 128 * 1024), (0, 0), (50_000, 50_000)])
def test_the_logger_aggregates_as_configured(aggregate_bytes, expected):
    config = _config() if aggregate_bytes is None else _config(aggregate_bytes=aggregate_bytes)
    # the config travels to workers as JSON
    config = ServerConfig.from_env(config.to_env())
    logger = default_logger_factory(config, MODEL)
    assert logger.settings.aggregate_bytes == expected
    assert logger.settings.stream_name == "churn-inference"


@pytest.mark.parametrize("aggregate_bytes", [-1, 2 * 1024 * 1024])
def test_an_aggregate_size_outside_0_to_1_mib_is_refused_naming_the_field(aggregate_bytes):
    text = (
        _config()
        .model_dump_json()
        .replace('"aggregate_bytes":131072', f'"aggregate_bytes":{aggregate_bytes}')
    )
    with pytest.raises(ServingConfigError, match="aggregate_bytes"):
        ServerConfig.from_env({CONFIG_ENV: text})
