"""The model registry over the SageMaker model registry (the implementation of :class:`ModelRegistry`).

One model package group per tenant model; one model package per version, carrying the serving
image and model archive (``InferenceSpecification``), the approval status, and the version's
:class:`Lineage` in ``CustomerMetadataProperties``.

SageMaker has no aliases, so ``champion``/``challenger`` live in the metadata of the version that
holds them (``tenantml:alias:<name>`` = a sequence number). Moving an alias marks the new holder
first, with a higher number, and then clears the old one: if the process dies in between, the
higher number still names the right version.

SageMaker limits metadata to 50 entries of at most 256 characters each, so the lineage is stored
as JSON split across ``tenantml:lineage:NN`` entries, plus a few readable summary entries.
Every update re-sends the full metadata, approval status and approval description: moto (the
emulator) replaces rather than merges them on ``UpdateModelPackage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from core.errors import ModelRegistryError, ModelVersionNotFoundError
from pipelines.registry.interface import (
    ApprovalStatus,
    ModelVersion,
    check_alias,
    check_alias_holder,
)
from pipelines.registry.lineage import Lineage

_PREFIX = "tenantml:"


_ALIAS_KEY = _PREFIX + "alias:"


_LINEAGE_KEY = _PREFIX + "lineage:"


_LINEAGE_CHUNKS_KEY = _PREFIX + "lineage-chunks"


_SUMMARY_KEYS = {
    "run_id": _PREFIX + "run-id",
    "code_revision": _PREFIX + "code-revision",
    "data_sha256": _PREFIX + "data-sha256",
    "artifact_sha256": _PREFIX + "artifact-sha256",
}


_MAX_ENTRIES = 50


_MAX_VALUE = 256


class SageMakerModelRegistry:
    """:class:`ModelRegistry` over one SageMaker model package group, through a boto3 client."""

    def __init__(
        self,
        sagemaker: Any,
        group_name: str,
        *,
        content_types: tuple[str, ...] = ("application/json", "text/csv"),
        response_types: tuple[str, ...] = ("application/json",),
    ) -> None:
        self._sm = sagemaker
        self.group_name = group_name
        self._content_types = list(content_types)
        self._response_types = list(response_types)

    def ensure_group(self, description: str = "", tags: Mapping[str, str] | None = None) -> str:
        """Create the model package group unless it exists (on AWS the stack creates it); return its ARN."""
        try:
            return self._sm.describe_model_package_group(ModelPackageGroupName=self.group_name)[
                "ModelPackageGroupArn"
            ]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ValidationException":
                raise
        kwargs: dict[str, Any] = {"ModelPackageGroupName": self.group_name}
        if description:
            kwargs["ModelPackageGroupDescription"] = description[:1024]
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return self._sm.create_model_package_group(**kwargs)["ModelPackageGroupArn"]

    def create_model_version(
        self,
        *,
        model_data_url: str,
        image_uri: str,
        lineage: Lineage,
        approval_status: ApprovalStatus = ApprovalStatus.PENDING,
        description: str = "",
    ) -> ModelVersion:
        kwargs: dict[str, Any] = {
            "ModelPackageGroupName": self.group_name,
            "InferenceSpecification": {
                "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": self._content_types,
                "SupportedResponseMIMETypes": self._response_types,
            },
            "ModelApprovalStatus": ApprovalStatus(approval_status).value,
            "CustomerMetadataProperties": encode_metadata(lineage),
        }
        if description:
            kwargs["ModelPackageDescription"] = description[:1024]
        try:
            arn = self._sm.create_model_package(**kwargs)["ModelPackageArn"]
        except ClientError as err:
            raise ModelRegistryError(
                f"cannot create a version in model package group {self.group_name!r}: "
                f"{err.response.get('Error', {}).get('Message', err)}; "
                "deploy the tenant stack (or call ensure_group() locally) first"
            ) from err
        return self._describe(arn)

    def get_model_version(self, version: int) -> ModelVersion:
        summaries = self._summaries()
        if version not in summaries:
            known = ", ".join(map(str, sorted(summaries))) or "none"
            raise ModelVersionNotFoundError(
                f"model package group {self.group_name!r} has no version {version} (versions: {known})"
            )
        return self._describe(summaries[version])

    def list_model_versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        return [self._describe(arn) for _, arn in sorted(self._summaries().items())]

    def update_approval_status(
        self, version: int, status: ApprovalStatus, *, reason: str = ""
    ) -> ModelVersion:
        current = self.get_model_version(version)
        return self._update(
            current,
            status=ApprovalStatus(status),
            approval_description=reason or current.approval_description,
            metadata=current.metadata,
        )

    def set_alias(self, alias: str, version: int) -> ModelVersion:
        """Point ``alias`` at ``version``, taking it from whichever version held it; raises
        :class:`ModelNotApprovedError` (nothing moved) for a champion that is not approved."""
        check_alias(alias)
        versions = self.list_model_versions()
        target = next((v for v in versions if v.version == version), None)
        if target is None:
            known = ", ".join(str(v.version) for v in versions) or "none"
            raise ModelVersionNotFoundError(
                f"model package group {self.group_name!r} has no version {version} (versions: {known}); "
                f"cannot set alias {alias!r}"
            )
        check_alias_holder(alias, target)
        key = _ALIAS_KEY + alias
        holders = [v for v in versions if key in v.metadata]
        if [v.version for v in holders] != [version]:
            sequence = max((_sequence(v.metadata[key]) for v in holders), default=0) + 1
            target = self._update(
                target,
                status=target.approval_status,
                approval_description=target.approval_description,
                metadata={**target.metadata, key: str(sequence)},
            )
            for old in holders:
                if old.version != version:
                    self._update(
                        old,
                        status=old.approval_status,
                        approval_description=old.approval_description,
                        metadata={k: v for k, v in old.metadata.items() if k != key},
                        remove=(key,),
                    )
        return target

    def get_version_by_alias(self, alias: str) -> ModelVersion:
        check_alias(alias)
        key = _ALIAS_KEY + alias
        holders = [v for v in self.list_model_versions() if key in v.metadata]
        if not holders:
            raise ModelVersionNotFoundError(
                f"no version in model package group {self.group_name!r} holds alias {alias!r}; "
                f"set it with set_alias({alias!r}, <version>)"
            )
        # after an interrupted move two versions hold the alias; the later assignment wins
        return max(holders, key=lambda v: (_sequence(v.metadata[key]), v.version))

    def _summaries(self) -> dict[int, str]:
        paginator = self._sm.get_paginator("list_model_packages")
        result: dict[int, str] = {}
        for page in paginator.paginate(ModelPackageGroupName=self.group_name, ModelPackageType="Versioned"):
            for summary in page.get("ModelPackageSummaryList", []):
                if "ModelPackageVersion" in summary:
                    result[int(summary["ModelPackageVersion"])] = summary["ModelPackageArn"]
        return result

    def _describe(self, arn: str) -> ModelVersion:
        package = self._sm.describe_model_package(ModelPackageName=arn)
        metadata = dict(package.get("CustomerMetadataProperties") or {})
        containers = package.get("InferenceSpecification", {}).get("Containers") or [{}]
        return ModelVersion(
            group=package.get("ModelPackageGroupName", self.group_name),
            version=int(package["ModelPackageVersion"]),
            arn=package["ModelPackageArn"],
            approval_status=ApprovalStatus(package.get("ModelApprovalStatus", ApprovalStatus.PENDING)),
            approval_description=package.get("ApprovalDescription"),
            description=package.get("ModelPackageDescription"),
            created_at=package["CreationTime"],
            image_uri=containers[0].get("Image"),
            model_data_url=containers[0].get("ModelDataUrl"),
            lineage=decode_lineage(metadata, where=arn),
            aliases=tuple(sorted(k.removeprefix(_ALIAS_KEY) for k in metadata if k.startswith(_ALIAS_KEY))),
            metadata=metadata,
        )

    def _update(
        self,
        version: ModelVersion,
        *,
        status: ApprovalStatus,
        approval_description: str | None,
        metadata: dict[str, str],
        remove: tuple[str, ...] = (),
    ) -> ModelVersion:
        kwargs: dict[str, Any] = {
            "ModelPackageArn": version.arn,
            "ModelApprovalStatus": status.value,
            "CustomerMetadataProperties": metadata,
        }
        if approval_description:
            kwargs["ApprovalDescription"] = approval_description[:1024]
        if remove:
            # real SageMaker merges metadata, so a key must be removed explicitly
            kwargs["CustomerMetadataPropertiesToRemove"] = list(remove)
        self._sm.update_model_package(**kwargs)
        return self._describe(version.arn)


def encode_metadata(lineage: Lineage, aliases: Mapping[str, int] | None = None) -> dict[str, str]:
    """``CustomerMetadataProperties`` for a version: lineage chunks, summary entries, aliases."""
    text = lineage.model_dump_json()
    chunks = [text[i : i + _MAX_VALUE] for i in range(0, len(text), _MAX_VALUE)]
    metadata = {_LINEAGE_CHUNKS_KEY: str(len(chunks))}
    metadata.update({f"{_LINEAGE_KEY}{i:02d}": chunk for i, chunk in enumerate(chunks)})
    for field, key in _SUMMARY_KEYS.items():
        value = str(getattr(lineage, field))
        if value:
            metadata[key] = value[:_MAX_VALUE]
    for alias, sequence in (aliases or {}).items():
        metadata[_ALIAS_KEY + alias] = str(sequence)
    # leave room for aliases added later
    if len(metadata) > _MAX_ENTRIES - 5:
        raise ModelRegistryError(
            f"lineage of run {lineage.run_id} needs {len(metadata)} metadata entries; SageMaker allows "
            f"{_MAX_ENTRIES}: record fewer parameters or metrics"
        )
    return metadata


def decode_lineage(metadata: Mapping[str, str], *, where: str = "model package") -> Lineage | None:
    """The lineage stored by :func:`encode_metadata`, or ``None`` when the version has none."""
    if _LINEAGE_CHUNKS_KEY not in metadata:
        return None
    count = int(metadata[_LINEAGE_CHUNKS_KEY])
    try:
        text = "".join(metadata[f"{_LINEAGE_KEY}{i:02d}"] for i in range(count))
        return Lineage.model_validate_json(text)
    except (KeyError, ValidationError) as err:
        raise ModelRegistryError(f"{where}: lineage metadata is incomplete or corrupt ({err})") from err


def _sequence(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
