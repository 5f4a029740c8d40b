"""The Kinesis stream that carries a tenant's inference logs and feature events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole
from infra.keys import TenantKey


@dataclass(frozen=True, kw_only=True)
class InferenceStreamProps:
    naming: Naming
    key: TenantKey
    mode: Literal["provisioned", "on_demand"] = "provisioned"
    shards: int = 1
    retention_hours: int = 24

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("provisioned", "on_demand"):
            problems.append(Problem("mode", "must be provisioned or on_demand", self.mode))
        if not 24 <= self.retention_hours <= 8760:
            problems.append(
                Problem("retention_hours", "Kinesis keeps records 24 to 8760 hours", self.retention_hours)
            )
        if self.mode == "provisioned" and not 1 <= self.shards <= 500:
            problems.append(Problem("shards", "a provisioned stream needs 1 to 500 shards", self.shards))
        if problems:
            raise ConstructPropsError(problems)


class InferenceStream(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: InferenceStreamProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.stream_name = props.naming.name("inference", "stream")
        provisioned = props.mode == "provisioned"
        self.stream = Resource(
            self,
            PRIMARY_ID,
            "aws_kinesis_stream",
            {
                "name": self.stream_name,
                "shard_count": props.shards if provisioned else None,
                "retention_period": props.retention_hours,
                "encryption_type": "KMS",
                "kms_key_id": props.key.key_arn,
                "stream_mode_details": [{"stream_mode": "PROVISIONED" if provisioned else "ON_DEMAND"}],
                "shard_level_metrics": ["IncomingRecords", "OutgoingRecords", "IteratorAgeMilliseconds"],
            },
        )

    @property
    def stream_arn(self) -> str:
        return self.stream.arn_ref

    def grant_read(self, role: ServiceRole) -> None:
        role.grant("ReadInferenceStream", actions.KINESIS_READ, [self.stream_arn])
        self.props.key.grant_decrypt(role)

    def grant_write(self, role: ServiceRole) -> None:
        role.grant("WriteInferenceStream", actions.KINESIS_WRITE, [self.stream_arn])
        self.props.key.grant_encrypt_decrypt(role)
