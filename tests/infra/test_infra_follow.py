"""The EKS pods and the EC2 instances follow the registry's champion alias: their server config
(parsed by the image's own ``ServerConfig``) carries ``follow``, derived from the tenant spec."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from infra_support import EXAMPLE_TENANTS, only, synthesize_specs

from core.errors import ConstructPropsError, TenantSpecError
from core.follow import FOLLOW_MIN_REQUESTS
from core.naming import Naming
from core.spec import load_specs, parse_spec
from infra.kubernetes import EksServingProps
from infra.serving import FollowProps
from pipelines.serving.config import ServerConfig


@pytest.fixture(scope="module")
def specs():
    return {s.name: s for s in load_specs(EXAMPLE_TENANTS)}


@pytest.fixture(scope="module")
def stacks(specs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """fraud (EKS serving) and churn (an EC2 fleet) as in tenants/."""
    chosen = [specs["fraud"], specs["churn"]]
    return {t: s.doc for t, s in synthesize_specs(chosen, tmp_path_factory.mktemp("out")).items()}


def _assert_follows(config: ServerConfig, spec) -> None:
    assert config.follow is not None
    assert (config.source.kind, config.source.alias) == ("registry", "champion")
    assert config.alias_poll_seconds is None  # the follower waits for the first champion itself
    policy = config.follow.policy()
    assert policy.max_error_rate == spec.monitoring.error_rate
    assert policy.max_p99_ms == spec.monitoring.latency_p99_ms
    assert policy.min_requests == FOLLOW_MIN_REQUESTS
    assert policy.bake_seconds == spec.serving.bake_minutes * 60
    assert (config.follow.strategy, config.follow.canary_weight) == (
        "canary",
        spec.serving.canary_percent / 100,
    )


def test_the_eks_deployment_follows_the_champion_in_one_process(stacks, specs):
    # when fraud's Kubernetes stack is synthesized
    pod = only(stacks["fraud-kubernetes"], "kubernetes_deployment_v1")["spec"][0]["template"][0]["spec"][0]
    [container] = pod["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # then its server config parses with the image's own model and follows under fraud's guardrails
    _assert_follows(ServerConfig.model_validate_json(env["TENANTML_SERVING_CONFIG"]), specs["fraud"])
    assert container["args"][-2:] == ["--workers", "1"]


def test_the_ec2_instances_follow_the_champion_in_one_process(stacks, specs):
    # when churn's stack (an EC2 fleet) is synthesized
    script = base64.b64decode(only(stacks["churn"], "aws_launch_template")["user_data"]).decode()
    # then the instances' server config follows under churn's guardrails
    env_line = next(line for line in script.splitlines() if line.startswith("TENANTML_SERVING_CONFIG="))
    _assert_follows(ServerConfig.model_validate_json(env_line.split("=", 1)[1]), specs["churn"])
    run = next(line for line in script.splitlines() if line.startswith("docker run "))
    assert run.endswith("serve --port 8080 --workers 1")


def test_a_spec_asking_for_several_workers_is_refused_naming_the_field():
    text = (EXAMPLE_TENANTS / "fraud.yaml").read_text().replace("workers: 1", "workers: 2")
    with pytest.raises(TenantSpecError) as raised:
        parse_spec(Path("fraud.yaml"), text)
    assert "serving.workers: must be 1: the servers on EKS pods and EC2 instances follow" in str(raised.value)


def test_a_following_deployment_with_several_workers_is_refused_naming_the_field():
    follow = FollowProps(bake_seconds=600, max_error_rate=0.01, max_p99_ms=250, min_requests=50)
    with pytest.raises(ConstructPropsError) as raised:
        EksServingProps(
            naming=Naming(tenant="acme", environment="dev", region="eu-west-1"),
            model_name="churn",
            image_uri="repo:1.0",
            model_package_group="tenantml-acme-dev-churn",
            stream_name="tenantml-acme-dev-inference",
            role_arn="arn:aws:iam::123456789012:role/serving",
            workers=2,
            follow=follow,
        )
    assert "workers: must be 1: a server that follows the champion alias runs in one process" in str(
        raised.value
    )


def test_out_of_range_follow_props_are_refused_naming_every_field():
    with pytest.raises(ConstructPropsError) as raised:
        FollowProps(bake_seconds=0, max_error_rate=2, max_p99_ms=250, min_requests=0, canary_percent=80)
    message = str(raised.value)
    for field in (
        "follow.bake_seconds",
        "follow.max_error_rate",
        "follow.min_requests",
        "follow.canary_percent",
    ):
        assert field in message
