"""The preview's cost estimate on the example tenants' real synthesized stacks: each region's own
prices, EKS extended support by date, and NAT data processing with and without the S3 endpoint."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from infra_support import SynthesizedStack, bodies, synthesize_specs

from core.spec import TenantSpec
from tenantml.preview.cost import cost_changes, estimate_stack, load_prices

TODAY = date(2026, 12, 7)
HOURS = 730
NAT = "aws_nat_gateway.network_nat"
CLUSTER = "aws_eks_cluster.cluster"


def _variant(specs: list[TenantSpec], name: str, tmp_path, **compute_or_top) -> SynthesizedStack:
    """One example tenant with top-level or ``compute`` fields changed, synthesized."""
    data = next(s for s in specs if s.name == name).model_dump(mode="json")
    for key, value in compute_or_top.items():
        if key in data["compute"]:
            data["compute"][key] = value
        else:
            data[key] = value
    # validated as of a day when every version the tests price was still in standard support: the spec
    # refuses older versions at synth time, while the estimate prices a cluster as of a later day
    spec = TenantSpec.model_validate(data, context={"today": date(2025, 1, 1)})
    return synthesize_specs([spec], tmp_path)[name]


def _with_support_type(doc: dict, support_type: str) -> dict:
    changed = copy.deepcopy(doc)
    changed["resource"]["aws_eks_cluster"]["cluster"]["upgrade_policy"] = [{"support_type": support_type}]
    return changed


# --- region -----------------------------------------------------------------------------------


def test_given_churn_in_eu_west_1_when_estimated_then_eu_west_1_prices_are_used(
    example_stacks, example_specs, tmp_path
):
    prices = load_prices()
    ireland, virginia = prices.for_region("eu-west-1"), prices.for_region("us-east-1")
    assert ireland is not None and virginia is not None

    # when churn (eu-west-1) is estimated, and the same tenant moved to us-east-1
    churn = estimate_stack(_variant(example_specs, "churn", tmp_path / "ie").doc, prices, TODAY)
    moved = estimate_stack(
        _variant(example_specs, "churn", tmp_path / "us", region="us-east-1").doc,
        prices,
        TODAY,
    )

    # then each is priced in its own region, with no note about borrowed prices
    assert (churn.region, churn.priced, moved.region) == ("eu-west-1", True, "us-east-1")
    fleet = "aws_autoscaling_group.fleet_group"
    assert churn.items[fleet].monthly == pytest.approx(
        HOURS * ireland.instance_hour("m6i.large") + 50 * ireland.ebs_gb_month("gp3")
    )
    assert moved.items[fleet].monthly == pytest.approx(
        HOURS * virginia.instance_hour("m6i.large") + 50 * virginia.ebs_gb_month("gp3")
    )
    assert churn.items["aws_eip.network_nat_ip"].monthly == pytest.approx(HOURS * 0.005)
    # and Ireland costs more than Virginia, resource by resource where prices differ
    assert churn.items[fleet].monthly > moved.items[fleet].monthly
    assert churn.items[NAT].monthly > moved.items[NAT].monthly
    assert churn.total > moved.total
    assert not any("no price" in n for n in churn.notes + moved.notes)


def test_given_a_region_without_prices_when_estimated_then_it_is_named_and_nothing_is_priced(
    example_specs, tmp_path
):
    stack = _variant(example_specs, "churn", tmp_path, region="ap-southeast-2")

    cost = estimate_stack(stack.doc, load_prices(), TODAY)

    assert (cost.priced, cost.total, cost.items) == (False, 0, {})
    assert cost.notes[0].startswith("no price for region ap-southeast-2: the price table has us-east-1,")


# --- EKS extended support --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fraud_135(example_specs, tmp_path_factory) -> SynthesizedStack:
    """fraud (EKS, us-east-1) on Kubernetes 1.35: standard support until 2027-03-27."""
    return _variant(example_specs, "fraud", tmp_path_factory.mktemp("fraud135"), kubernetes_version="1.35")


@pytest.mark.parametrize(
    ("on", "hourly", "basis"),
    [
        (TODAY, 0.10, "EKS control plane (Kubernetes 1.35, standard support until 2027-03-27)"),
        (
            date(2027, 3, 27),
            0.60,
            (
                "EKS control plane in extended support (Kubernetes 1.35: standard support ended 2027-03-27,"
                " extended support until 2028-03-27)"
            ),
        ),
        (
            date(2028, 4, 1),
            0.60,
            (
                "EKS control plane in extended support (Kubernetes 1.35 left extended support on 2028-03-27:"
                " EKS upgrades it to the oldest version in extended support)"
            ),
        ),
    ],
    ids=["standard", "extended", "past-extended"],
)
def test_given_an_eks_cluster_when_estimated_on_a_date_then_its_support_window_sets_the_price(
    fraud_135, on, hourly, basis
):
    # given a cluster that stays on its version into extended support (the stack's own upgrade_policy,
    # STANDARD, has EKS upgrade it instead: priced in the next test)
    doc = _with_support_type(fraud_135.doc, "EXTENDED")

    # when
    item = estimate_stack(doc, load_prices(), on).items[CLUSTER]

    # then
    assert item.monthly == pytest.approx(hourly * HOURS)
    assert (item.basis, item.unpriced) == (basis, "")


def test_given_an_upgrade_policy_standard_when_past_standard_support_then_no_extended_price(fraud_135):
    # given the cluster asks EKS to upgrade it at the end of standard support (what the stack synthesizes)
    doc = fraud_135.doc
    assert doc["resource"]["aws_eks_cluster"]["cluster"]["upgrade_policy"] == [{"support_type": "STANDARD"}]

    # when priced after the end of standard support, against the same cluster kept in extended support
    before = estimate_stack(_with_support_type(doc, "EXTENDED"), load_prices(), date(2027, 6, 1))
    after = estimate_stack(doc, load_prices(), date(2027, 6, 1))

    # then it pays the standard rate, and the change shows -$365 on the cluster alone
    assert after.items[CLUSTER].monthly == pytest.approx(0.10 * HOURS)
    assert "upgrade_policy STANDARD upgrades it automatically" in after.items[CLUSTER].basis
    [change] = cost_changes(before, after)
    assert (change.address, round(change.delta, 2)) == (CLUSTER, -365.0)


def test_given_a_version_without_support_dates_then_the_cluster_is_flagged(fraud_135):
    doc = copy.deepcopy(fraud_135.doc)
    doc["resource"]["aws_eks_cluster"]["cluster"]["version"] = "1.37"

    item = estimate_stack(doc, load_prices(), TODAY).items[CLUSTER]

    assert item.monthly == pytest.approx(0.10 * HOURS)
    assert item.unpriced == "no EKS support dates for Kubernetes 1.37 in core/eks_versions.py"


# --- NAT data processing and the S3 gateway endpoint -----------------------------------------


def test_given_the_s3_endpoint_when_estimated_then_nat_processing_leaves_out_the_s3_share(example_stacks):
    prices = load_prices()
    rates = prices.for_region("eu-west-1")
    assert rates is not None
    total_gb = prices.assumption("nat_gb_processed_per_month")
    s3_gb = total_gb * prices.assumption("nat_s3_share")
    with_endpoint = example_stacks["churn"].doc
    assert bodies(with_endpoint, "aws_vpc_endpoint"), "churn synthesizes an S3 gateway endpoint"
    # the stack as it was before the endpoint existed
    without = copy.deepcopy(with_endpoint)
    del without["resource"]["aws_vpc_endpoint"]

    # when
    saved = estimate_stack(with_endpoint, prices, TODAY)
    crossing = estimate_stack(without, prices, TODAY)

    # then without the endpoint every assumed GB is processed by the NAT gateway
    hourly = HOURS * rates.price("nat_gateway_hour")
    assert crossing.items[NAT].monthly == pytest.approx(hourly + total_gb * rates.price("nat_gateway_gb"))
    assert "no S3 gateway endpoint" in crossing.items[NAT].basis
    # and with it, the S3 share is not: the saving is in the basis and in the notes
    assert saved.items[NAT].monthly == pytest.approx(
        hourly + (total_gb - s3_gb) * rates.price("nat_gateway_gb")
    )
    saving = s3_gb * rates.price("nat_gateway_gb")
    assert f"takes aws_vpc_endpoint.network_s3_endpoint: ${saving:,.2f} saved" in saved.items[NAT].basis
    assert any(f"${saving:,.2f}/month of NAT data processing saved" in n for n in saved.notes)
    [change] = cost_changes(crossing, saved)
    assert (change.address, change.delta) == (NAT, pytest.approx(-saving))


def test_given_an_endpoint_on_another_route_table_then_no_saving_is_claimed(example_stacks):
    doc = copy.deepcopy(example_stacks["churn"].doc)
    endpoint = doc["resource"]["aws_vpc_endpoint"]["network_s3_endpoint"]
    endpoint["route_table_ids"] = ["${aws_route_table.network_public_routes.id}"]

    cost = estimate_stack(doc, load_prices(), TODAY)

    assert "no S3 gateway endpoint" in cost.items[NAT].basis


# --- node groups ------------------------------------------------------------------------------


def test_given_fraud_on_eks_when_estimated_then_only_its_serving_nodes_are_priced(example_stacks):
    # given: fraud (EKS) synthesized from the example spec
    doc = example_stacks["fraud"].doc
    prices = load_prices()
    rates = prices.for_region("us-east-1")
    assert rates is not None

    # when
    cost = estimate_stack(doc, prices, TODAY)

    # then: no training node group (training runs as SageMaker jobs): one group of 2 x m6i.xlarge
    node_groups = {a: i for a, i in cost.items.items() if a.startswith("aws_eks_node_group.")}
    assert sorted(node_groups) == ["aws_eks_node_group.cluster_serving_nodes"]
    disk = prices.assumption("eks_node_disk_gb_when_unset") * rates.ebs_gb_month(
        prices.assumption("eks_node_disk_type")
    )
    assert node_groups["aws_eks_node_group.cluster_serving_nodes"].monthly == pytest.approx(
        2 * (rates.instance_hour("m6i.xlarge") * HOURS + disk)
    )


# --- load balancer ----------------------------------------------------------------------------


def test_given_churns_fleet_when_estimated_then_its_load_balancer_hours_and_lcus_use_its_regions_prices(
    example_specs, tmp_path
):
    # given: churn (eu-west-1) serving its image, behind an internal Application Load Balancer, and
    # the same tenant in us-east-1
    prices = load_prices()
    lcus = prices.assumption("alb_lcu_per_hour")
    assert lcus > 0

    # when
    costs = {
        region: estimate_stack(
            _variant(example_specs, "churn", tmp_path / region, region=region).doc,
            prices,
            TODAY,
        )
        for region in ("eu-west-1", "us-east-1")
    }

    # then: the balancer hour plus the assumed LCUs, each region at its own price
    for region, cost in costs.items():
        rates = prices.for_region(region)
        item = cost.items["aws_lb.fleet_balancer"]
        expected = HOURS * (rates.price("alb_hour") + lcus * rates.price("alb_lcu_hour"))
        assert item.monthly == pytest.approx(expected)
        assert item.basis == f"Application Load Balancer hours + {lcus:g} LCU per hour (assumed)"
    assert costs["eu-west-1"].items["aws_lb.fleet_balancer"].monthly > (
        costs["us-east-1"].items["aws_lb.fleet_balancer"].monthly
    )
