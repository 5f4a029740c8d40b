"""Clients that sign as a tenant's workload role, with credentials from the emulator's STS."""

from __future__ import annotations

from typing import Any

import boto3

from tenantml.emulator import iam_enforcement


def role_client(
    endpoint: str, role_arn: str, service: str, region: str, *, session_name: str = "test"
) -> Any:
    """A ``service`` client acting as ``role_arn`` (assumed as its account's administrator)."""
    creds = iam_enforcement.role_credentials(role_arn, session_name, region)
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
