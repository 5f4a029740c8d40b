"""The tenant image in the emulator: this checkout, "pushed" to a tenant's ECR repository as a manifest.

On AWS the image is built from the ``Dockerfile`` and pushed under the tag the spec pins; a
SageMaker job names ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`` and fails when
that tag was never pushed. The emulator has no Docker: it runs the image's entry point from this
checkout with its own Python (:mod:`tenantml.emulator.jobs`). What it keeps from ECR is the part a
job depends on: a tag exists only once pushed, and an immutable tag cannot be pushed again with
other content. :func:`push_local_image` puts a deterministic manifest for the tag whose config
digest is derived from the files the ``Dockerfile`` copies, so a code change gives a new digest
(and, under an immutable tag, a refused push).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import EmulatorError

#: the checkout the image is built from (the Dockerfile's build context)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: what the Dockerfile copies into the image (``COPY`` lines), relative to the build context
IMAGE_SOURCES = ("pyproject.toml", "README.md", "core", "tenantml", "infra", "stacks", "pipelines", "lambdas")
#: the image's ENTRYPOINT (see the Dockerfile); the emulator runs it with its own interpreter
ENTRYPOINT = ("python", "-m", "pipelines.container")
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}

#: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>|@<digest>]``
_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class ImageReference:
    """An ECR image URI taken apart."""

    uri: str
    account_id: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        """The ``imageIds`` entry ECR's BatchGetImage takes (a URI without tag means ``latest``, as Docker)."""
        if self.digest:
            return {"imageDigest": self.digest}
        return {"imageTag": self.tag or "latest"}


def parse_image_uri(uri: str) -> ImageReference | None:
    """The parts of an ECR image URI; None when ``uri`` is not one (e.g. a Docker Hub image)."""
    match = _IMAGE_URI.match(uri.strip())
    if not match:
        return None
    return ImageReference(
        uri=uri,
        account_id=match["account"],
        region=match["region"],
        repository=match["repository"],
        tag=match["tag"],
        digest=match["digest"],
    )


def _source_files(root: Path) -> Iterator[Path]:
    for name in IMAGE_SOURCES:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                parts = set(child.relative_to(root).parts)
                if child.is_file() and not _SKIPPED_PARTS & parts and child.suffix not in (".pyc", ".pyo"):
                    yield child


def source_digest(root: Path = PROJECT_ROOT) -> str:
    """``sha256:<hex>`` over the relative paths and bytes of what the Dockerfile copies from ``root``."""
    digest = hashlib.sha256()
    for path in sorted(_source_files(root), key=lambda p: p.relative_to(root).as_posix()):
        relative = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(data).to_bytes(8, "big") + data)
    return f"sha256:{digest.hexdigest()}"


def local_image_manifest(root: Path = PROJECT_ROOT) -> str:
    """A Docker image manifest (schema 2) standing for this checkout: same source, same bytes."""
    config_digest = source_digest(root)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": _CONFIG_MEDIA_TYPE, "size": 0, "digest": config_digest},
        # one layer with the same digest: the emulator's image is the source tree itself
        "layers": [{"mediaType": _LAYER_MEDIA_TYPE, "size": 0, "digest": config_digest}],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"))


def push_local_image(ecr_client: Any, repository_name: str, tag: str, *, root: Path = PROJECT_ROOT) -> str:
    """Put the manifest of this checkout into ``repository_name`` under ``tag``; returns the image digest.

    Pushing the same content again is a no-op, as ``docker push`` is. A repository with immutable
    tags that already holds ``tag`` with other content refuses, as ECR does (a botocore
    ``ClientError``: ECR's code is ``ImageTagAlreadyExistsException``, moto 5.2.5 answers
    ``ImageAlreadyExistsException``).
    """
    if not tag:
        raise EmulatorError(f"no image tag to push to ECR repository {repository_name!r}")
    manifest = local_image_manifest(root)
    existing = ecr_client.batch_get_image(repositoryName=repository_name, imageIds=[{"imageTag": tag}])
    for image in existing.get("images", []):
        if image.get("imageManifest") == manifest:
            return str(image["imageId"]["imageDigest"])
    response = ecr_client.put_image(
        repositoryName=repository_name,
        imageManifest=manifest,
        imageManifestMediaType=MANIFEST_MEDIA_TYPE,
        imageTag=tag,
    )
    return str(response["image"]["imageId"]["imageDigest"])


__all__ = [
    "ENTRYPOINT",
    "IMAGE_SOURCES",
    "PROJECT_ROOT",
    "ImageReference",
    "local_image_manifest",
    "parse_image_uri",
    "push_local_image",
    "source_digest",
]
