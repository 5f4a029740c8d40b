"""``BootstrapStack``: what one account needs before any tenant stack can keep remote state.

Applied once per account (``tenantml bootstrap``): the state bucket
``tenantml-tfstate-<account>-<state region>`` and its KMS key, in the platform's one state
region. Its own state stays local (``terraform.bootstrap-<account>.tfstate``): the bucket it
would live in is what it creates. Every tenant stack in the account points its S3 backend at
this bucket, with S3-native locking and no DynamoDB table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.naming import Naming
from core.platform import PlatformSpec, state_bucket_name, state_key_alias
from core.stack_names import bootstrap_stack_name
from infra.cdk import Construct, LocalBackend, TerraformProvider, TerraformProviderGeneratorMetadata
from infra.core import TenantStack
from infra.state import StateStore, StateStoreProps, require_terraform
from stacks.tenant_platform import AWS_PROVIDER_SOURCE, AWS_PROVIDER_VERSION


class BootstrapProvider(TerraformProvider):
    """The AWS provider in the state region, allowed only in the account it bootstraps."""

    def __init__(self, scope: Construct, *, account_id: str, region: str) -> None:
        super().__init__(
            scope,
            "aws",
            terraform_resource_type="aws",
            terraform_provider_source=AWS_PROVIDER_SOURCE,
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                provider_name="aws", provider_version_constraint=AWS_PROVIDER_VERSION
            ),
        )
        self._attributes: dict[str, Any] = {
            "region": region,
            "allowed_account_ids": [account_id],
            "default_tags": [{"tags": {"tenantml:managed-by": "tenantml", "tenantml:component": "state"}}],
        }

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self._attributes


class BootstrapStack(TenantStack):
    def __init__(self, scope: Construct, account_id: str, platform: PlatformSpec) -> None:
        stack_name = bootstrap_stack_name(account_id)
        super().__init__(scope, stack_name)
        region = platform.state.region
        require_terraform(self)
        LocalBackend(self, path=f"terraform.{stack_name}.tfstate")
        BootstrapProvider(self, account_id=account_id, region=region)
        store = StateStore(
            self,
            "State",
            StateStoreProps(
                account_id=account_id,
                region=region,
                # the partition follows the region (GovCloud and China have their own)
                partition=Naming(tenant="state", environment="dev", region=region).partition,
                bucket_name=state_bucket_name(account_id, region),
                key_alias=state_key_alias(account_id),
            ),
        )
        self.bucket_name = store.props.bucket_name
        self.add_output("state_bucket_name", store.bucket.id_ref)
        self.add_output("state_bucket_arn", store.bucket_arn)
        self.add_output("state_key_arn", store.key_arn)
        self.add_output("state_region", region)
