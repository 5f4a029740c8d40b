"""A VPC with private subnets for compute and public subnets only for the NAT gateway."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from constructs import Construct

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra.core import PRIMARY_ID, DataSource, Resource, TenantConstruct

#: the most zones a tenant network spans (every commercial region has at least three)
MAX_ZONES = 3


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    naming: Naming
    cidr: str
    availability_zones: int = 2

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
    def __init__(self, scope: Construct, construct_id: str, props: NetworkProps) -> None:
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

    @property
    def vpc_id(self) -> str:
        return self.vpc.id_ref

    @property
    def private_subnet_ids(self) -> list[str]:
        return [s.id_ref for s in self.private_subnets]
