"""A VPC with private subnets for compute and public subnets only for the NAT gateway.

S3 traffic from the private subnets takes an S3 gateway endpoint instead of the NAT gateway: a
gateway endpoint costs nothing, while the NAT gateway charges for every GB it processes, and
training data and model artifacts are most of what compute moves. The endpoint's policy lets
through only the tenant's buckets and the AWS-owned buckets compute needs (ECR image layers,
Amazon Linux packages), so the VPC cannot be used to reach other buckets in the region.

The VPC's default security group is adopted with no rules (TM-VPC-001): AWS creates it allowing
all traffic between its members and all egress, and anything launched without a group lands in
it. Flow logs (TM-VPC-002) are ``infra.flow_logs.VpcFlowLog``, which needs the tenant key and
boundary.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, DataSource, Resource, Scope, TenantConstruct

#: the most zones a tenant network spans (every commercial region has at least three)
MAX_ZONES = 3


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    naming: Naming
    cidr: str
    availability_zones: int = 2
    #: the tenant's bucket ARNs: the only customer buckets the S3 gateway endpoint lets through.
    #: Without any, no endpoint is made (a policy without the tenant's buckets would cut them off).
    s3_bucket_arns: tuple[str, ...] = ()
    partition: str = "aws"

    def __post_init__(self) -> None:
        problems = []
        try:
            net = ipaddress.ip_network(self.cidr)
            if not 16 <= net.prefixlen <= 24:
                problems.append(Problem("cidr", "VPC prefix length must be /16 to /24", self.cidr))
            elif not net.is_private:
                problems.append(Problem("cidr", "must be a private (RFC 1918) range", self.cidr))
        except ValueError as err:
            problems.append(Problem("cidr", f"not a network address: {err}", self.cidr))
        if not 2 <= self.availability_zones <= MAX_ZONES:
            problems.append(
                Problem("availability_zones", f"must be 2 to {MAX_ZONES}", self.availability_zones)
            )
        if problems:
            raise ConstructPropsError(problems)

    def subnet_cidrs(self) -> list[str]:
        """Two subnets per zone (private first, then public), four bits narrower than the VPC."""
        net = ipaddress.ip_network(self.cidr)
        subnets = list(net.subnets(prefixlen_diff=4))
        return [str(s) for s in subnets[: 2 * self.availability_zones]]


class Network(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: NetworkProps) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        self.vpc = Resource(
            self,
            PRIMARY_ID,
            "aws_vpc",
            {
                "cidr_block": props.cidr,
                "enable_dns_hostnames": True,
                "enable_dns_support": True,
                "tags": {"Name": naming.name("vpc")},
            },
        )
        # the provider removes every rule of the default group it does not declare: declare none
        Resource(
            self,
            "DefaultSecurityGroup",
            "aws_default_security_group",
            {"vpc_id": self.vpc.id_ref, "ingress": [], "egress": []},
        )
        cidrs = props.subnet_cidrs()
        # the region's zones as the account sees them: "<region>a/b/c" is not a given (us-east-1's
        # letters map to different physical zones per account, some letters are retired or
        # constrained), and opt-in Local/Wavelength zones are not where a VPC's subnets belong
        self.zones = DataSource(
            self,
            "Zones",
            "aws_availability_zones",
            {"state": "available", "filter": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]},
        )
        zones = [self.zones.ref(f"names[{i}]") for i in range(props.availability_zones)]
        self.private_subnets: list[Resource] = []
        self.public_subnets: list[Resource] = []
        for i, zone in enumerate(zones):
            self.private_subnets.append(
                Resource(
                    self,
                    f"Private{i}",
                    "aws_subnet",
                    {
                        "vpc_id": self.vpc.id_ref,
                        "cidr_block": cidrs[i],
                        "availability_zone": zone,
                        "map_public_ip_on_launch": False,
                        "tags": {"Name": naming.name(f"private-{i}"), "kubernetes.io/role/internal-elb": "1"},
                    },
                )
            )
            self.public_subnets.append(
                Resource(
                    self,
                    f"Public{i}",
                    "aws_subnet",
                    {
                        "vpc_id": self.vpc.id_ref,
                        "cidr_block": cidrs[props.availability_zones + i],
                        "availability_zone": zone,
                        "map_public_ip_on_launch": False,
                        "tags": {"Name": naming.name(f"public-{i}"), "kubernetes.io/role/elb": "1"},
                    },
                )
            )
        gateway = Resource(self, "Gateway", "aws_internet_gateway", {"vpc_id": self.vpc.id_ref})
        # one NAT gateway: private compute reaches registries and AWS APIs; one per zone costs 3x
        eip = Resource(self, "NatIp", "aws_eip", {"domain": "vpc"}, depends_on=[gateway])
        nat = Resource(
            self,
            "Nat",
            "aws_nat_gateway",
            {"allocation_id": eip.id_ref, "subnet_id": self.public_subnets[0].id_ref},
            depends_on=[gateway],
        )
        public_rt = Resource(self, "PublicRoutes", "aws_route_table", {"vpc_id": self.vpc.id_ref})
        Resource(
            self,
            "PublicDefault",
            "aws_route",
            {
                "route_table_id": public_rt.id_ref,
                "destination_cidr_block": "0.0.0.0/0",
                "gateway_id": gateway.id_ref,
            },
        )
        private_rt = Resource(self, "PrivateRoutes", "aws_route_table", {"vpc_id": self.vpc.id_ref})
        Resource(
            self,
            "PrivateDefault",
            "aws_route",
            {
                "route_table_id": private_rt.id_ref,
                "destination_cidr_block": "0.0.0.0/0",
                "nat_gateway_id": nat.id_ref,
            },
        )
        for i, subnet in enumerate(self.public_subnets):
            Resource(
                self,
                f"PublicAssoc{i}",
                "aws_route_table_association",
                {"subnet_id": subnet.id_ref, "route_table_id": public_rt.id_ref},
            )
        for i, subnet in enumerate(self.private_subnets):
            Resource(
                self,
                f"PrivateAssoc{i}",
                "aws_route_table_association",
                {"subnet_id": subnet.id_ref, "route_table_id": private_rt.id_ref},
            )
        self.s3_endpoint: Resource | None = None
        if props.s3_bucket_arns:
            self.s3_endpoint = Resource(
                self,
                "S3Endpoint",
                "aws_vpc_endpoint",
                {
                    "vpc_id": self.vpc.id_ref,
                    "service_name": f"com.amazonaws.{naming.region}.s3",
                    "vpc_endpoint_type": "Gateway",
                    "route_table_ids": [private_rt.id_ref],
                    "policy": _s3_endpoint_policy(props),
                    "tags": {"Name": naming.name("s3-endpoint")},
                },
            )

    @property
    def vpc_id(self) -> str:
        return self.vpc.id_ref

    @property
    def private_subnet_ids(self) -> list[str]:
        return [s.id_ref for s in self.private_subnets]


def _s3_endpoint_policy(props: NetworkProps) -> str:
    region, arn = props.naming.region, f"arn:{props.partition}:s3:::"
    tenant = [r for bucket in props.s3_bucket_arns for r in (bucket, f"{bucket}/*")]
    aws_owned = [
        # where ECR keeps image layers: EKS nodes fetch them through S3
        f"{arn}prod-{region}-starport-layer-bucket/*",
        # the Amazon Linux 2023 package repositories
        f"{arn}al2023-repos-{region}-*/*",
    ]
    statements = [
        {
            "Sid": "TenantBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": [*actions.S3_READ, *actions.S3_WRITE],
            "Resource": tenant,
        },
        {
            "Sid": "AwsOwnedBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": list(actions.S3_GET_OBJECT),
            "Resource": aws_owned,
        },
    ]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )
