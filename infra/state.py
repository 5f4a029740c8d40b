"""Where Terraform keeps a tenant's state: its own key in a shared S3 bucket, locked in DynamoDB."""

from __future__ import annotations

from dataclasses import dataclass

from infra.cdk import LocalBackend, S3Backend, TerraformStack


@dataclass(frozen=True, kw_only=True)
class StateBackendProps:
    tenant: str
    enabled: bool
    bucket: str
    key_prefix: str
    lock_table: str
    region: str

    @property
    def key(self) -> str:
        return f"{self.key_prefix.strip('/')}/{self.tenant}/terraform.tfstate"


def configure_state_backend(stack: TerraformStack, props: StateBackendProps) -> None:
    """An S3 backend with a separate state key per tenant, or local state when disabled."""
    if not props.enabled:
        LocalBackend(stack, path=f"terraform.{props.tenant}.tfstate")
        return
    S3Backend(
        stack,
        bucket=props.bucket,
        key=props.key,
        region=props.region,
        dynamodb_table=props.lock_table,
        encrypt=True,
    )
