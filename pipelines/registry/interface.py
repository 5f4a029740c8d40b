"""The model registry as the pipelines see it: versions, approval, aliases, and the rules they keep.

:class:`ModelRegistry` is the interface; :func:`pipelines.registry.factory.open_registry` gives the
tenant's implementation (the SageMaker model registry, :mod:`pipelines.registry.sagemaker`). Rules
that hold whatever the implementation, such as "only an approved version can be champion"
(:func:`check_alias_holder`), live here so every caller gets them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from core.errors import ModelNotApprovedError
from pipelines.registry.lineage import Lineage

CHAMPION = "champion"


CHALLENGER = "challenger"


ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class ApprovalStatus(StrEnum):
    """SageMaker's ``ModelApprovalStatus`` values."""

    APPROVED = "Approved"
    REJECTED = "Rejected"
    PENDING = "PendingManualApproval"


class ModelVersion(BaseModel):
    """One registered version of a tenant's model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    version: int
    arn: str
    approval_status: ApprovalStatus
    approval_description: str | None = None
    description: str | None = None
    created_at: datetime
    image_uri: str | None = None
    model_data_url: str | None = None
    #: ``None`` for versions registered by other tools
    lineage: Lineage | None = None
    aliases: tuple[str, ...] = ()
    #: the raw ``CustomerMetadataProperties``
    metadata: dict[str, str] = {}


@runtime_checkable
class ModelRegistry(Protocol):
    """What the pipelines need from a model registry (MLflow-style verbs)."""

    def ensure_group(self, description: str = "", tags: Mapping[str, str] | None = None) -> str:
        """Create the registry's model (package group) unless it exists; its ARN."""
        ...

    def create_model_version(
        self,
        *,
        model_data_url: str,
        image_uri: str,
        lineage: Lineage,
        approval_status: ApprovalStatus = ApprovalStatus.PENDING,
        description: str = "",
    ) -> ModelVersion: ...

    def get_model_version(self, version: int) -> ModelVersion: ...

    def list_model_versions(self) -> list[ModelVersion]: ...

    def set_alias(self, alias: str, version: int) -> ModelVersion:
        """Point ``alias`` at ``version``; :func:`check_alias_holder` decides who may hold it."""
        ...

    def get_version_by_alias(self, alias: str) -> ModelVersion: ...

    def update_approval_status(
        self, version: int, status: ApprovalStatus, *, reason: str = ""
    ) -> ModelVersion: ...


def check_alias_holder(alias: str, version: ModelVersion) -> None:
    """Raise :class:`ModelNotApprovedError` unless ``version`` may hold ``alias``: only an
    approved version can be champion, since serving takes the champion. Every registry
    enforces this in ``set_alias``; callers may check early (before a long bake) with it too."""
    if alias == CHAMPION and version.approval_status is not ApprovalStatus.APPROVED:
        raise ModelNotApprovedError(
            f"version {version.version} of model package group {version.group!r} is "
            f"{version.approval_status.value}; only an approved version can become {CHAMPION}: approve it "
            f"first (`tenantml models approve --version {version.version}`, or update_approval_status)"
        )


def check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias):
        raise ValueError(
            f"invalid alias {alias!r}: lowercase letters, digits and '-', starting with a letter"
        )
