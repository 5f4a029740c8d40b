"""One KMS key per tenant: rotated, aliased, and usable by the services that encrypt for it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole


@dataclass(frozen=True, kw_only=True)
class TenantKeyProps:
    naming: Naming
    account_id: str
    partition: str
    deletion_window_days: int = 30
    rotation_period_days: int = 365
    #: the tenant's Auto Scaling service-linked role (EC2 tenants only): it launches instances
    #: whose volumes this key encrypts. A reference to the role's ``arn``, so Terraform creates
    #: the role before the key policy names it; None leaves Auto Scaling out of the policy.
    auto_scaling_role_arn: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 7 <= self.deletion_window_days <= 30:
            problems.append(
                Problem("deletion_window_days", "must be between 7 and 30", self.deletion_window_days)
            )
        if not 90 <= self.rotation_period_days <= 2560:
            problems.append(
                Problem("rotation_period_days", "must be between 90 and 2560", self.rotation_period_days)
            )
        if problems:
            raise ConstructPropsError(problems)


def _key_policy(props: TenantKeyProps) -> str:
    region = props.naming.region
    root = f"arn:{props.partition}:iam::{props.account_id}:root"
    statements = [
        # The account root keeps full control, as in AWS's default key policy; without it a
        # key can become unmanageable. IAM policies (capped by the boundary) do the rest.
        {
            "Sid": "AccountAdmin",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsToEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            # only on behalf of this account's alarms (no confused deputy)
            "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
        },
        {
            # the alerts topic is encrypted with this key: EventBridge rules publishing to it
            # (failed monitoring jobs, infra.job_alerts) need it as CloudWatch alarms do
            "Sid": "EventBridgeToEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": sorted(actions.KMS_ENCRYPT_DECRYPT),
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{props.partition}:logs:{region}:{props.account_id}:*"
                }
            },
        },
    ]
    if props.auto_scaling_role_arn is not None:
        # EC2 Auto Scaling launches instances with volumes encrypted by this key through its
        # service-linked role, which needs the key policy itself to allow it (AWS documents both)
        statements += [
            {
                "Sid": "AutoScalingVolumes",
                "Effect": "Allow",
                "Principal": {"AWS": props.auto_scaling_role_arn},
                "Action": sorted(actions.KMS_FOR_EBS),
                "Resource": "*",
            },
            {
                "Sid": "AutoScalingGrants",
                "Effect": "Allow",
                "Principal": {"AWS": props.auto_scaling_role_arn},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )


class TenantKey(TenantConstruct):
    """The tenant's customer-managed key; every bucket, stream, topic, queue and log group uses it."""

    def __init__(self, scope: Scope, construct_id: str, props: TenantKeyProps) -> None:
        super().__init__(scope, construct_id)
        self.key = Resource(
            self,
            PRIMARY_ID,
            "aws_kms_key",
            {
                "description": f"tenantml data key for tenant {props.naming.tenant} ({props.naming.environment})",
                "enable_key_rotation": True,
                "rotation_period_in_days": props.rotation_period_days,
                "deletion_window_in_days": props.deletion_window_days,
                "key_usage": "ENCRYPT_DECRYPT",
                "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                "policy": _key_policy(props),
            },
        )
        self.alias_name = f"alias/{props.naming.prefix}"
        Resource(
            self, "Alias", "aws_kms_alias", {"name": self.alias_name, "target_key_id": self.key.ref("key_id")}
        )

    @property
    def key_arn(self) -> str:
        return self.key.arn_ref

    @property
    def key_id(self) -> str:
        return self.key.ref("key_id")

    def grant_decrypt(self, role: ServiceRole) -> None:
        role.grant("TenantKeyDecrypt", actions.KMS_DECRYPT, [self.key_arn])

    def grant_encrypt_decrypt(self, role: ServiceRole) -> None:
        role.grant("TenantKeyEncryptDecrypt", actions.KMS_ENCRYPT_DECRYPT, [self.key_arn])
