"""Where a served model comes from, and how it becomes a :class:`LoadedModel`.

Three sources, all ending in the same ``load_model(dir)``:

- :class:`RegistrySource`: a registry version by number or alias. The archive is downloaded
  from the version's ``ModelDataUrl`` and its sha256 checked against the lineage's
  ``artifact_sha256`` *before* anything is unpickled; a version without lineage is refused,
  since nothing vouches for its pickle.
- :class:`ArchiveSource`: a ``model.tar.gz`` already on disk with the sha256 it must have. The
  CLI downloads and verifies once, then every worker process re-checks and unpacks its own copy.
- :class:`DirectorySource`: an unpacked model directory (tests, ``tenantml serve --model-dir``).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import ModelArtifactError, ModelNotServableError, ModelRegistryError, TenantmlError
from pipelines.registry.artifacts import (
    MODEL_ARCHIVE_NAME,
    download_artifact,
    sha256_file,
    unpack_model_archive,
)
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import ModelRegistry, ModelVersion
from pipelines.serving.predictor import Predictor, ServingFormat, SklearnPredictor
from pipelines.serving.schema import InputSchema
from pipelines.training.train import ModelMetadata, load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """What the server needs: the predictor, the signature, and the version it reports."""

    predictor: Predictor
    metadata: ModelMetadata
    schema: InputSchema
    version: str
    serving_format: ServingFormat
    #: the verified archive digest (None for a bare directory)
    sha256: str | None
    load_seconds: float


class DirectorySource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["directory"] = "directory"
    path: Path
    version: str = "local"

    def describe(self) -> str:
        return f"model directory {self.path}"


class ArchiveSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["archive"] = "archive"
    path: Path
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    version: str

    def describe(self) -> str:
        return f"archive {self.path} (version {self.version})"


class RegistrySource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["registry"] = "registry"
    group: str
    version: int | None = None
    alias: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    #: the role the server reads the registry and the artifact as (STS AssumeRole with the ambient
    #: credentials, see ``pipelines.role_session``); None: the ambient credentials themselves
    role_arn: str | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> RegistrySource:
        if (self.version is None) == (self.alias is None):
            raise ValueError("give exactly one of version or alias")
        return self

    def describe(self) -> str:
        which = f"version {self.version}" if self.version is not None else f"alias {self.alias!r}"
        return f"{which} of model package group {self.group!r}"


ModelSource = DirectorySource | ArchiveSource | RegistrySource


def resolve_version(registry: Any, source: RegistrySource) -> ModelVersion:
    if source.version is not None:
        return registry.get_model_version(source.version)
    assert source.alias is not None
    return registry.get_version_by_alias(source.alias)


def wait_for_alias(
    source: RegistrySource,
    *,
    poll_seconds: float,
    max_poll_seconds: float,
    stop: threading.Event | None = None,
    on_wait: Callable[[str], None] | None = None,
    sagemaker: Any = None,
) -> RegistrySource:
    """``source`` pinned to the version its alias names, polling until the alias names one.

    Each miss (no version holds the alias yet, or the registry cannot be read: credentials not
    ready at boot, a throttle) is passed to ``on_wait`` and waited out, the delay doubling from
    ``poll_seconds`` up to ``max_poll_seconds``. ``stop`` ends the wait with
    :class:`ModelNotServableError` (the server is shutting down)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if source.alias is None:
        return source
    stop = stop or threading.Event()
    registry = source_registry(source, sagemaker=sagemaker)
    delay = poll_seconds
    while True:
        try:
            found = registry.get_version_by_alias(source.alias)
        except (ModelRegistryError, ClientError, BotoCoreError) as err:
            (on_wait or (lambda _message: None))(f"waiting for {source.describe()}: {err}")
            log.info("waiting %.1f s for %s: %s", delay, source.describe(), err)
            if stop.wait(delay):
                raise ModelNotServableError(f"stopped while waiting for {source.describe()}") from err
            delay = min(delay * 2, max_poll_seconds)
            continue
        log.info("%s names version %s", source.describe(), found.version)
        return source.model_copy(update={"version": found.version, "alias": None})


def source_registry(source: RegistrySource, *, sagemaker: Any = None) -> ModelRegistry:
    """The registry ``source`` reads (as its role, if it names one)."""
    return open_registry(sagemaker or _client("sagemaker", source), source.group)


def fetch_registry_archive(
    source: RegistrySource, destination: Path, *, sagemaker: Any = None, s3: Any = None
) -> ArchiveSource:
    """Resolve the version, download its archive and verify it against the lineage's sha256."""
    sagemaker = sagemaker or _client("sagemaker", source)
    s3 = s3 or _client("s3", source)
    registry = open_registry(sagemaker, source.group)
    try:
        version = resolve_version(registry, source)
    except ModelRegistryError as err:
        raise ModelNotServableError(f"cannot serve {source.describe()}: {err}") from err
    where = f"version {version.version} of model package group {source.group!r}"
    if version.lineage is None:
        raise ModelNotServableError(
            f"{where} has no tenantml lineage, so no checksum vouches for its artifact; "
            "register it through the tenantml pipeline"
        )
    url = version.model_data_url or version.lineage.artifact_uri
    archive = (
        Path(destination) / f"v{version.version}-{version.lineage.artifact_sha256[:12]}" / MODEL_ARCHIVE_NAME
    )
    try:
        download_artifact(s3, url, archive, expected_sha256=version.lineage.artifact_sha256)
    except ModelArtifactError as err:
        raise ModelNotServableError(
            f"{where}: the artifact {url} fails its checksum and will not be served "
            f"(lineage sha256 {version.lineage.artifact_sha256}); re-register the model: {err}"
        ) from err
    except Exception as err:  # botocore ClientError and transfer errors
        raise ModelNotServableError(f"{where}: cannot download {url}: {err}") from err
    return ArchiveSource(path=archive, sha256=version.lineage.artifact_sha256, version=str(version.version))


def load(
    source: ModelSource,
    *,
    serving_format: ServingFormat = "sklearn",
    work_dir: Path | None = None,
    sagemaker: Any = None,
    s3: Any = None,
) -> LoadedModel:
    """Load (verifying first) the model ``source`` names; raises :class:`ModelNotServableError`."""
    if work_dir is None:
        # nothing the loaded model keeps refers to the scratch files, so a directory we made is ours to remove
        with tempfile.TemporaryDirectory(prefix="tenantml-serving-") as scratch:
            return load(
                source, serving_format=serving_format, work_dir=Path(scratch), sagemaker=sagemaker, s3=s3
            )
    started = time.perf_counter()
    work_dir = Path(work_dir)
    sha256 = None
    if isinstance(source, RegistrySource):
        source = fetch_registry_archive(source, work_dir / "download", sagemaker=sagemaker, s3=s3)
    if isinstance(source, ArchiveSource):
        if not source.path.is_file():
            raise ModelNotServableError(f"{source.describe()}: the file does not exist")
        actual = sha256_file(source.path)
        if actual != source.sha256:
            raise ModelNotServableError(
                f"{source.describe()}: sha256 mismatch (expected {source.sha256}, got {actual}); "
                "the artifact was altered and will not be served"
            )
        sha256 = actual
        model_dir = unpack_model_archive(source.path, work_dir / "model")
    else:
        model_dir = source.path
    try:
        trained = load_model(model_dir)
        schema = InputSchema(trained.metadata.input_signature)
        predictor: Predictor
        if serving_format == "onnx":
            from pipelines.serving.onnx_export import load_onnx_predictor

            predictor = load_onnx_predictor(trained.pipeline, schema, model_dir)
        else:
            predictor = SklearnPredictor(trained.pipeline, schema)
    except TenantmlError as err:
        raise ModelNotServableError(f"{source.describe()}: {err}") from err
    except Exception as err:  # unpickling errors are arbitrary exceptions
        raise ModelNotServableError(f"{source.describe()}: the model does not load: {err!r}") from err
    seconds = time.perf_counter() - started
    log.info("loaded %s as %s (%s) in %.2fs", source.describe(), serving_format, predictor.mode, seconds)
    return LoadedModel(
        predictor=predictor,
        metadata=trained.metadata,
        schema=schema,
        version=source.version,
        serving_format=serving_format,
        sha256=sha256,
        load_seconds=seconds,
    )


def _client(service: str, source: RegistrySource) -> Any:
    import boto3

    if source.role_arn:
        from pipelines.role_session import role_session

        session = role_session(
            source.role_arn,
            region=source.region,
            endpoint_url=source.endpoint_url,
            session_name="tenantml-serving",
        )
        # a boto3 client (S3 downloads use boto3's transfer methods) over the role's botocore session
        return boto3.Session(botocore_session=session).client(
            service, region_name=source.region, endpoint_url=source.endpoint_url
        )

    return boto3.client(service, region_name=source.region, endpoint_url=source.endpoint_url)


__all__ = [
    "ArchiveSource",
    "DirectorySource",
    "LoadedModel",
    "ModelSource",
    "RegistrySource",
    "fetch_registry_archive",
    "load",
    "resolve_version",
    "source_registry",
    "wait_for_alias",
]
