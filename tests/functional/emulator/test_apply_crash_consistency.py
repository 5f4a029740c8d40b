"""A killed apply (SIGKILL at every resource boundary) re-applied ends exactly like a clean apply.

The apply runs in a subprocess against the emulator of this process; it kills itself
(``TENANTML_EMULATOR_KILL_AFTER``) at the worst moment: its change made in the emulator, the
result not yet in the state. Each run first settles what the previous, killed one left, then
makes one change and dies: one run per resource of churn's stack, so every boundary is hit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.terraform.diff import Action
from tenantml.emulator.apply import KILL_AFTER_ENV, apply, destroy
from tenantml.emulator.session import AwsSession
from tenantml.emulator.state import load_state

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
#: one apply run in a subprocess, as `tenantml apply` would run it
APPLY = (
    "import sys; from pathlib import Path;"
    "from tenantml.emulator.apply import apply; from tenantml.emulator.session import make_session;"
    "apply(Path(sys.argv[1]), Path(sys.argv[2]), make_session(sys.argv[3], 'eu-west-1'))"
)


def inventory(aws: AwsSession) -> dict[str, Any]:
    """What exists in the emulator, with AWS-made ids left out (they differ from run to run)."""

    def client(service: str) -> Any:
        return aws.client(service, REGION)

    ec2, iam, lam = client("ec2"), aws.client("iam"), client("lambda")
    kms = client("kms")
    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]
    vpc_ids = [v["VpcId"] for v in vpcs]
    in_vpcs = [{"Name": "vpc-id", "Values": vpc_ids}]
    tables = ec2.describe_route_tables(Filters=in_vpcs)["RouteTables"]
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    functions = [f["FunctionName"] for f in lam.list_functions()["Functions"]]

    def statements(name: str) -> list[str]:
        try:
            return sorted(
                s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
            )
        except lam.exceptions.ResourceNotFoundException:
            return []

    return {
        "buckets": sorted(b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]),
        "roles": sorted(roles),
        "role_policies": {r: sorted(iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in roles},
        "policies": sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]),
        "instance_profiles": sorted(
            p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        ),
        "usable_keys": sum(
            kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
            for k in kms.list_keys()["Keys"]
        ),
        "aliases": sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"] if "TargetKeyId" in a),
        "streams": client("kinesis").list_streams()["StreamNames"],
        "topics": sorted(t["TopicArn"] for t in client("sns").list_topics()["Topics"]),
        "subscriptions": sorted(
            (s["TopicArn"], s["Protocol"], s["Endpoint"])
            for s in client("sns").list_subscriptions()["Subscriptions"]
        ),
        "queues": sorted(client("sqs").list_queues().get("QueueUrls", [])),
        "functions": sorted(functions),
        "permissions": {f: statements(f) for f in functions},
        "invoke_configs": sorted(
            f
            for f in functions
            if lam.list_function_event_invoke_configs(FunctionName=f)["FunctionEventInvokeConfigs"]
        ),
        "event_source_mappings": sorted(
            (m["EventSourceArn"], m["FunctionArn"])
            for m in lam.list_event_source_mappings()["EventSourceMappings"]
        ),
        "log_groups": sorted(g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]),
        "alarms": sorted(a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]),
        "repositories": sorted(
            r["repositoryName"] for r in client("ecr").describe_repositories()["repositories"]
        ),
        "model_package_groups": sorted(
            g["ModelPackageGroupName"]
            for g in client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
        ),
        "launch_templates": sorted(
            t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ),
        "autoscaling_groups": sorted(
            g["AutoScalingGroupName"]
            for g in client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        ),
        "vpcs": sorted(v["CidrBlock"] for v in vpcs),
        "subnets": sorted(s["CidrBlock"] for s in ec2.describe_subnets(Filters=in_vpcs)["Subnets"]),
        "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "elastic_ips": len(ec2.describe_addresses()["Addresses"]),
        "nat_gateways": sum(n["State"] != "deleted" for n in ec2.describe_nat_gateways()["NatGateways"]),
        "route_tables": sorted(
            (
                len(t.get("Associations", [])),
                tuple(sorted(r.get("DestinationCidrBlock", "") for r in t.get("Routes", []))),
            )
            for t in tables
        ),
        "security_groups": sorted(
            (g["GroupName"], len(g.get("IpPermissions", [])), len(g.get("IpPermissionsEgress", [])))
            for g in ec2.describe_security_groups(Filters=in_vpcs)["SecurityGroups"]
        ),
    }


def shape(state_file: Path) -> dict[str, Any]:
    """The state with AWS-made ids left out: every address, its type and which attributes it has."""
    state = load_state(state_file)
    assert state.intents == {}
    return {e.address: (e.type, sorted(e.attributes), sorted(e.dependencies)) for e in state}


# one subprocess per resource of the stack (~100): minutes, not the suite's 300 s per test
@pytest.mark.timeout(1800)
def test_given_churn_applied_by_processes_killed_at_every_resource_boundary_then_it_matches_a_clean_apply(
    aws, emulator, out_dir, tmp_path
):
    stack = out_dir / "stacks" / "churn" / "cdk.tf.json"
    resources = sum(len(v) for v in json.loads(stack.read_text())["resource"].values())

    # given: what a clean apply leaves
    clean_state = tmp_path / "clean.json"
    apply(stack, clean_state, aws)
    expected_inventory, expected_shape = inventory(aws), shape(clean_state)
    destroy(clean_state, aws)
    assert inventory(aws)["buckets"] == []

    # when: applied by processes that each SIGKILL themselves right after their first change
    state_file = tmp_path / "churn.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), KILL_AFTER_ENV: "1"}
    outcomes: Counter[int] = Counter()
    for _ in range(resources + 1):
        run = subprocess.run(
            [sys.executable, "-c", APPLY, str(stack), str(state_file), emulator.endpoint],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outcomes[run.returncode] += 1
        assert run.returncode in (0, -signal.SIGKILL), run.stderr
        if run.returncode == 0:
            break
        assert load_state(state_file).intents, "killed after a change whose intent is not in the state"

    # then: one kill per resource, the last run only settled the last one, and everything matches
    assert outcomes == {-signal.SIGKILL: resources, 0: 1}
    assert shape(state_file) == expected_shape
    assert inventory(aws) == expected_inventory
    again = apply(stack, state_file, aws)
    assert again.applied == () and again.notes == ()


def test_given_an_intent_recorded_and_the_process_killed_before_the_call_when_re_applied_then_it_is_created_once(
    aws, emulator, out_dir, tmp_path
):
    stack = out_dir / "stacks" / "churn" / "cdk.tf.json"
    # counted from the stack, not written down: the example stack grows as the platform does
    resources = sum(len(v) for v in json.loads(stack.read_text())["resource"].values())
    state_file = tmp_path / "churn.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), KILL_AFTER_ENV: "5:intent"}
    run = subprocess.run(
        [sys.executable, "-c", APPLY, str(stack), str(state_file), emulator.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    state = load_state(state_file)
    assert len(state) == 4 and len(state.intents) == 1
    (pending,) = state.intents

    result = apply(stack, state_file, aws)

    assert f"{pending}: an interrupted apply had not created it yet" in result.notes
    assert Counter(c.action for c in result.applied) == {Action.CREATE: resources - 4}
    assert pending in {c.address for c in result.applied}
    assert len(load_state(state_file)) == resources and load_state(state_file).intents == {}
