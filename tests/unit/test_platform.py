"""Platform settings (platform.yaml): the one state region, the state bucket names, the default account."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TenantSpecError
from core.platform import (
    PlatformSpec,
    default_platform_file,
    load_platform,
    state_accounts,
    state_bucket_name,
    state_problems,
)
from core.spec import load_specs

ROOT = Path(__file__).resolve().parents[2]


def test_given_no_platform_file_when_loaded_then_the_defaults_apply(tmp_path: Path):
    # when
    platform = load_platform(tmp_path / "platform.yaml")

    # then
    assert platform == PlatformSpec()
    assert platform.state.region == "us-east-1"
    assert platform.state.key_prefix == "tenants"
    assert platform.default_account_id is None


def test_given_the_repositorys_platform_file_then_it_sits_beside_the_tenants_and_loads():
    # when
    path = default_platform_file(ROOT / "tenants")

    # then
    assert path == ROOT / "platform.yaml"
    assert load_platform(path).state.region == "us-east-1"


def test_given_a_platform_file_when_loaded_then_its_settings_are_used(tmp_path: Path):
    # given
    path = tmp_path / "platform.yaml"
    path.write_text(
        'state:\n  region: eu-central-1\n  key_prefix: org/ml\ndefault_account_id: "210987654321"\n'
    )

    # when
    platform = load_platform(path)

    # then
    assert platform.state.region == "eu-central-1"
    assert platform.state.key_prefix == "org/ml"
    assert platform.default_account_id == "210987654321"


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("state:\n  region: Europe\n", "state.region"),
        ("state:\n  key_prefix: /abs//path\n", "state.key_prefix"),
        ("default_account_id: 12345\n", "default_account_id"),
        ("state:\n  bucket: mine\n", "state.bucket"),
        ("- a list\n", "platform.yaml"),
        ("state: [unclosed\n", "platform.yaml"),
    ],
)
def test_given_a_bad_platform_file_when_loaded_then_the_error_names_the_file_and_field(
    tmp_path: Path, text: str, location: str
):
    # given
    path = tmp_path / "platform.yaml"
    path.write_text(text)

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_platform(path)

    # then
    assert caught.value.exit_code == 2
    assert "invalid platform settings" in str(caught.value)
    assert any(str(path) in p.location and location in p.location for p in caught.value.problems)


def test_given_an_oversized_platform_file_when_loaded_then_it_is_refused_unread(tmp_path: Path):
    # given
    path = tmp_path / "platform.yaml"
    path.write_text("# " + "x" * 70_000 + "\n")

    # when / then
    with pytest.raises(TenantSpecError, match="bytes"):
        load_platform(path)


def test_given_an_account_and_region_then_the_state_bucket_is_named_with_both():
    assert state_bucket_name("111122223333", "us-east-1") == "tenantml-tfstate-111122223333-us-east-1"
    # the longest regions still fit S3's 63 characters
    assert len(state_bucket_name("111122223333", "ap-southeast-5")) <= 63


def test_given_a_tenant_without_an_account_then_remote_state_is_refused_unless_the_platform_names_one():
    # given
    specs = [s.model_copy(update={"account_id": None}) for s in load_specs(ROOT / "tenants")]

    # when
    problems = state_problems(specs, PlatformSpec())

    # then: each tenant is named, and the default account or disabling remote state fixes it
    assert [p.location for p in problems] == [
        "tenant churn: account_id",
        "tenant fraud: account_id",
        "tenant shop: account_id",
    ]
    with pytest.raises(TenantSpecError, match="tenant churn: account_id"):
        state_accounts(specs, PlatformSpec())
    assert state_accounts(specs, PlatformSpec(default_account_id="210987654321")) == ["210987654321"]
    local = [s.model_copy(update={"state": s.state.model_copy(update={"enabled": False})}) for s in specs]
    assert state_problems(local, PlatformSpec()) == []
    assert state_accounts(local, PlatformSpec()) == []
