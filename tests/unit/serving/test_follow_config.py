"""``ServerConfig.follow``: only a server of the registry's champion alias can follow it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from core.errors import ServingConfigError
from pipelines.serving.config import CONFIG_ENV, FollowConfig, ServerConfig
from pipelines.serving.loader import DirectorySource, RegistrySource

GROUP = "tenantml-acme-dev-churn"


def test_a_champion_alias_source_follows_with_production_defaults():
    # given a follow config with nothing set but the champion source, sent as JSON (as the stacks write it)
    text = json.dumps(
        {"source": {"kind": "registry", "group": GROUP, "alias": "champion"}, "follow": {"poll_seconds": 30}}
    )
    # when the server reads it
    config = ServerConfig.from_env({CONFIG_ENV: text})
    # then it follows, under a canary bake of the policy it describes
    assert config.follow is not None and config.follow.strategy == "canary"
    policy = config.follow.policy()
    assert (policy.bake_seconds, policy.min_requests, policy.max_error_rate) == (600.0, 50, 0.01)


@pytest.mark.parametrize(
    "source",
    [
        DirectorySource(path="/opt/ml/model"),
        RegistrySource(group=GROUP, version=3),
        RegistrySource(group=GROUP, alias="previous"),
    ],
    ids=["directory", "pinned-version", "other-alias"],
)
def test_follow_without_the_champion_alias_is_refused_naming_the_field(source):
    # when a follow config names a source that is not the champion alias
    with pytest.raises(ValidationError) as raised:
        ServerConfig(source=source, follow=FollowConfig())
    # then the error names the field and what it needs
    message = str(raised.value)
    assert "follow: follows the registry's 'champion' alias" in message
    assert source.describe() in message


def test_from_env_reports_a_follow_without_alias_as_a_serving_config_error():
    text = json.dumps({"source": {"kind": "directory", "path": "/opt/ml/model"}, "follow": {}})
    with pytest.raises(ServingConfigError, match=f"(?s){CONFIG_ENV} is not a valid server config.*follow:"):
        ServerConfig.from_env({CONFIG_ENV: text})


def test_follow_refuses_alias_poll_seconds_instead_of_ignoring_it():
    source = RegistrySource(group=GROUP, alias="champion")
    with pytest.raises(ValidationError, match="follow: a follower waits for the champion itself"):
        ServerConfig(source=source, follow=FollowConfig(), alias_poll_seconds=5)


@pytest.mark.parametrize(
    ("field", "value"), [("canary_weight", 1.0), ("poll_seconds", 0), ("min_requests", 0)]
)
def test_out_of_range_follow_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        FollowConfig(**{field: value})
