"""The feature store in a tenant stack (issue 16): synthesized only for a spec with feature views.

The spec is the example tenant ``tenants/shop.yaml`` (EC2, two views, one with
a freshness alarm); the example tenants have no views and must synthesize as before.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from infra_support import (
    REPO_ROOT,
    SynthesizedStack,
    as_list,
    bodies,
    only,
    policy,
    role_policy,
    statement,
    strings,
    synthesize_specs,
)

from core.errors import ConstructPropsError
from core.feature_spec import FeaturesSpec
from core.naming import Naming
from core.spec import TenantSpec, load_specs
from infra import actions
from infra.alerting import AlertTopic, AlertTopicProps
from infra.core import TenantStack
from infra.feature_store import FeatureStore, FeatureStoreProps
from infra.identity import MANAGED_POLICY_MAX, PermissionBoundary, PermissionBoundaryProps, policy_document
from infra.keys import TenantKey
from infra.policy import SynthStack, check_stack
from infra.storage import SecureBucket, SecureBucketProps
from tenantml.preview.cost import estimate_stack, load_prices

TENANTS = REPO_ROOT / "tenants"
TABLE = "${aws_dynamodb_table.features.arn}"
DATABASE = "tenantml_shop_dev_features"


@pytest.fixture(scope="module")
def shop_spec() -> TenantSpec:
    (spec,) = load_specs(TENANTS, only="shop")
    return spec


@pytest.fixture(scope="module")
def shop(shop_spec: TenantSpec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize_specs([shop_spec], tmp_path_factory.mktemp("shop"))["shop"].doc


def _without_views(spec: TenantSpec) -> TenantSpec:
    return spec.model_copy(
        update={"features": FeaturesSpec(), "model": spec.model.model_copy(update={"feature_views": []})}
    )


def test_given_views_then_the_online_table_is_on_demand_encrypted_recoverable_and_expiring(shop) -> None:
    table = only(shop, "aws_dynamodb_table")
    assert {k: v for k, v in table.items() if k != "//"} == {
        "name": "tenantml-shop-dev-features",
        "billing_mode": "PAY_PER_REQUEST",
        "hash_key": "pk",
        "attribute": [{"name": "pk", "type": "S"}],
        "server_side_encryption": [{"enabled": True, "kms_key_arn": "${aws_kms_key.key.arn}"}],
        "point_in_time_recovery": [{"enabled": True}],
        "ttl": [{"enabled": True, "attribute_name": "expires_at"}],
        "deletion_protection_enabled": False,
        "tags": {"tenantml:component": "feature-store"},
    }


def test_given_a_prod_spec_then_the_table_is_protected_from_deletion(
    shop_spec: TenantSpec, tmp_path: Path
) -> None:
    prod = shop_spec.model_copy(update={"environment": type(shop_spec.environment)("prod")})
    doc = synthesize_specs([prod], tmp_path)["shop"].doc
    assert only(doc, "aws_dynamodb_table")["deletion_protection_enabled"] is True


def test_given_views_then_each_view_is_an_external_parquet_table_with_projected_date_partitions(shop) -> None:
    database = only(shop, "aws_glue_catalog_database")
    assert database["name"] == DATABASE
    tables = bodies(shop, "aws_glue_catalog_table")
    assert sorted(tables) == ["features_view_customer_stats", "features_view_merchant_risk"]
    customer = tables["features_view_customer_stats"]
    location = "s3://${aws_s3_bucket.storage_data.id}/feature-store/customer_stats/"
    assert customer["name"] == "customer_stats"
    assert customer["database_name"] == "${aws_glue_catalog_database.features_catalog.name}"
    assert customer["table_type"] == "EXTERNAL_TABLE"
    assert customer["partition_keys"] == [{"name": "event_date", "type": "string"}]
    (descriptor,) = customer["storage_descriptor"]
    assert descriptor["location"] == location
    assert descriptor["input_format"].endswith("MapredParquetInputFormat")
    assert descriptor["output_format"].endswith("MapredParquetOutputFormat")
    assert descriptor["ser_de_info"][0]["serialization_library"].endswith("ParquetHiveSerDe")
    assert [(c["name"], c["type"]) for c in descriptor["columns"]] == [
        ("customer_id", "string"),
        ("orders_30d", "bigint"),
        ("spend_30d", "double"),
        ("segment", "string"),
        ("is_member", "boolean"),
        ("event_timestamp", "timestamp"),
        ("created_at", "timestamp"),
        ("ingested_at", "timestamp"),
    ]
    parameters = customer["parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.event_date.type"] == "date"
    assert parameters["projection.event_date.format"] == "yyyy-MM-dd"
    assert parameters["projection.event_date.range"] == "2020-01-01,NOW"
    # Terraform's escape for a literal "${": Athena fills in the partition value
    assert parameters["storage.location.template"] == f"{location}event_date=$${{event_date}}/"
    merchant = tables["features_view_merchant_risk"]["storage_descriptor"][0]["columns"]
    assert [(c["name"], c["type"]) for c in merchant] == [
        ("merchant_id", "bigint"),
        ("country", "string"),
        ("chargeback_rate", "double"),
        ("observed_at", "timestamp"),
        ("ingested_at", "timestamp"),
    ]


def test_given_views_then_the_roles_get_exactly_their_part_of_the_stores(shop) -> None:
    # serving (SageMaker) and the EC2 instances (pipelines role) look features up: read only
    for role in ("roles_serving", "roles_pipelines"):
        grants = role_policy(shop, role)
        read = statement(grants, "ReadFeaturesOnline")
        assert (read["Action"], read["Resource"]) == (sorted(actions.DYNAMODB_READ_ITEMS), [TABLE])
        assert "WriteFeaturesOnline" not in [s["Sid"] for s in grants["Statement"]]
        assert "ReadFeatureCatalog" not in [s["Sid"] for s in grants["Statement"]]
    # the job role (the features job, training) reads the catalog and both writes
    training = role_policy(shop, "roles_training")
    write = statement(training, "WriteFeaturesOnline")
    assert (write["Action"], write["Resource"]) == (sorted(actions.DYNAMODB_WRITE_ITEMS), [TABLE])
    catalog = statement(training, "ReadFeatureCatalog")
    assert catalog["Action"] == sorted(actions.GLUE_READ_CATALOG)
    assert catalog["Resource"] == sorted(
        [
            (
                "arn:${data.aws_partition.account_partition.partition}:glue:eu-west-1:"
                "${data.aws_caller_identity.account_caller.account_id}:catalog"
            ),
            "${aws_glue_catalog_database.features_catalog.arn}",
            "${aws_glue_catalog_table.features_view_customer_stats.arn}",
            "${aws_glue_catalog_table.features_view_merchant_risk.arn}",
        ]
    )
    assert statement(training, "WriteFeatureStoreDataBucket")["Resource"] == [
        "${aws_s3_bucket.storage_data.arn}/feature-store/*"
    ]
    # both functions start only features jobs, as the job role
    for function in ("functions_data_arrival", "functions_features"):
        grants = role_policy(shop, f"{function}_role")
        start = statement(grants, "StartFeaturesJob")
        assert start["Action"] == sorted(actions.SAGEMAKER_START_PROCESSING)
        assert [r.rsplit(":", 1)[1] for r in start["Resource"]] == [
            "processing-job/tenantml-shop-dev-features-*"
        ]
        pass_role = statement(grants, "PassRole")
        assert pass_role["Resource"] == ["${aws_iam_role.roles_training.arn}"]
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_given_views_then_the_boundary_allows_the_stores_on_the_tenants_own_arns_within_iams_limit(
    shop,
) -> None:
    document = only(shop, "aws_iam_policy")["policy"]
    boundary = json.loads(document)
    feature_actions = {
        *actions.DYNAMODB_READ_ITEMS,
        *actions.DYNAMODB_WRITE_ITEMS,
        *actions.GLUE_READ_CATALOG,
    }
    pipeline = statement(boundary, "Pipeline")
    assert feature_actions <= set(pipeline["Action"])
    feature_resources = [r for r in pipeline["Resource"] if ":dynamodb:" in r or ":glue:" in r]
    assert sorted(feature_resources) == sorted(
        [
            "arn:aws:dynamodb:eu-west-1:123456789012:table/tenantml-shop-dev-*",
            "arn:aws:glue:eu-west-1:123456789012:catalog",
            f"arn:aws:glue:eu-west-1:123456789012:database/{DATABASE}",
            f"arn:aws:glue:eu-west-1:123456789012:table/{DATABASE}/*",
        ]
    )
    for st in boundary["Statement"]:  # no statement grants the stores' actions on "*"
        if "*" in as_list(st["Resource"]):
            assert not feature_actions & set(as_list(st["Action"])), st["Sid"]
    # IAM's limit on a managed policy; the key ARN reference grows by about 55 characters at apply
    assert len(document) + 60 <= MANAGED_POLICY_MAX


def test_given_a_view_with_a_freshness_limit_then_its_alarm_tells_people_and_missing_data_breaches(
    shop,
) -> None:
    alarms = {b["alarm_name"]: b for b in bodies(shop, "aws_cloudwatch_metric_alarm").values()}
    freshness = [name for name in alarms if name.endswith("-freshness")]
    assert freshness == ["tenantml-shop-dev-features-customer-stats-freshness"]  # merchant_risk sets none
    alarm = alarms[freshness[0]]
    assert {k: alarm[k] for k in ("namespace", "metric_name", "statistic", "threshold")} == {
        "namespace": "TenantML/shop",
        "metric_name": "OnlineAgeSeconds",
        "statistic": "Maximum",
        "threshold": 45 * 60,
    }
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["treat_missing_data"] == "breaching"
    assert alarm["dimensions"] == {"Tenant": "shop", "View": "customer_stats"}
    assert alarm["period"] == 15 * 60  # one datum per scheduled materialization
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alerts.arn}"]


def test_given_views_then_outputs_triggers_and_environments_name_the_stores(shop) -> None:
    assert shop["output"]["features_table_name"]["value"] == "${aws_dynamodb_table.features.name}"
    assert (
        shop["output"]["features_glue_database"]["value"]
        == "${aws_glue_catalog_database.features_catalog.name}"
    )
    functions = bodies(shop, "aws_lambda_function")
    for name in ("functions_data_arrival", "functions_features"):
        variables = functions[name]["environment"][0]["variables"]
        assert variables["TENANTML_FEATURES_TABLE"] == "tenantml-shop-dev-features"
        assert variables["TENANTML_FEATURE_VIEWS"] == "customer_stats,merchant_risk"
    assert "TENANTML_FEATURES_TABLE" not in functions["functions_monitor"]["environment"][0]["variables"]
    # landed feature data reaches data arrival; the schedule reaches the features function
    notification = only(shop, "aws_s3_bucket_notification")
    assert [f["filter_prefix"] for f in notification["lambda_function"]] == ["incoming/", "features/"]
    rule = bodies(shop, "aws_cloudwatch_event_rule")["functions_features_schedule"]
    assert rule["schedule_expression"] == "rate(15 minutes)"
    target = bodies(shop, "aws_cloudwatch_event_target")["functions_features_schedule_target"]
    assert target["arn"] == "${aws_lambda_function.functions_features.arn}"
    permission = bodies(shop, "aws_lambda_permission")["functions_features_allow_schedule"]
    assert (permission["principal"], permission["source_arn"]) == (
        "events.amazonaws.com",
        "${aws_cloudwatch_event_rule.functions_features_schedule.arn}",
    )
    # the EC2 instances serve with the table in their environment
    template = only(shop, "aws_launch_template")
    user_data = base64.b64decode(template["user_data"]).decode()
    assert "\nTENANTML_FEATURES_TABLE=tenantml-shop-dev-features\n" in user_data


def test_given_the_same_spec_without_views_then_nothing_of_the_feature_store_is_synthesized(
    shop_spec: TenantSpec, tmp_path: Path
) -> None:
    doc = synthesize_specs([_without_views(shop_spec)], tmp_path)["shop"].doc
    for resource_type in ("aws_dynamodb_table", "aws_glue_catalog_database", "aws_glue_catalog_table"):
        assert bodies(doc, resource_type) == {}
    text = " ".join(strings(doc["resource"]))
    for marker in ("dynamodb:", "glue:", "TENANTML_FEATURES_TABLE", "-features-", "feature-store/"):
        assert marker not in text, marker
    assert not [k for k in doc["output"] if k.startswith("features_")]
    assert [f["filter_prefix"] for f in only(doc, "aws_s3_bucket_notification")["lambda_function"]] == [
        "incoming/"
    ]
    assert "Unscoped" not in [s["Sid"] for s in policy(only(doc, "aws_iam_policy"))["Statement"]]


def test_given_the_example_tenants_without_views_then_they_have_no_feature_store(
    example_stacks: dict[str, SynthesizedStack],
) -> None:
    # shop declares views (the feature store's example); the others do not
    assert "aws_dynamodb_table" in example_stacks["shop"].doc["resource"]
    for name, synthesized in example_stacks.items():
        if name == "shop":
            continue
        assert "aws_dynamodb_table" not in synthesized.doc.get("resource", {})
        assert "features_table_name" not in synthesized.doc.get("output", {})


def test_given_props_without_views_and_a_bad_projection_start_then_one_error_names_both(
    stack: TenantStack, naming: Naming, key: TenantKey
) -> None:
    data = SecureBucket(stack, "Data", SecureBucketProps(naming=naming, component="data", key=key))
    alerts = AlertTopic(stack, "Alerts", AlertTopicProps(naming=naming, key=key))
    with pytest.raises(ConstructPropsError) as raised:
        FeatureStore(
            stack,
            "Features",
            FeatureStoreProps(
                naming=naming,
                key=key,
                data=data,
                alerts=alerts,
                views=(),
                account_id="123456789012",
                partition="aws",
                projection_start="2020/01/01",
            ),
        )
    locations = [p.location for p in raised.value.problems]
    assert locations == ["views", "projection_start"]
    assert "2020/01/01" in str(raised.value)


def test_given_the_online_table_when_estimated_then_it_is_on_demand_with_no_fixed_charge(shop) -> None:
    estimate = estimate_stack(shop, load_prices(), date(2026, 12, 7))
    item = estimate.items["aws_dynamodb_table.features"]
    assert (item.monthly, item.unpriced) == (0.0, "")
    assert "on-demand" in item.basis and "no fixed charge" in item.basis
    # a provisioned table has no price in the table: flagged, never silently free
    provisioned = copy.deepcopy(shop)
    table = provisioned["resource"]["aws_dynamodb_table"]["features"]
    table.update(billing_mode="PROVISIONED", read_capacity=5, write_capacity=5)
    flagged = estimate_stack(provisioned, load_prices(), date(2026, 12, 7)).items[
        "aws_dynamodb_table.features"
    ]
    assert flagged.unpriced == "no price for provisioned DynamoDB capacity in prices.json"


def test_given_the_shop_stack_when_the_policy_rules_run_then_nothing_is_found(shop) -> None:
    result = check_stack(SynthStack("shop", shop, {"shop": "dev"}))
    assert [(f.rule_id, f.address, f.message) for f in result.findings] == []


def _with_features_of(base: TenantSpec, shop_spec: TenantSpec, **serving: object) -> TenantSpec:
    """``base`` with shop's feature views (and its model using them), validated as a spec."""
    data = base.model_dump(mode="json")
    data["features"] = shop_spec.features.model_dump(mode="json")
    data["model"]["feature_views"] = list(shop_spec.model.feature_views)
    data["serving"] = {**data["serving"], **serving}
    return TenantSpec.model_validate(data)


