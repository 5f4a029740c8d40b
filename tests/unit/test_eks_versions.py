"""EKS Kubernetes versions: the support table, and the spec accepting only versions in standard support."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from core import eks_versions
from core.eks_versions import SupportStatus, support_status
from core.errors import TenantSpecError
from core.spec import TenantSpec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 7)


def _fraud(**compute: object) -> dict:
    data = yaml.safe_load((ROOT / "tenants" / "fraud.yaml").read_text(encoding="utf-8"))
    data["compute"] = {**data["compute"], **compute}
    return data


@pytest.mark.parametrize(
    ("version", "on", "status"),
    [
        ("1.31", date(2025, 11, 25), SupportStatus.STANDARD),
        ("1.31", date(2025, 11, 26), SupportStatus.EXTENDED),  # the end date is the first day out
        ("1.31", TODAY, SupportStatus.UNSUPPORTED),  # extended support ended on 2026-11-26
        ("1.34", TODAY, SupportStatus.EXTENDED),  # standard support ended on 2026-12-02
        ("1.35", TODAY, SupportStatus.STANDARD),
        ("1.36", TODAY, SupportStatus.STANDARD),
        ("1.99", TODAY, SupportStatus.UNKNOWN),
    ],
)
def test_given_a_version_and_a_day_then_its_support_status_follows_the_calendar(version, on, status):
    assert support_status(version, on) is status


def test_given_the_table_then_every_window_is_standard_then_twelve_months_of_extended():
    for version, window in eks_versions.EKS_VERSIONS.items():
        end_standard, end_extended = window.end_of_standard, window.end_of_extended
        assert (end_extended.year - end_standard.year) * 12 + end_extended.month - end_standard.month == 12, (
            version
        )


def test_given_today_then_the_default_version_is_in_standard_support():
    assert support_status(eks_versions.DEFAULT_VERSION, TODAY) is SupportStatus.STANDARD
    assert eks_versions.versions_in_standard_support(TODAY) == ["1.35", "1.36"]


def test_given_no_version_then_an_eks_tenant_gets_the_default():
    data = _fraud()
    del data["compute"]["kubernetes_version"]
    spec = TenantSpec.model_validate(data, context={"today": TODAY})
    assert spec.compute.kubernetes_version == eks_versions.DEFAULT_VERSION


@pytest.mark.parametrize(
    ("version", "status"), [("1.31", "unsupported"), ("1.34", "extended"), ("1.29", "unsupported")]
)
def test_given_a_version_out_of_standard_support_then_the_spec_is_rejected_naming_it(version, status):
    with pytest.raises(ValueError) as raised:
        TenantSpec.model_validate(_fraud(kubernetes_version=version), context={"today": TODAY})
    message = str(raised.value)
    assert "compute.kubernetes_version" in message
    assert f"Kubernetes {version} is {status} in EKS support on 2026-12-07" in message
    assert "use one of 1.35, 1.36" in message


def test_given_an_unsupported_version_in_a_file_then_the_file_and_field_are_named():
    text = (ROOT / "tenants" / "fraud.yaml").read_text(encoding="utf-8").replace('"1.36"', '"1.31"')
    with pytest.raises(TenantSpecError) as raised:
        parse_spec(Path("fraud.yaml"), text)
    assert "fraud.yaml: compute.kubernetes_version: " in str(raised.value)


def test_given_an_ec2_tenant_then_the_kubernetes_version_is_not_checked():
    data = yaml.safe_load((ROOT / "tenants" / "churn.yaml").read_text(encoding="utf-8"))
    data["compute"]["kubernetes_version"] = "1.29"
    assert TenantSpec.model_validate(data, context={"today": TODAY}).compute.kind == "ec2"


@pytest.mark.parametrize(
    ("compute", "field", "message"),
    [
        (
            {"endpoint_public_access_cidrs": ["0.0.0.0/0"]},
            "endpoint_public_access_cidrs",
            "name the CI networks",
        ),
        ({"endpoint_public_access_cidrs": ["10.0.0.1/8"]}, "endpoint_public_access_cidrs", "not a network"),
        (
            {"cluster_access": {"deploy_role": "ci", "admin_roles": ["ops", "ci"]}},
            "cluster_access.admin_roles",
            "listed twice",
        ),
        ({"cluster_access": {"admin_roles": ["not a role!"]}}, "cluster_access.admin_roles.0", "pattern"),
    ],
)
def test_given_bad_cluster_access_settings_then_the_field_is_named(compute, field, message):
    with pytest.raises(ValueError) as raised:
        TenantSpec.model_validate(_fraud(**compute), context={"today": TODAY})
    assert f"compute.{field}" in str(raised.value)
    assert message in str(raised.value)


def test_given_a_tenant_named_like_a_kubernetes_stack_then_it_is_rejected():
    data = _fraud()
    data["name"] = "fraud-kubernetes"
    with pytest.raises(ValueError) as raised:
        TenantSpec.model_validate(data, context={"today": TODAY})
    assert "must not end in '-kubernetes'" in str(raised.value)


def test_given_a_version_without_published_dates_then_it_is_unknown_not_guessed():
    assert eks_versions.eks_version("1.37") is None
    assert support_status("1.37", TODAY) is SupportStatus.UNKNOWN
