"""The table of resource handlers: Terraform resource type -> :class:`Handler`.

Each module holds the handlers of one AWS family; adding a type is adding a row.
"""

from __future__ import annotations

from collections.abc import Mapping

from tenantml.emulator.resources import (
    cloudwatch,
    compute,
    dynamodb,
    iam,
    kms,
    kubernetes,
    lambda_,
    load_balancing,
    messaging,
    network,
    s3,
    sagemaker_registry,
    sagemaker_serving,
)
from tenantml.emulator.resources.base import Handler, HandlerContext
from tenantml.emulator.resources.data_sources import DATA_SOURCES, DataSourceHandler

_MODULES = (
    s3,
    kms,
    iam,
    messaging,
    cloudwatch,
    network,
    load_balancing,
    compute,
    lambda_,
    sagemaker_registry,
    sagemaker_serving,
    dynamodb,
    kubernetes,
)

HANDLERS: Mapping[str, Handler] = {
    handler.type: handler for module in _MODULES for handler in module.HANDLERS
}


def supported_types() -> list[str]:
    return sorted(HANDLERS)


def exports_of(resource_type: str) -> frozenset[str] | None:
    handler = HANDLERS.get(resource_type)
    return handler.exports if handler else None


__all__ = [
    "DATA_SOURCES",
    "HANDLERS",
    "DataSourceHandler",
    "Handler",
    "HandlerContext",
    "exports_of",
    "supported_types",
]
