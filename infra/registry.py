"""The model registry: one SageMaker model package group per tenant model."""

from __future__ import annotations

from dataclasses import dataclass

from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole


@dataclass(frozen=True, kw_only=True)
class ModelRegistryProps:
    naming: Naming
    model_name: str
    account_id: str
    partition: str


class ModelRegistry(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: ModelRegistryProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.group_name = props.naming.name(props.model_name, "model_package_group")
        self.group = Resource(
            self,
            PRIMARY_ID,
            "aws_sagemaker_model_package_group",
            {
                "model_package_group_name": self.group_name,
                "model_package_group_description": f"Versions of model {props.model_name} of tenant {props.naming.tenant}",
            },
        )

    @property
    def group_arn(self) -> str:
        return self.group.arn_ref

    def _package_arns(self) -> list[str]:
        # versions live at model-package/<group>/<n>, a different ARN from the group's
        p = self.props
        versions = (
            f"arn:{p.partition}:sagemaker:{p.naming.region}:{p.account_id}:model-package/{self.group_name}/*"
        )
        return [self.group_arn, versions]

    def grant_read(self, role: ServiceRole) -> None:
        role.grant("ReadRegistry", actions.SAGEMAKER_REGISTRY_READ, self._package_arns())

    def grant_write(self, role: ServiceRole) -> None:
        role.grant("WriteRegistry", actions.SAGEMAKER_REGISTRY_WRITE, self._package_arns())
