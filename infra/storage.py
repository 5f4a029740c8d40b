"""S3 buckets with the secure defaults every tenant bucket needs.

A ``SecureBucket`` is versioned, SSE-KMS encrypted with the tenant key (bucket keys on),
blocks all public access, enforces bucket-owner object ownership, denies non-TLS requests
and carries lifecycle rules. None of it can be switched off through props.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.access_logs import AccessLogsBucket, AccessLogsBucketProps
from infra.buckets import private_bucket_baseline
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole
from infra.keys import TenantKey


@dataclass(frozen=True, kw_only=True)
class LifecycleRule:
    """Expire objects under ``prefix`` after ``expiration_days`` and old versions after ``noncurrent_days``."""

    rule_id: str
    prefix: str = ""
    expiration_days: int | None = None
    noncurrent_days: int | None = None
    infrequent_access_days: int | None = None

    def problems(self, where: str) -> list[Problem]:
        found = []
        for name in ("expiration_days", "noncurrent_days", "infrequent_access_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                found.append(Problem(f"{where}.{name}", "must be at least 1 day", value))
        if self.infrequent_access_days is not None and self.infrequent_access_days < 30:
            found.append(
                Problem(
                    f"{where}.infrequent_access_days",
                    "S3 requires at least 30 days",
                    self.infrequent_access_days,
                )
            )
        if (
            self.expiration_days is not None
            and self.infrequent_access_days is not None
            and self.expiration_days <= self.infrequent_access_days
        ):
            found.append(
                Problem(
                    f"{where}.expiration_days",
                    "must be later than the transition to infrequent access",
                    self.expiration_days,
                )
            )
        if (
            self.expiration_days is None
            and self.noncurrent_days is None
            and self.infrequent_access_days is None
        ):
            found.append(Problem(where, "a lifecycle rule needs at least one action"))
        return found

    def render(self) -> dict[str, object]:
        rule: dict[str, object] = {
            "id": self.rule_id,
            "status": "Enabled",
            "filter": [{"prefix": self.prefix}],
        }
        if self.expiration_days is not None:
            rule["expiration"] = [{"days": self.expiration_days}]
        if self.noncurrent_days is not None:
            rule["noncurrent_version_expiration"] = [{"noncurrent_days": self.noncurrent_days}]
        if self.infrequent_access_days is not None:
            rule["transition"] = [{"days": self.infrequent_access_days, "storage_class": "STANDARD_IA"}]
        return rule


#: one bucket-wide rule aborts incomplete multipart uploads (their parts are billed and unlisted
#: until aborted); a per-rule abort would only cover that rule's prefix (TM-S3-006)
ABORT_INCOMPLETE_UPLOADS = {
    "id": "abort-incomplete-uploads",
    "status": "Enabled",
    "filter": [{"prefix": ""}],
    "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
}


def _pascal_prefix(prefix: str) -> str:
    """``feature-store/`` -> ``FeatureStore``: a prefix as part of a statement id (alphanumeric)."""
    return "".join(part.title() for part in re.split(r"[/_-]", prefix) if part)


@dataclass(frozen=True, kw_only=True)
class SecureBucketProps:
    naming: Naming
    component: str
    key: TenantKey
    lifecycle_rules: tuple[LifecycleRule, ...] = field(default_factory=tuple)
    #: off by default: a bucket holding data must not vanish with ``terraform destroy``
    force_destroy: bool = False

    def __post_init__(self) -> None:
        problems = []
        ids = [r.rule_id for r in self.lifecycle_rules]
        if len(ids) != len(set(ids)):
            problems.append(Problem("lifecycle_rules", "rule ids must be unique", ids))
        for i, rule in enumerate(self.lifecycle_rules):
            problems.extend(rule.problems(f"lifecycle_rules[{i}]"))
        if problems:
            raise ConstructPropsError(problems)


class SecureBucket(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: SecureBucketProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.bucket_name = props.naming.bucket(props.component)
        self.bucket = Resource(
            self,
            PRIMARY_ID,
            "aws_s3_bucket",
            {"bucket": self.bucket_name, "force_destroy": props.force_destroy},
        )
        bucket_id = self.bucket.id_ref
        public_access_block = private_bucket_baseline(
            self,
            bucket_id,
            {"sse_algorithm": "aws:kms", "kms_master_key_id": props.key.key_arn},
            bucket_key=True,
        )
        # the policy goes after the public access block so that S3 never sees them half-applied
        Resource(
            self,
            "Policy",
            "aws_s3_bucket_policy",
            {"bucket": bucket_id, "policy": self._tls_only_policy()},
            depends_on=[public_access_block],
        )
        Resource(
            self,
            "Lifecycle",
            "aws_s3_bucket_lifecycle_configuration",
            {
                "bucket": bucket_id,
                "rule": [*(r.render() for r in props.lifecycle_rules), dict(ABORT_INCOMPLETE_UPLOADS)],
            },
        )

    def _tls_only_policy(self) -> str:
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
                    }
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

    def log_access_to(self, logs: AccessLogsBucket) -> None:
        """Server access logs of this bucket go to ``logs`` under ``<component>/``."""
        Resource(
            self,
            "AccessLogs",
            "aws_s3_bucket_logging",
            {
                "bucket": self.bucket_id,
                "target_bucket": logs.bucket_id,
                "target_prefix": f"{self.props.component}/",
            },
            # S3 refuses to turn logging on until the target's policy lets log delivery write
            depends_on=[logs.policy],
        )

    def _sid(self, verb: str) -> str:
        return f"{verb}{self.props.component.title().replace('-', '')}Bucket"

    def grant_read(self, role: ServiceRole) -> None:
        role.grant(self._sid("Read"), actions.S3_READ, [self.bucket_arn, f"{self.bucket_arn}/*"])
        self.props.key.grant_decrypt(role)

    def grant_read_prefix(self, role: ServiceRole, prefix: str) -> None:
        """Read and list the objects under ``prefix`` only (e.g. ``labels/``), not the whole bucket."""
        verb = "Read" + _pascal_prefix(prefix)
        role.grant(self._sid(verb), actions.S3_READ_OBJECTS, [f"{self.bucket_arn}/{prefix}*"])
        role.grant(
            self._sid(f"List{verb.removeprefix('Read')}"),
            actions.S3_LIST,
            [self.bucket_arn],
            StringLike={"s3:prefix": [f"{prefix}*"]},
        )
        self.props.key.grant_decrypt(role)

    def grant_write_prefix(self, role: ServiceRole, prefix: str) -> None:
        """Write the objects under ``prefix`` only (e.g. ``batch/``), not the whole bucket."""
        verb = "Write" + _pascal_prefix(prefix)
        role.grant(self._sid(verb), actions.S3_WRITE, [f"{self.bucket_arn}/{prefix}*"])
        self.props.key.grant_encrypt_decrypt(role)

    def grant_write(self, role: ServiceRole) -> None:
        role.grant(self._sid("Write"), actions.S3_WRITE, [f"{self.bucket_arn}/*"])
        self.props.key.grant_encrypt_decrypt(role)

    def grant_read_write(self, role: ServiceRole) -> None:
        self.grant_read(role)
        self.grant_write(role)


@dataclass(frozen=True, kw_only=True)
class TenantStorageProps:
    naming: Naming
    key: TenantKey
    raw_data_expiration_days: int
    noncurrent_model_expiration_days: int
    artifacts_infrequent_access_days: int
    #: server access logs of the three buckets (prod tenants: TM-S3-005); needs ``account_id``
    access_logging: bool = False
    account_id: str = ""
    partition: str = "aws"


class TenantStorage(TenantConstruct):
    """The tenant's three buckets: incoming data, pipeline artifacts, and model versions."""

    def __init__(self, scope: Scope, construct_id: str, props: TenantStorageProps) -> None:
        super().__init__(scope, construct_id)
        self.data = SecureBucket(
            self,
            "Data",
            SecureBucketProps(
                naming=props.naming,
                component="data",
                key=props.key,
                lifecycle_rules=(
                    LifecycleRule(
                        rule_id="expire-raw-data",
                        prefix="incoming/",
                        expiration_days=props.raw_data_expiration_days,
                        noncurrent_days=props.raw_data_expiration_days,
                    ),
                ),
            ),
        )
        self.artifacts = SecureBucket(
            self,
            "Artifacts",
            SecureBucketProps(
                naming=props.naming,
                component="artifacts",
                key=props.key,
                lifecycle_rules=(
                    LifecycleRule(
                        rule_id="tier-artifacts",
                        infrequent_access_days=props.artifacts_infrequent_access_days,
                        noncurrent_days=props.noncurrent_model_expiration_days,
                    ),
                ),
            ),
        )
        self.models = SecureBucket(
            self,
            "Models",
            SecureBucketProps(
                naming=props.naming,
                component="models",
                key=props.key,
                lifecycle_rules=(
                    LifecycleRule(
                        rule_id="expire-old-model-versions",
                        noncurrent_days=props.noncurrent_model_expiration_days,
                    ),
                ),
            ),
        )
        self.access_logs: AccessLogsBucket | None = None
        if props.access_logging:
            self.access_logs = AccessLogsBucket(
                self,
                "AccessLogs",
                AccessLogsBucketProps(
                    naming=props.naming,
                    account_id=props.account_id,
                    partition=props.partition,
                    source_bucket_arns=tuple(b.bucket_arn for b in (self.data, self.artifacts, self.models)),
                ),
            )
            for bucket in (self.data, self.artifacts, self.models):
                bucket.log_access_to(self.access_logs)
