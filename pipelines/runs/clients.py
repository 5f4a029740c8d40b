"""The boto3 clients the CLI's run, registry and reproduce commands use (S3, SageMaker, SNS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AwsClients:
    """The boto3 clients a run's readers use; made by the caller (never at import time)."""

    s3: Any
    sagemaker: Any
    sns: Any

    @classmethod
    def create(
        cls, *, region: str | None = None, endpoint_url: str | None = None, session: Any = None
    ) -> AwsClients:
        import boto3

        # boto3's default session, unless given one: a new session re-reads every service model
        session = session or boto3
        kwargs: dict[str, Any] = {}
        if region:
            kwargs["region_name"] = region
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return cls(
            s3=session.client("s3", **kwargs),
            sagemaker=session.client("sagemaker", **kwargs),
            sns=session.client("sns", **kwargs),
        )


__all__ = ["AwsClients"]