def test_given_a_sagemaker_endpoint_then_its_model_has_the_table_in_its_environment(
    shop_spec: TenantSpec, tmp_path: Path
) -> None:
    spec = _with_features_of(shop_spec, shop_spec, model_version=1)
    doc = synthesize_specs([spec], tmp_path)["shop"].doc
    (container,) = only(doc, "aws_sagemaker_model")["primary_container"]
    assert container["environment"]["TENANTML_FEATURES_TABLE"] == "tenantml-shop-dev-features"


def test_given_eks_serving_then_the_pods_read_the_online_table_and_have_it_in_their_environment(
    shop_spec: TenantSpec, tmp_path: Path
) -> None:
    fraud = next(s for s in load_specs(REPO_ROOT / "tenants") if s.name == "fraud")
    stacks = synthesize_specs([_with_features_of(fraud, shop_spec)], tmp_path)
    pods = role_policy(stacks["fraud"].doc, "serving_role")
    read = statement(pods, "ReadFeaturesOnline")
    assert read["Resource"] == [TABLE]
    deployment = only(stacks["fraud-kubernetes"].doc, "kubernetes_deployment_v1")
    (container,) = deployment["spec"][0]["template"][0]["spec"][0]["container"]
    assert {"name": "TENANTML_FEATURES_TABLE", "value": "tenantml-fraud-prod-features"} in container["env"]
    # a prod tenant: the table refuses deletion until that is switched off
    assert only(stacks["fraud"].doc, "aws_dynamodb_table")["deletion_protection_enabled"] is True


