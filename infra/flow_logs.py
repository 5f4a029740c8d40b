"""VPC flow logs (TM-VPC-002): every connection to and from tenant compute, accepted or rejected.

Records go to a CloudWatch log group under ``/tenantml/<tenant>/``, encrypted with the tenant key
and kept for the tenant's log retention, written by a role that only the flow logs service may
assume, capped by the tenant boundary (which allows log writes under that path).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole, ServiceRoleProps
from infra.keys import TenantKey
from infra.network import Network

#: CloudWatch Logs accepts only these retention periods (days)
_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


@dataclass(frozen=True, kw_only=True)
class VpcFlowLogProps:
    naming: Naming
    key: TenantKey
    network: Network
    boundary_arn: str
    retention_days: int = 30
    #: seconds per aggregation interval: 60 or 600 (AWS's default)
    max_aggregation_interval: int = 600

    def __post_init__(self) -> None:
        problems = []
        if self.retention_days not in _RETENTION_DAYS:
            problems.append(
                Problem("retention_days", "not a CloudWatch Logs retention period", self.retention_days)
            )
        if self.max_aggregation_interval not in (60, 600):
            problems.append(
                Problem("max_aggregation_interval", "must be 60 or 600", self.max_aggregation_interval)
            )
        if problems:
            raise ConstructPropsError(problems)


class VpcFlowLog(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: VpcFlowLogProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        self.log_group_name = f"/tenantml/{naming.tenant}/vpc-flow-logs"
        self.log_group = Resource(
            self,
            "Logs",
            "aws_cloudwatch_log_group",
            {
                "name": self.log_group_name,
                "retention_in_days": props.retention_days,
                "kms_key_id": props.key.key_arn,
            },
        )
        self.role = ServiceRole(
            self,
            "Role",
            ServiceRoleProps(
                naming=naming,
                component="vpc-flow-logs",
                description="VPC flow logs delivery",
                assumed_by=("vpc-flow-logs.amazonaws.com",),
                boundary_arn=props.boundary_arn,
            ),
        )
        self.role.grant("WriteFlowLogs", actions.LOGS_WRITE, [f"{self.log_group.arn_ref}:*"])
        # the delivery service also describes its group's streams and lists the groups (AWS documents
        # both for the flow-logs role); a list of groups is authorized on the account's groups only
        self.role.grant(
            "DescribeFlowLogStreams", actions.LOGS_DESCRIBE_STREAMS, [f"{self.log_group.arn_ref}:*"]
        )
        self.role.grant(
            "ListLogGroups", actions.LOGS_LIST_GROUPS, [naming.arn_pattern("logs", "log-group:*")]
        )
        self.flow_log = Resource(
            self,
            PRIMARY_ID,
            "aws_flow_log",
            {
                "vpc_id": props.network.vpc_id,
                "traffic_type": "ALL",
                "log_destination_type": "cloud-watch-logs",
                "log_destination": self.log_group.arn_ref,
                "iam_role_arn": self.role.role_arn,
                "max_aggregation_interval": props.max_aggregation_interval,
            },
            # the service checks at creation that the role may write to the group
            depends_on=[self.role.policy],
        )
