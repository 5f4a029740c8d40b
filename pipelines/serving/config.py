"""The server's configuration: one validated object, passed to worker processes as JSON in
``TENANTML_SERVING_CONFIG`` (uvicorn starts each worker from an import string)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ServingConfigError
from core.feature_spec import FeatureViewSpec
from pipelines.serving.loader import ArchiveSource, DirectorySource, RegistrySource

CONFIG_ENV = "TENANTML_SERVING_CONFIG"
DEFAULT_PORT = 8080
#: SageMaker's real-time invocation payload limit
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024


class InferenceLogConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_name: str = Field(min_length=1, max_length=128)
    region: str | None = None
    endpoint_url: str | None = None
    #: the role the log writes as (assumed through STS, renewed before expiry); None: ambient credentials
    role_arn: str | None = None
    max_buffer_records: int = Field(default=100_000, ge=1)
    flush_interval: float = Field(default=0.25, gt=0, le=60)
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_base: float = Field(default=0.05, gt=0)
    #: PutRecords' wire format: CBOR (what the AWS SDKs for Java and the KPL send; record data
    #: travels as raw bytes) or JSON (data as base64, for an endpoint that speaks no CBOR)
    protocol: Literal["cbor", "json"] = "cbor"
    #: requests aggregated into Kinesis records of about this many bytes (format 5, as the KPL
    #: aggregates); 0 writes a record per request (format 4)
    aggregate_bytes: int = Field(default=128 * 1024, ge=0, le=1024 * 1024)


class FeatureLookupConfig(BaseModel):
    """Where a model with feature views finds the features a request leaves out: the tenant's
    online table (stack output ``features_table_name``, ``TENANTML_FEATURES_TABLE``) and the views
    of its spec that ``model.feature_views`` names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table_name: str = Field(min_length=3, max_length=255)
    views: list[FeatureViewSpec] = Field(min_length=1)
    region: str | None = None
    endpoint_url: str | None = None
    #: the role the lookups read as (assumed through STS); None: ambient credentials
    role_arn: str | None = None
    #: entities kept per worker process (0: no cache); each entry lives ``cache_ttl_seconds`` at most
    cache_size: int = Field(default=10_000, ge=0, le=10_000_000)
    cache_ttl_seconds: float = Field(default=30.0, ge=0, le=24 * 3600)
    #: BatchGetItem rounds for unprocessed keys before the request is answered 503
    max_attempts: int = Field(default=4, ge=1, le=20)


class ServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Annotated[DirectorySource | ArchiveSource | RegistrySource, Field(discriminator="kind")]
    serving_format: Literal["sklearn", "onnx"] = "sklearn"
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    inference_log: InferenceLogConfig | None = None
    #: predictions expected to take longer than this run in a thread, off the event loop
    offload_ms: float = Field(default=5.0, ge=0)
    #: how long lifespan shutdown waits for the inference log to drain
    shutdown_flush_seconds: float = Field(default=20.0, gt=0)
    #: where workers unpack archives (a temporary directory when None)
    work_dir: str | None = None
    #: a registry alias that names no version yet is polled (every this many seconds, doubling on
    #: each miss up to ``alias_max_poll_seconds``) with /ping at 503 meanwhile, instead of failing:
    #: a new tenant's instances boot before its first champion exists; None: fail at once
    alias_poll_seconds: float | None = Field(default=None, gt=0, le=3600)
    alias_max_poll_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: the model's feature views: a request may then carry only their entity keys
    features: FeatureLookupConfig | None = None

    def to_env(self) -> dict[str, str]:
        return {CONFIG_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerConfig:
        env = dict(os.environ) if env is None else env
        text = env.get(CONFIG_ENV)
        if not text:
            raise ServingConfigError(
                f"{CONFIG_ENV} is not set; start the server with `tenantml serve` or set it to a "
                "ServerConfig JSON document"
            )
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            raise ServingConfigError(f"{CONFIG_ENV} is not a valid server config: {err}") from err


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "FeatureLookupConfig",
    "InferenceLogConfig",
    "ServerConfig",
]
