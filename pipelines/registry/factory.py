"""Where every caller gets a tenant's model registry: one factory, so the implementation is chosen once."""

from __future__ import annotations

from typing import Any

from pipelines.registry.interface import ModelRegistry
from pipelines.registry.sagemaker import SageMakerModelRegistry


def open_registry(sagemaker: Any, group_name: str) -> ModelRegistry:
    """The registry of one tenant model: its SageMaker model package group, read through ``sagemaker``.

    ``sagemaker`` is a boto3 SageMaker client (AWS or the emulator); nothing is called until used.
    """
    return SageMakerModelRegistry(sagemaker, group_name)
