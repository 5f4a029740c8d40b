"""A small synthesized stack that passes every policy rule, for tests to break one thing at a time.

The document has the shape ``tenantml synth`` writes (cdktf's ``//`` metadata included), with
one resource of each kind the rules look at. ``policy_doc`` hands each test a fresh copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import RULES_BY_ID, Result, SynthStack

TENANT = "acme"
KNOWN_TENANTS = {"acme": "dev", "globex": "prod", "acme-dev": "prod"}


def _meta(path: str) -> dict[str, Any]:
    return {"metadata": {"path": f"{TENANT}/{path}", "uniqueId": path.lower()}}


def _policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )


TLS_ONLY = _policy(
    [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
)

ROLE_POLICY = _policy(
    [
        {
            "Sid": "ReadData",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["${aws_s3_bucket.data.arn}", "${aws_s3_bucket.data.arn}/*"],
        },
        {
            "Sid": "PutTenantMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"cloudwatch:namespace": "TenantML"}},
        },
    ]
)

KEY_POLICY = _policy(
    [
        {
            "Sid": "AccountAdmin",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
    ]
)

COMPLIANT: dict[str, Any] = {
    "//": {"metadata": {"backend": "s3", "stackName": TENANT, "version": "0.21.0"}},
    "provider": {
        "aws": [
            {
                "region": "eu-west-1",
                "default_tags": [
                    {
                        "tags": {
                            "cost-center": "cc-1",
                            "tenantml:tenant": TENANT,
                            "tenantml:environment": "dev",
                            "tenantml:managed-by": "tenantml",
                        }
                    }
                ],
            }
        ]
    },
    "terraform": {
        "backend": {
            "s3": {
                "bucket": "tenantml-terraform-state",
                "key": f"tenants/{TENANT}/terraform.tfstate",
                "region": "eu-west-1",
                "dynamodb_table": "tenantml-terraform-locks",
                "encrypt": True,
            }
        }
    },
    "resource": {
        "aws_s3_bucket": {
            "data": {"//": _meta("Data/this"), "bucket": "tenantml-acme-dev-data", "force_destroy": False}
        },
        "aws_s3_bucket_server_side_encryption_configuration": {
            "data_encryption": {
                "//": _meta("Data/Encryption"),
                "bucket": "${aws_s3_bucket.data.id}",
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.key.arn}"}
                        ],
                        "bucket_key_enabled": True,
                    }
                ],
            }
        },
        "aws_s3_bucket_versioning": {
            "data_versioning": {
                "//": _meta("Data/Versioning"),
                "bucket": "${aws_s3_bucket.data.id}",
                "versioning_configuration": [{"status": "Enabled"}],
            }
        },
        "aws_s3_bucket_public_access_block": {
            "data_public_access_block": {
                "//": _meta("Data/PublicAccessBlock"),
                "bucket": "${aws_s3_bucket.data.id}",
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }
        },
        "aws_s3_bucket_policy": {
            "data_policy": {
                "//": _meta("Data/Policy"),
                "bucket": "${aws_s3_bucket.data.id}",
                "policy": TLS_ONLY,
            }
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "data_lifecycle": {
                "//": _meta("Data/Lifecycle"),
                "bucket": "${aws_s3_bucket.data.id}",
                "rule": [
                    {
                        "id": "abort-incomplete-uploads",
                        "status": "Enabled",
                        "filter": [{"prefix": ""}],
                        "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
                    }
                ],
            }
        },
        "aws_kms_key": {
            "key": {
                "//": _meta("Key/this"),
                "enable_key_rotation": True,
                "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                "key_usage": "ENCRYPT_DECRYPT",
                "policy": KEY_POLICY,
            }
        },
        "aws_iam_role": {
            "worker": {
                "//": _meta("Worker/this"),
                "name": "tenantml-acme-dev-worker",
                "assume_role_policy": _policy(
                    [
                        {
                            "Sid": "Services",
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": ["sagemaker.amazonaws.com"]},
                        }
                    ]
                ),
            }
        },
        "aws_iam_role_policy": {
            "worker_policy": {
                "//": _meta("Worker/Policy"),
                "name": "grants",
                "role": "${aws_iam_role.worker.id}",
                "policy": ROLE_POLICY,
            }
        },
        "aws_iam_policy": {
            "boundary": {
                "//": _meta("Boundary/this"),
                "name": "tenantml-acme-dev-boundary",
                "policy": _policy(
                    [
                        {
                            "Sid": "S3Objects",
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": ["arn:aws:s3:::tenantml-acme-dev-*/*"],
                        }
                    ]
                ),
            }
        },
        "aws_kinesis_stream": {
            "stream": {
                "//": _meta("Stream/this"),
                "name": "tenantml-acme-dev-inference",
                "encryption_type": "KMS",
                "kms_key_id": "${aws_kms_key.key.arn}",
                "shard_count": 1,
            }
        },
        "aws_dynamodb_table": {
            "features": {
                "//": _meta("Features/this"),
                "name": "tenantml-acme-dev-features",
                "billing_mode": "PAY_PER_REQUEST",
                "hash_key": "pk",
                "attribute": [{"name": "pk", "type": "S"}],
                "server_side_encryption": [{"enabled": True, "kms_key_arn": "${aws_kms_key.key.arn}"}],
                "point_in_time_recovery": [{"enabled": True}],
            }
        },
        "aws_sns_topic": {
            "alerts": {
                "//": _meta("Alerts/this"),
                "name": "tenantml-acme-dev-alerts",
                "kms_master_key_id": "${aws_kms_key.key.arn}",
            }
        },
        "aws_sqs_queue": {
            "dlq": {
                "//": _meta("Dlq/this"),
                "name": "tenantml-acme-dev-monitor-dlq",
                "kms_master_key_id": "${aws_kms_key.key.arn}",
            }
        },
        "aws_lambda_function": {
            "monitor": {
                "//": _meta("Monitor/this"),
                "function_name": "tenantml-acme-dev-monitor",
                "role": "${aws_iam_role.worker.arn}",
                "reserved_concurrent_executions": 5,
                "dead_letter_config": [{"target_arn": "${aws_sqs_queue.dlq.arn}"}],
                "environment": [
                    {
                        "variables": {
                            "TENANTML_TENANT": TENANT,
                            "TENANTML_DATA_BUCKET": "${aws_s3_bucket.data.id}",
                        }
                    }
                ],
            }
        },
        "aws_eks_cluster": {
            "cluster": {
                "//": _meta("Cluster/this"),
                "name": "tenantml-acme-dev-eks",
                "role_arn": "${aws_iam_role.worker.arn}",
                "vpc_config": [
                    {
                        "subnet_ids": ["${aws_subnet.private0.id}"],
                        "endpoint_private_access": True,
                        "endpoint_public_access": False,
                    }
                ],
                "enabled_cluster_log_types": [
                    "api",
                    "audit",
                    "authenticator",
                    "controllerManager",
                    "scheduler",
                ],
            }
        },
        "aws_subnet": {"private0": {"//": _meta("Private0"), "vpc_id": "vpc-1", "cidr_block": "10.0.0.0/20"}},
    },
}


@pytest.fixture
def policy_doc() -> dict[str, Any]:
    """A fresh copy of a stack that complies with every rule."""
    return copy.deepcopy(COMPLIANT)


Verdict = Callable[[str, dict[str, Any], str], Result]


@pytest.fixture
def verdict() -> Verdict:
    """``verdict(rule_id, doc, address)``: one rule's result on one resource of ``doc``."""

    def evaluate(rule_id: str, doc: dict[str, Any], address: str) -> Result:
        stack = SynthStack(TENANT, doc, KNOWN_TENANTS)
        resource = stack.get(address)
        assert resource is not None, f"{address} is not in the document"
        return RULES_BY_ID[rule_id].evaluate(resource, stack)

    return evaluate
