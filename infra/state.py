"""Where Terraform keeps state: the tenant backends, and the per-account bootstrap they point at.

Every stack requires Terraform 1.10 or later: the S3 backend locks with a lock file next to
the state (``use_lockfile``, S3 conditional writes) since 1.10, and ``dynamodb_table`` locking
is deprecated since 1.11, so there is no lock table to create or pay for. The state bucket is
made once per account by the bootstrap stack (``stacks/bootstrap.py``): versioned, SSE-KMS
with its own key, public access blocked, TLS only, and uploads without the SSE-KMS header denied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem
from infra.buckets import private_bucket_baseline
from infra.cdk import LocalBackend, S3Backend, TerraformStack
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct

#: S3-native state locking (use_lockfile) came in Terraform 1.10
TERRAFORM_REQUIRED_VERSION = ">= 1.10"
#: previous versions of a state object: enough history to roll back a bad apply, not forever
STATE_NONCURRENT_DAYS = 90


def require_terraform(stack: TerraformStack) -> None:
    """Pin the Terraform versions that can run ``stack`` (older ones fail at init, not half-way)."""
    stack.add_override("terraform.required_version", TERRAFORM_REQUIRED_VERSION)


@dataclass(frozen=True, kw_only=True)
class StateBackendProps:
    tenant: str
    enabled: bool
    #: the tenant account's bootstrap bucket (``core.platform.state_bucket_name``); None when disabled
    bucket: str | None
    key: str
    #: the platform's one state region, not the tenant's workload region
    region: str
    #: the bootstrap's state key by alias (``core.platform.state_key_alias``): the backend sends SSE-KMS
    #: with it, which the state bucket's policy requires of every upload
    kms_key_alias: str | None = None


def configure_state_backend(stack: TerraformStack, props: StateBackendProps) -> None:
    """An S3 backend with a separate state key per tenant, or local state when disabled."""
    require_terraform(stack)
    if not props.enabled:
        LocalBackend(stack, path=f"terraform.{props.tenant}.tfstate")
        return
    if props.bucket is None:
        # never fall back to local state silently: a CI run would lose it and re-create everything
        raise ConstructPropsError(
            [
                Problem(
                    f"tenant {props.tenant}: state bucket", "remote state is on but no account names a bucket"
                )
            ]
        )
    # `encrypt` alone would make Terraform send SSE-S3 (AES256), which the state bucket denies; with
    # `kms_key_id` it sends SSE-KMS with the bootstrap's key, named by its alias: the backend block
    # takes no interpolation, and the alias is known before the key exists (its id is not)
    kms = {"encrypt": True, "kms_key_id": props.kms_key_alias} if props.kms_key_alias else {}
    S3Backend(stack, bucket=props.bucket, key=props.key, region=props.region, **kms)
    # cdktf's S3Backend predates use_lockfile; the override writes it into the same block
    stack.add_override("terraform.backend.s3.use_lockfile", True)


# --- the bootstrap: one state bucket and its key per account --------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateStoreProps:
    account_id: str
    region: str
    partition: str
    bucket_name: str
    #: the key alias, ``alias/<name>``
    key_alias: str


class StateStore(TenantConstruct):
    """The account's state bucket, encrypted with a key of its own that only the account administers."""

    def __init__(self, scope: Scope, construct_id: str, props: StateStoreProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        root = f"arn:{props.partition}:iam::{props.account_id}:root"
        self.key = Resource(
            self,
            "Key",
            "aws_kms_key",
            {
                "description": f"tenantml Terraform state in {props.account_id} ({props.region})",
                "enable_key_rotation": True,
                "deletion_window_in_days": 30,
                "key_usage": "ENCRYPT_DECRYPT",
                "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                # the account administers the key, as in AWS's default key policy; who may read
                # or write state (and so use the key through S3) is up to IAM in that account
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountAdmin",
                                "Effect": "Allow",
                                "Principal": {"AWS": root},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    },
                    sort_keys=True,
                    separators=(",", ":"),
                ),
            },
        )
        Resource(
            self,
            "KeyAlias",
            "aws_kms_alias",
            {"name": props.key_alias, "target_key_id": self.key.ref("key_id")},
        )
        # state outlives any one apply: `terraform destroy` of the bootstrap must not take it along
        self.bucket = Resource(
            self, PRIMARY_ID, "aws_s3_bucket", {"bucket": props.bucket_name, "force_destroy": False}
        )
        bucket_id = self.bucket.id_ref
        public_access_block = private_bucket_baseline(
            self,
            bucket_id,
            {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key.arn_ref},
            bucket_key=True,
        )
        Resource(
            self,
            "Lifecycle",
            "aws_s3_bucket_lifecycle_configuration",
            {
                "bucket": bucket_id,
                "rule": [
                    {
                        "id": "expire-old-state-versions",
                        "status": "Enabled",
                        "filter": [{"prefix": ""}],
                        "noncurrent_version_expiration": [{"noncurrent_days": STATE_NONCURRENT_DAYS}],
                        "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
                    }
                ],
            },
        )
        # after the public access block, so that S3 never sees them half-applied
        Resource(
            self,
            "Policy",
            "aws_s3_bucket_policy",
            {"bucket": bucket_id, "policy": self._policy()},
            depends_on=[public_access_block],
        )

    def _policy(self) -> str:
        arn = self.bucket_arn
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    # every upload asks for SSE-KMS itself: the condition reads the request's header
                    # only, so the bucket default does not excuse a missing one (the backends send it)
                    {
                        "Sid": "DenyIncorrectEncryptionHeader",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": [f"{arn}/*"],
                        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                    },
                    {
                        "Sid": "DenyUnencryptedObjectUploads",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": [f"{arn}/*"],
                        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
                    },
                ],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def bucket_arn(self) -> str:
        return self.bucket.arn_ref

    @property
    def key_arn(self) -> str:
        return self.key.arn_ref
