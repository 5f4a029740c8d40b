"""The table of resource handlers: Terraform resource type -> :class:`Handler`.

Each module holds the handlers of one AWS family; adding a type is adding a row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tenantml.emulator.resources import (
    cloudwatch,
    compute,
    dynamodb,
    eks_access,
    events,
    glue,
    hardening,
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
    step_functions,
    topic_policies,
    vpc_endpoints,
)
from tenantml.emulator.resources.base import Handler, HandlerContext
from tenantml.emulator.resources.data_sources import DATA_SOURCES as _COMMON_DATA_SOURCES
from tenantml.emulator.resources.data_sources import DataSourceHandler
from tenantml.emulator.resources.reads import READERS

_MODULES = (
    s3,
    kms,
    iam,
    messaging,
    cloudwatch,
    network,
    vpc_endpoints,
    load_balancing,
    compute,
    lambda_,
    sagemaker_registry,
    sagemaker_serving,
    dynamodb,
    glue,
    kubernetes,
    hardening,
    eks_access,
    step_functions,
    events,
    topic_policies,
)


DATA_SOURCES: Mapping[str, DataSourceHandler] = {**_COMMON_DATA_SOURCES, **eks_access.DATA_SOURCES}

HANDLERS: Mapping[str, Handler] = {
    handler.type: dataclasses.replace(handler, read=handler.read or READERS.get(handler.type))
    for module in _MODULES
    for handler in module.HANDLERS
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
