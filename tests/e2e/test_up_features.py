"""`tenantml up` and the feature store: the example tenant ``shop`` trains on a point-in-time training
set of its two feature views and serves requests that carry only entity keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import yaml
from up_support import ROOT, UpProcess

from core.spec import load_specs

TENANT, REGION = "shop", "eu-west-1"


def _spec():
    return next(s for s in load_specs(ROOT / "tenants") if s.name == TENANT)


def _online(running_up: UpProcess, view: str, *entity: str) -> dict:
    """What `tenantml features get` prints for one entity (read as the serving role)."""
    args = [a for pair in entity for a in ("--entity", pair)]
    result = running_up.cli(
        "features", "get", "--tenant", TENANT, "--view", view, *args, "--tenants", str(ROOT / "tenants")
    )
    (row,) = json.loads(result.stdout)
    return row["features"]


def test_up_trains_shop_on_a_point_in_time_training_set_built_from_its_feature_store(
    running_up: UpProcess,
) -> None:
    # given: up landed each view's sample rows, then built the training set from the offline store
    spec, lifecycle = _spec(), running_up.summary["tenants"][TENANT]["lifecycle"]
    features = lifecycle["features"]

    # then: one features job per view completed (ingest and materialize)
    assert sorted(job["status"] for job in features["jobs"].values()) == ["Completed", "Completed"]
    assert {name.split("-features-")[1].rsplit("-", 1)[0] for name in features["jobs"]} == {
        "customer-stats",
        "merchant-risk",
    }
    # and the training set holds the views' features and the label: no keys, no event time
    expected = [f for v in spec.model.feature_views for f in spec.features.view(v).feature_names]
    training_set = features["training_set"]
    assert training_set["columns"] == [spec.model.target, *expected]
    assert training_set["rows"] == 3000
    # and the run trained on exactly that file, past the tenant's gate, and serves it
    assert lifecycle["status"] == "succeeded", lifecycle
    assert lifecycle["metrics"][spec.model.primary_metric] >= spec.model.minimum_metric
    from pipelines.registry.sagemaker import SageMakerModelRegistry

    registry = SageMakerModelRegistry(
        running_up.client("sagemaker", REGION, tenant=TENANT),
        running_up.outputs(TENANT)["model_package_group_name"],
    )
    version = registry.get_model_version(int(lifecycle["model_version"]))
    assert version.lineage.data_uri.split("?")[0] == training_set["uri"]
    endpoint = running_up.summary["tenants"][TENANT]["endpoint"]
    assert endpoint["feature_names"] == expected
    assert endpoint["entity_keys"] == ["customer_id", "merchant_id", "country"]


def test_shops_endpoint_looks_features_up_by_entity_key_and_the_model_sees_the_online_values(
    running_up: UpProcess,
) -> None:
    # given: one customer and one merchant the sample holds, and their values in the online store
    endpoint = running_up.summary["tenants"][TENANT]["endpoint"]
    customer = _online(running_up, "customer_stats", "customer_id=customer-007")
    merchant = _online(running_up, "merchant_risk", "merchant_id=12", "country=country-011")
    full = {name: {**customer, **merchant}[name] for name in endpoint["feature_names"]}

    # when: the same prediction is asked with entity keys only, and with every feature value
    keys_only = httpx.post(
        endpoint["invocations"],
        json={"instances": [{"customer_id": "customer-007", "merchant_id": 12, "country": "country-011"}]},
    )
    with_features = httpx.post(endpoint["invocations"], json={"instances": [full]})
    unknown = httpx.post(
        endpoint["invocations"],
        content="customer_id,merchant_id,country\nnobody,12,country-011",
        headers={"Content-Type": "text/csv"},
    )

    # then: both answer, with the same prediction from the same version
    assert keys_only.status_code == 200, keys_only.text
    assert with_features.status_code == 200, with_features.text
    assert keys_only.json()["predictions"] == with_features.json()["predictions"]
    assert keys_only.headers["X-Model-Version"] == with_features.headers["X-Model-Version"]
    # and an entity the store does not hold is a 404 naming it and its view (spend_30d has no default)
    assert unknown.status_code == 404
    assert "nobody" in unknown.text and "customer_stats" in unknown.text


def test_features_apply_confirms_the_registry_and_refuses_a_view_its_offline_rows_cannot_be_read_under(
    running_up: UpProcess, tmp_path: Path
) -> None:
    # given: the tenants as deployed, and a copy where spend_30d changed type from float64 to string
    glue = running_up.client("glue", REGION, tenant=TENANT)
    database = running_up.outputs(TENANT)["features_glue_database"]
    before = glue.get_table(DatabaseName=database, Name="customer_stats")["Table"]["Parameters"]
    changed = tmp_path / "tenants"
    shutil.copytree(ROOT / "tenants", changed)
    spec = yaml.safe_load((changed / "shop.yaml").read_text())
    for feature in spec["features"]["views"][0]["features"]:
        if feature["name"] == "spend_30d":
            feature["type"] = "string"
    (changed / "shop.yaml").write_text(yaml.safe_dump(spec))

    # when
    deployed = running_up.cli("features", "apply", "--tenant", TENANT, "--tenants", str(ROOT / "tenants"))
    refused = running_up.cli("features", "apply", "--tenant", TENANT, "--tenants", str(changed), check=False)

    # then: every view is registered as declared, the stack unchanged
    assert "customer_stats: registered" in deployed.stdout and "merchant_risk: registered" in deployed.stdout
    assert "0 change(s)" in deployed.stdout
    # and the retyped view is refused, naming the view and column, with the registry untouched
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "features.views[customer_stats]: column spend_30d" in said and "double" in said
    assert glue.get_table(DatabaseName=database, Name="customer_stats")["Table"]["Parameters"] == before
