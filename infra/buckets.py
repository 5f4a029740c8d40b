"""The baseline every S3 bucket of the platform shares, whatever it holds.

Tenant data buckets (:mod:`infra.storage`), the access-log bucket (:mod:`infra.access_logs`) and the
Terraform state bucket (:mod:`infra.state`) differ in names, keys, policies and lifecycle, not in this.
"""

from __future__ import annotations

from infra.core import Resource, TenantConstruct


def private_bucket_baseline(
    scope: TenantConstruct, bucket_id: str, encryption: dict[str, str], *, bucket_key: bool
) -> Resource:
    """What every bucket of the platform has: versioning, default encryption, a public access block and
    ACLs off (``BucketOwnerEnforced``), as resources of ``scope`` with the ids ``Versioning``,
    ``Encryption``, ``PublicAccessBlock`` and ``Ownership`` (their Terraform addresses).

    Returns the public access block: a bucket policy must depend on it, so that S3 never sees the two
    half-applied.
    """
    Resource(
        scope,
        "Versioning",
        "aws_s3_bucket_versioning",
        {"bucket": bucket_id, "versioning_configuration": [{"status": "Enabled"}]},
    )
    rule: dict[str, object] = {"apply_server_side_encryption_by_default": [encryption]}
    if bucket_key:
        rule["bucket_key_enabled"] = True
    Resource(
        scope,
        "Encryption",
        "aws_s3_bucket_server_side_encryption_configuration",
        {"bucket": bucket_id, "rule": [rule]},
    )
    public_access_block = Resource(
        scope,
        "PublicAccessBlock",
        "aws_s3_bucket_public_access_block",
        {
            "bucket": bucket_id,
            "block_public_acls": True,
            "block_public_policy": True,
            "ignore_public_acls": True,
            "restrict_public_buckets": True,
        },
    )
    Resource(
        scope,
        "Ownership",
        "aws_s3_bucket_ownership_controls",
        {"bucket": bucket_id, "rule": [{"object_ownership": "BucketOwnerEnforced"}]},
    )
    return public_access_block