def test_given_the_longest_tenant_name_with_views_then_the_compacted_boundary_fits_and_allows_exactly_the_same(
    stack: TenantStack,
) -> None:
    # given: the spec's longest tenant name, the longest environment, a long region, an EC2 tenant
    # (Session Manager) with a feature store: written statement by statement, it would not fit
    from moto.iam.access_control import IAMPolicy

    tenant = "abcdefghijklmnopqrst"
    naming = Naming(tenant=tenant, environment="staging", region="ap-southeast-2", account_id="123456789012")
    boundary = PermissionBoundary(
        stack,
        "Boundary",
        PermissionBoundaryProps(
            naming=naming,
            metrics_namespace=f"TenantML/{tenant}",
            session_manager=True,
            feature_database=f"tenantml_{tenant}_staging_features",
        ),
        key_arn="${aws_kms_key.key.arn}",
    )
    compacted = boundary.policy.arguments()["policy"]
    full = policy_document(boundary.statements)
    assert len(full) + 60 > MANAGED_POLICY_MAX

    # then: the boundary fits IAM's limit (with the key ARN resolved) ...
    assert len(compacted) + 60 <= MANAGED_POLICY_MAX
    assert "Scoped1" in [s["Sid"] for s in json.loads(compacted)["Statement"]]

    # ... and answers every request it could see as the statement-by-statement boundary does: each
    # action on each resource of its own service that the boundary names (the tenant's, another
    # tenant's, and "*" for actions without resource-level permissions). An action never comes with
    # another service's ARN, which is what lets statements of different services share one.
    actions_named = sorted({a for s in boundary.statements for a in s.actions})
    samples = {r.replace("*", "x") for s in boundary.statements for r in s.resources if r.startswith("arn:")}
    samples |= {r.replace(tenant, "other") for r in samples}
    checked = 0
    for action in actions_named:
        service = action.split(":", 1)[0]
        for resource in ["*", *sorted(r for r in samples if r.split(":")[2] == service)]:
            expected = IAMPolicy(full).is_action_permitted(action, resource)
            assert IAMPolicy(compacted).is_action_permitted(action, resource) == expected, (action, resource)
            checked += 1
    assert checked > 300
