"""A rough monthly cost estimate for a synthesized stack, from a versioned price table.

This is an **estimate** for comparing a change against its base, not a bill. Prices are the
on-demand list prices of the stack's region in ``prices.json`` (its ``version`` and ``as_of``
date are shown in every report); a region the table does not have is reported as unpriced
("no price for region X"), never priced as another region. Usage-driven charges are estimated
from the documented assumptions in ``prices.json`` (``assumptions``): GB stored per bucket, GB of
logs per log group, Lambda invocations and duration, GB processed by a NAT gateway and the share
of it that is S3 traffic, LCUs an Application Load Balancer uses per hour. Data transfer, request charges of S3/SQS/SNS/KMS and free tiers are not
counted; resources with no hourly or monthly charge (IAM, VPC, subnets, routes, gateway
endpoints, SQS queues and SNS topics at low volume, registries) cost 0.

What is priced, per month (``hours_per_month`` hours):

* ``aws_eks_cluster``: the control plane per hour, at the extended-support rate (6x) when its
  Kubernetes version is past the end of standard support on the estimate's date
  (:mod:`core.eks_versions`) and its ``upgrade_policy`` does not upgrade it automatically;
* ``aws_eks_node_group``: desired size x the hourly price of the *first* instance type, plus
  each node's disk (``disk_size`` or the assumed size);
* ``aws_autoscaling_group``: desired capacity (else min size) x the hourly price of its launch
  template's ``instance_type``, plus the template's EBS volumes per instance;
* ``aws_nat_gateway`` per hour plus the assumed GB processed; the S3 share of that traffic is not
  processed when an S3 gateway endpoint (``aws_vpc_endpoint``) serves the route tables that use
  the gateway, and the saving is shown; ``aws_eip`` (public IPv4 address) per hour;
* ``aws_lb`` (an Application Load Balancer) per hour plus the assumed LCUs (load balancer capacity
  units) per hour, each at the region's price; other load balancer types are flagged unpriced;
* ``aws_kinesis_stream``: provisioned shards per shard-hour (plus extended retention beyond
  24 h per shard-hour), or on-demand per stream-hour (data volume not counted);
* ``aws_kms_key`` per key-month; ``aws_cloudwatch_metric_alarm`` per alarm-month
  (high-resolution when the period is under 60 s);
* ``aws_cloudwatch_log_group``: assumed ingestion plus the storage it accumulates over its
  retention; ``aws_s3_bucket``: assumed GB in S3 Standard; ``aws_lambda_function``: assumed
  invocations x duration x memory plus requests;
* ``aws_dynamodb_table``: on demand (``PAY_PER_REQUEST``, the feature store's online table) has
  no fixed charge and is listed at 0 with that said (requests and storage are usage, not counted);
  provisioned capacity has no price in the table and is flagged unpriced. Glue catalog databases
  and tables cost 0 (the first million catalog objects are free).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from core.eks_versions import SupportStatus, eks_version, support_status
from core.terraform.document import Document, as_list, first_block, parse_document
from core.terraform.expressions import is_template, references

PRICES_FILE = "prices.json"


@dataclass(frozen=True)
class RegionPrices:
    """The list prices of one region."""

    region: str
    data: Mapping[str, Any]

    def price(self, name: str) -> float:
        return float(self.data[name])

    def instance_hour(self, instance_type: str) -> float | None:
        value = self.data["ec2_instance_hour"].get(instance_type)
        return None if value is None else float(value)

    def ebs_gb_month(self, volume_type: str) -> float | None:
        value = self.data["ebs_gb_month"].get(volume_type)
        return None if value is None else float(value)


@dataclass(frozen=True)
class PriceTable:
    data: Mapping[str, Any]

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def as_of(self) -> str:
        return str(self.data["as_of"])

    @property
    def hours(self) -> float:
        return float(self.data["hours_per_month"])

    @property
    def regions(self) -> list[str]:
        return list(self.data["regions"])

    def for_region(self, region: str) -> RegionPrices | None:
        """The prices of ``region``, or None when the table has none (never another region's)."""
        entry = self.data["regions"].get(region)
        return None if entry is None else RegionPrices(region, entry["prices"])

    def assumption(self, name: str) -> Any:
        return self.data["assumptions"][name]

    @property
    def label(self) -> str:
        return (
            f"price table v{self.version} (on-demand list prices for {', '.join(self.regions)}"
            f" as of {self.as_of})"
        )


@cache
def load_prices() -> PriceTable:
    text = resources.files("tenantml.preview").joinpath(PRICES_FILE).read_text(encoding="utf-8")
    return PriceTable(json.loads(text))


@dataclass(frozen=True)
class CostItem:
    address: str
    monthly: float
    #: how the figure was reached, e.g. ``1 x m6i.large (aws_launch_template.fleet) + 1 x 50 GB gp3``
    basis: str
    #: set when part of the resource could not be priced (unknown instance type, ...)
    unpriced: str = ""


@dataclass
class StackCost:
    region: str
    #: False when the price table has no prices for the region: nothing is priced, a note says so
    priced: bool = True
    items: dict[str, CostItem] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.items[a].monthly for a in sorted(self.items))


