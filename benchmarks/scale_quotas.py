"""What one tenant uses of the AWS quotas that bind at scale, counted from the synthesized stacks.

Synthesizes the example tenants (``tenants/``; or ``--tenants DIR``) into a temporary directory,
counts the quota-relevant resources of each tenant stack, prices each stack with the preview's
cost estimate, and prints the Markdown tables that docs/scale.md quotes, so its counts stay true:

    .venv/bin/python benchmarks/scale_quotas.py [--tenants DIR] [--as-of 2026-12-07]

The "1,000 tenants, one account" column assumes half the tenants are like each example.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Resources = dict[str, dict[str, Any]]


def _count(kind: str) -> Callable[[Resources], int]:
    return lambda resources: len(resources.get(kind, {}))


def _sum(kind: str, field: str) -> Callable[[Resources], int]:
    return lambda resources: sum(int(r.get(field) or 0) for r in resources.get(kind, {}).values())


def _on_demand_streams(resources: Resources) -> int:
    streams = resources.get("aws_kinesis_stream", {}).values()
    return sum(
        1 for s in streams if (s.get("stream_mode_details") or [{}])[0].get("stream_mode") == "ON_DEMAND"
    )


#: (quota, what counts against it)
QUOTAS: list[tuple[str, Callable[[Resources], int]]] = [
    ("IAM roles (per account)", _count("aws_iam_role")),
    ("IAM customer managed policies (per account)", _count("aws_iam_policy")),
    ("IAM OIDC providers (per account)", _count("aws_iam_openid_connect_provider")),
    ("Lambda functions", _count("aws_lambda_function")),
    (
        "Lambda reserved concurrency (per Region)",
        _sum("aws_lambda_function", "reserved_concurrent_executions"),
    ),
    ("KMS customer managed keys (per Region)", _count("aws_kms_key")),
    ("SNS standard topics (per account)", _count("aws_sns_topic")),
    ("Kinesis provisioned shards (per Region)", _sum("aws_kinesis_stream", "shard_count")),
    ("Kinesis on-demand streams (per Region)", _on_demand_streams),
    ("EKS clusters (per Region)", _count("aws_eks_cluster")),
    ("EKS managed node groups", _count("aws_eks_node_group")),
    ("Step Functions state machines (per Region)", _count("aws_sfn_state_machine")),
    ("S3 general purpose buckets (per account)", _count("aws_s3_bucket")),
    ("CloudWatch metric alarms (per Region)", _count("aws_cloudwatch_metric_alarm")),
    ("VPCs (per Region)", _count("aws_vpc")),
    ("NAT gateways (per AZ)", _count("aws_nat_gateway")),
    ("Elastic IP addresses (per Region)", _count("aws_eip")),
    ("Application Load Balancers (per Region)", _count("aws_lb")),
    ("SageMaker model package groups", _count("aws_sagemaker_model_package_group")),
]


def synthesize(tenants: Path, out: Path) -> dict[str, dict[str, Any]]:
    from core.platform import default_platform_file, load_platform
    from core.spec import load_specs
    from tenantml.synthesis import synth

    results = synth(load_specs(tenants), out, load_platform(default_platform_file(tenants)))
    return {r.stack: json.loads(r.path.read_text(encoding="utf-8")) for r in results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=Path, default=ROOT / "tenants")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    args = parser.parse_args()

    from tenantml.preview.cost import estimate_stack

    with tempfile.TemporaryDirectory() as tmp:
        stacks = synthesize(args.tenants, Path(tmp) / "out")
    tenants = sorted(s for s in stacks if not s.endswith("-kubernetes"))
    resources = {t: stacks[t].get("resource", {}) for t in tenants}

    print("| quota | " + " | ".join(f"`{t}`" for t in tenants) + " | 1,000 tenants, one account |")
    print("| --- |" + " ---: |" * (len(tenants) + 1))
    for name, count in QUOTAS:
        per_tenant = [count(resources[t]) for t in tenants]
        pooled = round(sum(per_tenant) / len(per_tenant) * 1000)
        print(f"| {name} | " + " | ".join(str(n) for n in per_tenant) + f" | {pooled:,} |")
    print()
    print(f"| tenant (stacks) | resources | idle monthly estimate as of {args.as_of} |")
    print("| --- | ---: | ---: |")
    for tenant in tenants:
        own = [s for s in stacks if s == tenant or s == f"{tenant}-kubernetes"]
        count = sum(sum(len(v) for v in stacks[s].get("resource", {}).values()) for s in own)
        total = sum(estimate_stack(stacks[s], on=args.as_of).total for s in own)
        print(f"| `{tenant}` ({', '.join(own)}) | {count} | ${total:,.2f} |")


if __name__ == "__main__":
    main()
