"""The server's configuration: one validated object, passed to worker processes as JSON in
``TENANTML_SERVING_CONFIG`` (uvicorn starts each worker from an import string)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ServingConfigError
from core.feature_spec import FeatureViewSpec
from pipelines.registry.interface import CHAMPION
from pipelines.serving.loader import ArchiveSource, DirectorySource, RegistrySource
from pipelines.serving.rollout_policy import RolloutPolicy, Strategy

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


class FollowConfig(BaseModel):
    """Follow the registry's ``champion`` alias instead of loading it once (EKS pods, EC2 instances).

    The server is then a :class:`~pipelines.serving.follow.ChampionFollower`: its router listens on
    the server's host and port, each version's model server on loopback; when the alias moves, the
    new version bakes behind the router under these guardrails and serves once the bake passes, or
    is rolled back while the old one keeps serving. Until the alias names a version ``/ping`` answers
    503 and the alias is polled (``poll_seconds``, doubling up to ``max_backoff_seconds`` while it
    names none or cannot be read).

    A follower is one process (the router, the model servers and the watch share it): the server
    refuses ``--workers`` above 1 in follow mode; scale with pods or instances instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    poll_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=300.0, gt=0, le=3600)
    #: how long a new version may take to download, verify and load before it is rolled back
    load_timeout_seconds: float = Field(default=300.0, gt=0, le=3600)
    strategy: Strategy = "canary"
    canary_weight: float = Field(default=0.1, gt=0, lt=1)
    bake_seconds: float = Field(default=600.0, gt=0, le=24 * 3600)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p99_ms: float = Field(default=500.0, gt=0)
    min_requests: int = Field(default=50, ge=1)
    check_interval_seconds: float = Field(default=1.0, gt=0, le=600)

    def policy(self) -> RolloutPolicy:
        return RolloutPolicy(
            bake_seconds=self.bake_seconds,
            max_error_rate=self.max_error_rate,
            max_p99_ms=self.max_p99_ms,
            min_requests=self.min_requests,
            check_interval_seconds=self.check_interval_seconds,
        )


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
    #: follow the ``champion`` alias as it moves (see :class:`FollowConfig`); None: load it once
    follow: FollowConfig | None = None

    @model_validator(mode="after")
    def _follow_needs_the_champion_alias(self) -> ServerConfig:
        if self.follow is None:
            return self
        source = self.source
        if not isinstance(source, RegistrySource) or source.alias != CHAMPION:
            raise ValueError(
                f"follow: follows the registry's {CHAMPION!r} alias, so source must be a registry "
                f"source with alias {CHAMPION!r} (got {source.describe()}); remove follow to serve "
                "this source once"
            )
        if self.alias_poll_seconds is not None:
            raise ValueError(
                "follow: a follower waits for the champion itself (follow.poll_seconds); remove "
                "alias_poll_seconds"
            )
        return self

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
    "FollowConfig",
    "InferenceLogConfig",
    "ServerConfig",
]
