"""A rough monthly cost estimate for a synthesized stack, from a versioned price table.

This is an **estimate** for comparing a change against its base, not a bill. Prices are the
us-east-1 on-demand list prices in ``prices.json`` (its ``version`` and ``as_of`` date are
shown in every report); other regions use a multiplier from that file when it has one and
us-east-1 prices otherwise. Usage-driven charges are estimated from the documented
assumptions in ``prices.json`` (``assumptions``): GB stored per bucket, GB of logs per log
group, Lambda invocations and duration. Data transfer, request charges of S3/SQS/SNS/KMS, NAT
data processing and free tiers are not counted; resources with no hourly or monthly charge
(IAM, VPC, subnets, routes, SQS queues and SNS topics at low volume, registries) cost 0.

What is priced, per month (``hours_per_month`` hours):

* ``aws_eks_cluster``: the control plane per hour;
* ``aws_eks_node_group``: desired size x the hourly price of the *first* instance type, plus
  each node's disk (``disk_size`` or the assumed size);
* ``aws_autoscaling_group``: desired capacity (else min size) x the hourly price of its launch
  template's ``instance_type``, plus the template's EBS volumes per instance;
* ``aws_nat_gateway`` and ``aws_eip`` (public IPv4 address) per hour;
* ``aws_kinesis_stream``: provisioned shards per shard-hour (plus extended retention beyond
  24 h per shard-hour), or on-demand per stream-hour (data volume not counted);
* ``aws_kms_key`` per key-month; ``aws_cloudwatch_metric_alarm`` per alarm-month
  (high-resolution when the period is under 60 s);
* ``aws_cloudwatch_log_group``: assumed ingestion plus the storage it accumulates over its
  retention; ``aws_s3_bucket``: assumed GB in S3 Standard; ``aws_lambda_function``: assumed
  invocations x duration x memory plus requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from core.terraform.document import Document, as_list, first_block, parse_document
from core.terraform.expressions import is_template, references

PRICES_FILE = "prices.json"


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

    def price(self, name: str) -> float:
        return float(self.data["prices"][name])

    def instance_hour(self, instance_type: str) -> float | None:
        value = self.data["prices"]["ec2_instance_hour"].get(instance_type)
        return None if value is None else float(value)

    def ebs_gb_month(self, volume_type: str) -> float | None:
        value = self.data["prices"]["ebs_gb_month"].get(volume_type)
        return None if value is None else float(value)

    def assumption(self, name: str) -> Any:
        return self.data["assumptions"][name]

    def multiplier(self, region: str) -> float | None:
        value = self.data.get("region_multipliers", {}).get(region)
        return None if value is None else float(value)

    @property
    def label(self) -> str:
        return f"price table v{self.version} ({self.data['region']} on-demand list prices as of {self.as_of})"


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
    multiplier: float
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


class _Estimator:
    def __init__(self, document: Document, prices: PriceTable) -> None:
        self.document = document
        self.prices = prices

    def body(self, address: str) -> Mapping[str, Any] | None:
        block = self.document.resources.get(address)
        return block.config if block is not None else None

    def hourly(self, name: str) -> float:
        return self.prices.price(name) * self.prices.hours

    def instances(self, count: float, instance_type: str | None, where: str = "") -> tuple[float, str, str]:
        label = f"{_fmt(count)} x {instance_type or '?'}{f' ({where})' if where else ''}"
        price = self.prices.instance_hour(instance_type) if instance_type else None
        if price is None:
            return 0.0, label, f"no price for instance type {instance_type!r}"
        return count * price * self.prices.hours, label, ""

    def disks(self, count: float, size_gb: float, volume_type: str) -> tuple[float, str, str]:
        price = self.prices.ebs_gb_month(volume_type)
        label = f"{_fmt(count)} x {_fmt(size_gb)} GB {volume_type}"
        if price is None:
            return 0.0, label, f"no price for EBS volume type {volume_type!r}"
        return count * size_gb * price, label, ""

    def estimate(self, resource_type: str, body: Mapping[str, Any]) -> tuple[float, str, str] | None:
        method = getattr(self, f"_{resource_type}", None)
        return method(body) if method else None

    # --- one method per priced resource type -------------------------------------------------

    def _aws_eks_cluster(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        return self.hourly("eks_cluster_hour"), "EKS control plane", ""

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
        return self.hourly("nat_gateway_hour"), "NAT gateway hours (data processing not counted)", ""

    def _aws_eip(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        return self.hourly("public_ipv4_hour"), "public IPv4 address hours", ""

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
        return self.prices.price("kms_key_month"), "1 customer managed key", ""

    def _aws_cloudwatch_metric_alarm(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        if _number(body.get("period"), 60) < 60:
            return self.prices.price("cloudwatch_high_resolution_alarm_month"), "1 high-resolution alarm", ""
        return self.prices.price("cloudwatch_alarm_month"), "1 standard alarm", ""

    def _aws_cloudwatch_log_group(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        ingested = _number(self.prices.assumption("log_gb_ingested_per_month"), 1)
        retention = _number(body.get("retention_in_days"), 0) or self.prices.assumption(
            "log_retention_days_when_unset"
        )
        stored = ingested * retention / 30
        cost = ingested * self.prices.price("logs_ingestion_gb") + stored * self.prices.price(
            "logs_storage_gb_month"
        )
        return (
            cost,
            f"{_fmt(ingested)} GB/month ingested, {_fmt(round(stored, 1))} GB kept ({_fmt(retention)} days)",
            "",
        )

    def _aws_s3_bucket(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        gb = _number(self.prices.assumption("s3_gb_per_bucket"), 0)
        return gb * self.prices.price("s3_standard_gb_month"), f"{_fmt(gb)} GB in S3 Standard (assumed)", ""

    def _aws_lambda_function(self, body: Mapping[str, Any]) -> tuple[float, str, str]:
        invocations = _number(self.prices.assumption("lambda_invocations_per_month"), 0)
        duration = _number(self.prices.assumption("lambda_average_duration_seconds"), 1)
        memory_gb = _number(body.get("memory_size"), 128) / 1024
        cost = invocations / 1e6 * self.prices.price(
            "lambda_million_requests"
        ) + invocations * duration * memory_gb * self.prices.price("lambda_gb_second")
        return (
            cost,
            f"{invocations:,.0f} invocations x {_fmt(duration)} s x {_fmt(memory_gb * 1024)} MB (assumed)",
            "",
        )


def estimate_stack(doc: Mapping[str, Any], prices: PriceTable | None = None) -> StackCost:
    """Monthly estimate of every priced resource in a synthesized document."""
    prices = prices or load_prices()
    document = parse_document(doc)
    region = str(document.providers.get("aws", {}).get("region", prices.data["region"]))
    if is_template(region):
        region = prices.data["region"]
    multiplier = prices.multiplier(region)
    result = StackCost(region, multiplier if multiplier is not None else 1.0)
    if multiplier is None:
        result.notes.append(f"no price multiplier for {region}: {prices.data['region']} prices used")
    estimator = _Estimator(document, prices)
    for address, block in sorted(document.resources.items()):
        estimate = estimator.estimate(block.type, block.config)
        if estimate is None:
            continue
        monthly, basis, unpriced = estimate
        result.items[address] = CostItem(address, monthly * result.multiplier, basis, unpriced)
    return result


def cost_changes(base: StackCost | None, head: StackCost | None) -> list[CostChange]:
    """Resources whose monthly estimate differs between base and head (created and destroyed included)."""
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


def assumptions(prices: PriceTable | None = None) -> list[str]:
    """The assumptions behind every estimate, in words, for the report."""
    prices = prices or load_prices()
    a = prices.data["assumptions"]
    return [
        (
            f"{prices.label}; {_fmt(prices.hours)} hours per month; other regions use us-east-1 prices"
            " unless the table has a multiplier"
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
            "Kinesis: shard-hours (provisioned) or stream-hours (on demand); data volume not counted."
            " NAT gateway: hours only, data processing not counted"
        ),
    ]