@dataclass(frozen=True)
class CostChange:
    address: str
    before: float
    after: float
    basis: str

    @property
    def delta(self) -> float:
        return self.after - self.before


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _fmt(value: float) -> str:
    return f"{value:g}"


def _money(value: float) -> str:
    return f"${value:,.2f}"


class _Estimator:
    def __init__(self, document: Document, prices: PriceTable, rates: RegionPrices, on: date) -> None:
        self.document = document
        self.prices = prices
        self.rates = rates
        self.on = on
        #: notes for the whole stack (the NAT processing an S3 endpoint saves, ...)
        self.notes: list[str] = []
        #: the address of the resource being estimated
        self.address = ""

    def body(self, address: str) -> Mapping[str, Any] | None:
        block = self.document.resources.get(address)
        return block.config if block is not None else None

    def hourly(self, name: str) -> float:
        return self.rates.price(name) * self.prices.hours

    def instances(self, count: float, instance_type: str | None, where: str = "") -> tuple[float, str, str]:
        label = f"{_fmt(count)} x {instance_type or '?'}{f' ({where})' if where else ''}"
        price = self.rates.instance_hour(instance_type) if instance_type else None
        if price is None:
            return 0.0, label, f"no price for instance type {instance_type!r}"
        return count * price * self.prices.hours, label, ""

    def disks(self, count: float, size_gb: float, volume_type: str) -> tuple[float, str, str]:
        price = self.rates.ebs_gb_month(volume_type)
        label = f"{_fmt(count)} x {_fmt(size_gb)} GB {volume_type}"
        if price is None:
            return 0.0, label, f"no price for EBS volume type {volume_type!r}"
        return count * size_gb * price, label, ""

    def estimate(
        self, address: str, resource_type: str, body: Mapping[str, Any]
    ) -> tuple[float, str, str] | None:
        method = getattr(self, f"_{resource_type}", None)
        self.address = address
        return method(body) if method else None

    # --- one method per priced resource type -------------------------------------------------

    def _aws_eks_cluster(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        version = str(body.get("version", ""))
        status = support_status(version, self.on) if not is_template(version) else SupportStatus.UNKNOWN
        window = eks_version(version)
        if window is None or status is SupportStatus.UNKNOWN:
            return (
                self.hourly("eks_cluster_hour"),
                f"EKS control plane (Kubernetes {version or '?'}), standard support assumed",
                f"no EKS support dates for Kubernetes {version or '?'} in core/eks_versions.py",
            )
        if status is SupportStatus.STANDARD:
            return (
                self.hourly("eks_cluster_hour"),
                f"EKS control plane (Kubernetes {version}, standard support until {window.end_of_standard})",
                "",
            )
        # EKS's API default is EXTENDED; STANDARD upgrades the cluster at the end of standard support
        policy = str(first_block(body, "upgrade_policy").get("support_type", "EXTENDED"))
        if status is SupportStatus.EXTENDED and policy == "STANDARD":
            basis = (
                f"EKS control plane (Kubernetes {version} past standard support on {window.end_of_standard}:"
                " upgrade_policy STANDARD upgrades it automatically)"
            )
            return self.hourly("eks_cluster_hour"), basis, ""
        if status is SupportStatus.EXTENDED:
            basis = (
                f"EKS control plane in extended support (Kubernetes {version}: standard support ended"
                f" {window.end_of_standard}, extended support until {window.end_of_extended})"
            )
        else:
            # EKS upgrades such a cluster to the oldest version still in extended support: still 6x
            basis = (
                f"EKS control plane in extended support (Kubernetes {version} left extended support on"
                f" {window.end_of_extended}: EKS upgrades it to the oldest version in extended support)"
            )
        return self.hourly("eks_extended_support_cluster_hour"), basis, ""

    def _aws_eks_node_group(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        scaling = first_block(body, "scaling_config")
        desired = _number(scaling.get("desired_size"), _number(scaling.get("min_size"), 1))
        types = as_list(body.get("instance_types")) or ["t3.medium"]  # EKS's default
        cost, label, unpriced = self.instances(desired, types[0])
        disk_gb = _number(body.get("disk_size"), self.prices.assumption("eks_node_disk_gb_when_unset"))
        disk_cost, disk_label, disk_unpriced = self.disks(
            desired, disk_gb, self.prices.assumption("eks_node_disk_type")
        )
        return cost + disk_cost, f"{label} + {disk_label}", unpriced or disk_unpriced

    def _aws_autoscaling_group(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        desired = _number(body.get("desired_capacity"), _number(body.get("min_size"), 0))
        spec = first_block(body, "launch_template")
        template_address = next(
            (
                r.address
                for key in ("id", "name")
                for r in references(spec.get(key, ""))
                if r.address.startswith("aws_launch_template.")
            ),
            "",
        )
        template = self.body(template_address) if template_address else None
        if template is None:
            return 0.0, f"{_fmt(desired)} instances", "launch template not found in the stack"
        cost, label, unpriced = self.instances(desired, template.get("instance_type"), template_address)
        parts = [label]
        for mapping in as_list(template.get("block_device_mappings")):
            ebs = first_block(mapping, "ebs") if isinstance(mapping, Mapping) else {}
            if ebs:
                disk_cost, disk_label, disk_unpriced = self.disks(
                    desired, _number(ebs.get("volume_size"), 8), str(ebs.get("volume_type", "gp3"))
                )
                cost += disk_cost
                parts.append(disk_label)
                unpriced = unpriced or disk_unpriced
        return cost, " + ".join(parts), unpriced

    def _aws_instance(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        return self.instances(1, body.get("instance_type"))

    def _aws_nat_gateway(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        total_gb = _number(self.prices.assumption("nat_gb_processed_per_month"), 0)
        s3_gb = total_gb * _number(self.prices.assumption("nat_s3_share"), 0)
        per_gb = self.rates.price("nat_gateway_gb")
        endpoint = self._s3_endpoint_around(self.address)
        processed = total_gb - s3_gb if endpoint else total_gb
        cost = self.hourly("nat_gateway_hour") + processed * per_gb
        basis = f"NAT gateway hours + {_fmt(processed)} GB processed (assumed {_fmt(total_gb)} GB/month"
        if endpoint:
            saved = s3_gb * per_gb
            basis += f"; its {_fmt(s3_gb)} GB of S3 traffic takes {endpoint}: {_money(saved)} saved)"
            self.notes.append(
                f"S3 gateway endpoint {endpoint}: {_fmt(s3_gb)} GB/month of S3 traffic skips the NAT gateway,"
                f" {_money(saved)}/month of NAT data processing saved"
            )
        else:
            basis += f", {_fmt(s3_gb)} GB of it S3 traffic: no S3 gateway endpoint)"
        return cost, basis, ""

    def _s3_endpoint_around(self, nat_address: str) -> str:
        """The S3 gateway endpoint on a route table that sends traffic to ``nat_address``, if any."""
        tables = set()
        for block in self.document.resources.values():
            if block.type == "aws_route" and any(
                r.address == nat_address for r in references(block.config.get("nat_gateway_id", ""))
            ):
                tables |= {r.address for r in references(block.config.get("route_table_id", ""))}
        for address, block in sorted(self.document.resources.items()):
            config = block.config
            if (
                block.type == "aws_vpc_endpoint"
                and str(config.get("vpc_endpoint_type", "Gateway")) == "Gateway"
                and str(config.get("service_name", "")).endswith(".s3")
                and tables & {r.address for r in references(config.get("route_table_ids", []))}
            ):
                return address
        return ""

    def _aws_eip(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        return self.hourly("public_ipv4_hour"), "public IPv4 address hours", ""

    def _aws_lb(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        kind = str(body.get("load_balancer_type", "application"))  # the provider's default
        if kind != "application":
            return 0.0, f"{kind} load balancer", f"no price for a {kind} load balancer"
        # LCUs follow traffic (new and active connections, bytes, rule evaluations): an assumption
        lcus = _number(self.prices.assumption("alb_lcu_per_hour"), 1)
        cost = self.hourly("alb_hour") + lcus * self.hourly("alb_lcu_hour")
        return cost, f"Application Load Balancer hours + {_fmt(lcus)} LCU per hour (assumed)", ""

    def _aws_kinesis_stream(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        mode = first_block(body, "stream_mode_details").get("stream_mode", "PROVISIONED")
        if mode == "ON_DEMAND":
            return (
                self.hourly("kinesis_on_demand_stream_hour"),
                "on-demand stream hours (data volume not counted)",
                "",
            )
        shards = _number(body.get("shard_count"), 1)
        cost = shards * self.hourly("kinesis_shard_hour")
        basis = f"{_fmt(shards)} shard(s)"
        if _number(body.get("retention_period"), 24) > 24:
            cost += shards * self.hourly("kinesis_extended_retention_shard_hour")
            basis += " + extended retention"
        return cost, basis, ""

    def _aws_kms_key(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        return self.rates.price("kms_key_month"), "1 customer managed key", ""

    def _aws_cloudwatch_metric_alarm(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        if _number(body.get("period"), 60) < 60:
            return self.rates.price("cloudwatch_high_resolution_alarm_month"), "1 high-resolution alarm", ""
        return self.rates.price("cloudwatch_alarm_month"), "1 standard alarm", ""

    def _aws_cloudwatch_log_group(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        ingested = _number(self.prices.assumption("log_gb_ingested_per_month"), 1)
        retention = _number(body.get("retention_in_days"), 0) or self.prices.assumption(
            "log_retention_days_when_unset"
        )
        stored = ingested * retention / 30
        cost = ingested * self.rates.price("logs_ingestion_gb") + stored * self.rates.price(
            "logs_storage_gb_month"
        )
        return (
            cost,
            f"{_fmt(ingested)} GB/month ingested, {_fmt(round(stored, 1))} GB kept ({_fmt(retention)} days)",
            "",
        )

    def _aws_s3_bucket(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        gb = _number(self.prices.assumption("s3_gb_per_bucket"), 0)
        return gb * self.rates.price("s3_standard_gb_month"), f"{_fmt(gb)} GB in S3 Standard (assumed)", ""

    def _aws_dynamodb_table(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        if body.get("billing_mode") == "PAY_PER_REQUEST":
            return 0.0, "on-demand capacity: no fixed charge (requests and storage not counted)", ""
        reads, writes = _number(body.get("read_capacity"), 0), _number(body.get("write_capacity"), 0)
        return (
            0.0,
            f"{_fmt(reads)} read + {_fmt(writes)} write capacity units provisioned",
            "no price for provisioned DynamoDB capacity in prices.json",
        )

    def _aws_lambda_function(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        invocations = _number(self.prices.assumption("lambda_invocations_per_month"), 0)
        duration = _number(self.prices.assumption("lambda_average_duration_seconds"), 1)
        memory_gb = _number(body.get("memory_size"), 128) / 1024
        cost = invocations / 1e6 * self.rates.price(
            "lambda_million_requests"
        ) + invocations * duration * memory_gb * self.rates.price("lambda_gb_second")
        return (
            cost,
            f"{invocations:,.0f} invocations x {_fmt(duration)} s x {_fmt(memory_gb * 1024)} MB (assumed)",
            "",
        )


def estimate_stack(
    doc: Mapping[str, Any], prices: PriceTable | None = None, on: date | None = None
) -> StackCost:
    """Monthly estimate of every priced resource in a synthesized document, on date ``on`` (today)."""
    prices = prices or load_prices()
    document = parse_document(doc)
    region = str(document.providers.get("aws", {}).get("region", ""))
    rates = None if not region or is_template(region) else prices.for_region(region)
    if rates is None:
        shown = region if region and not is_template(region) else "(not known before apply)"
        result = StackCost(shown, priced=False)
        result.notes.append(
            f"no price for region {shown}: the price table has {', '.join(prices.regions)};"
            " this stack is not priced"
        )
        return result
    result = StackCost(region)
    estimator = _Estimator(document, prices, rates, on or date.today())
    for address, block in sorted(document.resources.items()):
        estimate = estimator.estimate(address, block.type, block.config)
        if estimate is None:
            continue
        monthly, basis, unpriced = estimate
        result.items[address] = CostItem(address, monthly, basis, unpriced)
    result.notes.extend(estimator.notes)
    return result


def cost_changes(base: StackCost | None, head: StackCost | None) -> list[CostChange]:
    """Resources whose monthly estimate differs between base and head (created and destroyed included).

    None when either side is not priced (its region has no prices): every resource would look free.
    """
    if (base is not None and not base.priced) or (head is not None and not head.priced):
        return []
    before = base.items if base else {}
    after = head.items if head else {}
    changes = []
    for address in sorted(set(before) | set(after)):
        old = before[address].monthly if address in before else 0.0
        new = after[address].monthly if address in after else 0.0
        if round(new - old, 2) != 0:
            basis = (after.get(address) or before[address]).basis
            changes.append(CostChange(address, old, new, basis))
    return changes


def assumptions(prices: PriceTable | None = None, on: date | None = None) -> list[str]:
    """The assumptions behind every estimate, in words, for the report."""
    prices = prices or load_prices()
    a = prices.data["assumptions"]
    return [
        (
            f"{prices.label}; {_fmt(prices.hours)} hours per month; a stack in another region is not priced;"
            " prices marked 'assumed' in prices.json are estimates, not list prices"
        ),
        f"S3: {a['s3_gb_per_bucket']} GB per bucket in S3 Standard; requests and transfer not counted",
        (
            f"CloudWatch Logs: {a['log_gb_ingested_per_month']} GB ingested per log group per month, kept for its"
            f" retention ({a['log_retention_days_when_unset']} days when unset)"
        ),
        (
            f"Lambda: {a['lambda_invocations_per_month']:,} invocations per function per month,"
            f" {a['lambda_average_duration_seconds']} s each, at the function's memory size; no free tier"
        ),
        (
            "EC2 and EKS nodes: desired capacity x the hourly price of the first instance type, on demand;"
            f" EKS node disks {a['eks_node_disk_gb_when_unset']} GB {a['eks_node_disk_type']} unless set"
        ),
        (
            "EKS control plane: the extended-support rate when the cluster's Kubernetes version is past the end"
            f" of standard support on {(on or date.today()).isoformat()} (core/eks_versions.py)"
        ),
        (
            f"Application Load Balancer: hours plus {_fmt(a['alb_lcu_per_hour'])} LCU per hour (a light"
            " internal load: under 25 new connections per second and 1 GB processed per hour)"
        ),
        (
            "Kinesis: shard-hours (provisioned) or stream-hours (on demand); data volume not counted."
            f" NAT gateway: hours plus {a['nat_gb_processed_per_month']} GB processed per month, of which"
            f" {_fmt(100 * a['nat_s3_share'])}% is S3 traffic that an S3 gateway endpoint keeps off the gateway"
        ),
    ]
