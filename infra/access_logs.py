"""The bucket that receives a prod tenant's S3 server access logs (who read or wrote which object).

It keeps every secure default of a tenant bucket but one: objects are encrypted with SSE-S3
(AES256), not the tenant key. S3 writes server access logs as the ``logging.s3.amazonaws.com``
service, which could use the tenant key only if the key policy trusted that service for every
bucket of the account; the logs hold request metadata (requester, key, operation), not tenant data.
The exception is recorded as a TM-S3-001 suppression on the bucket, so every policy report shows it.
The bucket logs nothing itself (logging into itself would loop) and expires logs after a year.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra.buckets import private_bucket_baseline
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct

LOG_DELIVERY_PRINCIPAL = "logging.s3.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class AccessLogsBucketProps:
    naming: Naming
    account_id: str
    partition: str
    #: the buckets whose logs this one receives: nothing else may deliver into it
    source_bucket_arns: tuple[str, ...]
    expiration_days: int = 365

    def __post_init__(self) -> None:
        problems = []
        if not self.account_id:
            problems.append(Problem("account_id", "log delivery is limited to the tenant's account"))
        if not self.source_bucket_arns:
            problems.append(Problem("source_bucket_arns", "at least one bucket must log here"))
        if self.expiration_days < 1:
            problems.append(Problem("expiration_days", "must be at least 1 day", self.expiration_days))
        if problems:
            raise ConstructPropsError(problems)


class AccessLogsBucket(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: AccessLogsBucketProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.bucket_name = props.naming.bucket("access-logs")
        self.bucket = Resource(
            self, PRIMARY_ID, "aws_s3_bucket", {"bucket": self.bucket_name, "force_destroy": False}
        )
        self.bucket.suppress(
            "TM-S3-001",
            "S3 server access logs are delivered by logging.s3.amazonaws.com, which the tenant key does"
            " not trust; they are encrypted with SSE-S3 and hold request metadata, not tenant data",
        )
        bucket_id = self.bucket.id_ref
        # ACLs are off (BucketOwnerEnforced): log delivery is granted by the bucket policy alone
        public_access_block = private_bucket_baseline(
            self, bucket_id, {"sse_algorithm": "AES256"}, bucket_key=False
        )
        #: log delivery is checked against this policy when a bucket's logging is turned on
        self.policy = Resource(
            self,
            "Policy",
            "aws_s3_bucket_policy",
            {"bucket": bucket_id, "policy": self._policy()},
            depends_on=[public_access_block],
        )
        Resource(
            self,
            "Lifecycle",
            "aws_s3_bucket_lifecycle_configuration",
            {
                "bucket": bucket_id,
                "rule": [
                    {
                        "id": "expire-access-logs",
                        "status": "Enabled",
                        "filter": [{"prefix": ""}],
                        "expiration": [{"days": props.expiration_days}],
                        "noncurrent_version_expiration": [{"noncurrent_days": 30}],
                        "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
                    }
                ],
            },
        )

    def _policy(self) -> str:
        arn = self.bucket_arn
        return json.dumps(
            {
                "Version": "2012-10-17",
                # log delivery first: moto's check for it stops at a statement whose Principal is
                # "*" (a string); AWS reads statements in any order
                "Statement": [
                    {
                        # only S3's log delivery, only for the tenant's own buckets (no confused deputy)
                        "Sid": "ServerAccessLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"Service": LOG_DELIVERY_PRINCIPAL},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/*",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": self.props.account_id},
                            "ArnLike": {"aws:SourceArn": list(self.props.source_bucket_arns)},
                        },
                    },
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
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
    def bucket_id(self) -> str:
        return self.bucket.id_ref
