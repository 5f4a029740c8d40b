"""A tenant with feature views, applied to the emulator with IAM enforced: the online table and the
Glue catalog exist as synthesized, each workload role reaches exactly its part of them, landed
feature data and the schedule each start a ``features`` processing job, and destroy removes it all.

The tenant is the example tenant ``tenants/shop.yaml`` (two views); churn and fraud have none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from shop_support import applied_shop, as_role
from wait_support import wait_until

from tenantml.emulator import commands, server
from tenantml.emulator.apply import HandlerContexts
from tenantml.emulator.eventbridge import Scheduler
from tenantml.emulator.graph import load_document
from tenantml.emulator.resources import HANDLERS
from tenantml.emulator.resources.reads import claimed
from tenantml.emulator.state import load_state

DATABASE = "tenantml_shop_dev_features"
FEATURE_TYPES = ("aws_dynamodb_table", "aws_glue_catalog_database", "aws_glue_catalog_table")


@pytest.fixture(scope="module")
def shop(
    emulator: server.EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Its jobs are recorded by the job runner (which keeps a job's Environment); no image is pushed,
    so a features job fails at its image pull: these tests are about what starts it, not its command."""
    with applied_shop(emulator.endpoint, tmp_path_factory.mktemp("shop"), push_image=False) as shop:
        yield shop


def _error(call: Callable[[], Any]) -> tuple[str, str] | None:
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["Error"]["Message"]
    return None


def _features_jobs(shop: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sagemaker = shop["admin"]("sagemaker")
    names = [
        s["ProcessingJobName"]
        for s in sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
        if "-features-" in s["ProcessingJobName"]
    ]
    return {n: sagemaker.describe_processing_job(ProcessingJobName=n) for n in names}


def test_given_shop_applied_then_the_online_table_and_the_catalog_exist_as_synthesized(shop) -> None:
    table = shop["admin"]("dynamodb").describe_table(TableName=shop["outputs"]["features_table_name"])[
        "Table"
    ]
    assert table["TableName"] == "tenantml-shop-dev-features"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == shop["outputs"]["kms_key_arn"]
    dynamodb = shop["admin"]("dynamodb")
    backups = dynamodb.describe_continuous_backups(TableName=table["TableName"])[
        "ContinuousBackupsDescription"
    ]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")

    glue = shop["admin"]("glue")
    assert shop["outputs"]["features_glue_database"] == DATABASE
    view = glue.get_table(DatabaseName=DATABASE, Name="merchant_risk")["Table"]
    assert [(c["Name"], c["Type"]) for c in view["StorageDescriptor"]["Columns"]] == [
        ("merchant_id", "bigint"),
        ("country", "string"),
        ("chargeback_rate", "double"),
        ("observed_at", "timestamp"),
        ("ingested_at", "timestamp"),
    ]
    assert view["PartitionKeys"] == [{"Name": "event_date", "Type": "string"}]
    bucket = shop["outputs"]["data_bucket_name"]
    # Terraform's "$${" escape reached the catalog as Athena's own placeholder
    assert view["Parameters"]["storage.location.template"] == (
        f"s3://{bucket}/feature-store/merchant_risk/event_date=${{event_date}}/"
    )


def test_given_the_serving_role_then_it_reads_the_online_table_but_neither_writes_it_nor_reads_another(
    shop,
) -> None:
    # given: another tenant's table in the same account (made by the administrator)
    admin = shop["admin"]("dynamodb")
    admin.create_table(
        TableName="tenantml-other-dev-features",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = shop["outputs"]["features_table_name"]
    admin.put_item(
        TableName=table, Item={"pk": {"S": "customer_stats#customer_id=c1"}, "orders_30d": {"N": "3"}}
    )
    serving = as_role(shop, "serving", "dynamodb")
    key = {"pk": {"S": "customer_stats#customer_id=c1"}}

    # when / then: its own table is read in a batch, and one key alone (the online store's GetItem)
    got = serving.batch_get_item(RequestItems={table: {"Keys": [key]}})
    assert got["Responses"][table][0]["orders_30d"] == {"N": "3"}
    assert serving.get_item(TableName=table, Key=key)["Item"]["orders_30d"] == {"N": "3"}

    # and a write is denied, naming the action and the table
    code, message = _error(lambda: serving.put_item(TableName=table, Item={**key, "orders_30d": {"N": "9"}}))
    assert code == "AccessDeniedException"
    assert "dynamodb:PutItem" in message and f":table/{table}" in message

    # and the other tenant's table is denied, alone or in one batch with its own
    other = "tenantml-other-dev-features"
    code, message = _error(lambda: serving.get_item(TableName=other, Key=key))
    assert code == "AccessDeniedException" and f":table/{other}" in message
    code, message = _error(
        lambda: serving.batch_get_item(RequestItems={table: {"Keys": [key]}, other: {"Keys": [key]}})
    )
    assert code == "AccessDeniedException" and f":table/{other}" in message


def test_given_the_training_role_then_it_reads_the_catalog_and_writes_the_online_table_and_serving_cannot_read_the_catalog(
    shop,
) -> None:
    training = as_role(shop, "training", "glue")
    table = training.get_table(DatabaseName=DATABASE, Name="customer_stats")["Table"]
    assert table["Parameters"]["projection.enabled"] == "true"
    training.get_partitions(DatabaseName=DATABASE, TableName="customer_stats")
    as_role(shop, "training", "dynamodb").put_item(
        TableName=shop["outputs"]["features_table_name"], Item={"pk": {"S": "_watermark#customer_stats"}}
    )

    code, message = _error(
        lambda: as_role(shop, "serving", "glue").get_table(DatabaseName=DATABASE, Name="customer_stats")
    )
    assert code == "AccessDeniedException" and "glue:GetTable" in message

    # another tenant's database in the same catalog: the training role may not read its tables
    admin = shop["admin"]("glue")
    admin.create_database(DatabaseInput={"Name": "tenantml_other_dev_features"})
    admin.create_table(DatabaseName="tenantml_other_dev_features", TableInput={"Name": "customer_stats"})
    code, message = _error(
        lambda: training.get_table(DatabaseName="tenantml_other_dev_features", Name="customer_stats")
    )
    assert code == "AccessDeniedException"
    assert (
        ":database/tenantml_other_dev_features" in message or ":table/tenantml_other_dev_features/" in message
    )


def test_given_feature_data_landing_then_exactly_one_features_job_starts_with_its_environment(shop) -> None:
    # given: a file under a declared view and one under a view the tenant does not declare
    s3, bucket = shop["admin"]("s3"), shop["outputs"]["data_bucket_name"]
    version = s3.put_object(Bucket=bucket, Key="features/customer_stats/day1.parquet", Body=b"PAR1")[
        "VersionId"
    ]
    s3.put_object(Bucket=bucket, Key="features/unknown_view/day1.parquet", Body=b"PAR1")

    # when: the data-arrival function has run for both
    wait_until(lambda: len(_features_jobs(shop)) >= 1, timeout=120, message="the features job started")

    # then: one job, for the declared view, carrying the file and the stores in its environment
    (job,) = [j for j in _features_jobs(shop).values() if "-customer-stats-" in j["ProcessingJobName"]]
    assert job["ProcessingJobName"].startswith("tenantml-shop-dev-features-customer-stats-")
    assert len(job["ProcessingJobName"]) <= 63
    assert job["RoleArn"] == shop["outputs"]["training_role_arn"]
    assert job["AppSpecification"]["ContainerEntrypoint"] == [
        "python",
        "-m",
        "pipelines.container",
        "features",
    ]
    assert job["AppSpecification"]["ContainerArguments"] == ["--view", "customer_stats"]
    assert job["Environment"] == {
        "TENANTML_TENANT": "shop",
        "TENANTML_DATA_BUCKET": bucket,
        "TENANTML_FEATURES_TABLE": "tenantml-shop-dev-features",
        "TENANTML_FEATURES_DATABASE": DATABASE,
        "TENANTML_FEATURES_TRIGGER": "data-arrival",
        "TENANTML_FEATURES_VIEW": "customer_stats",
        "TENANTML_FEATURES_KEY": "features/customer_stats/day1.parquet",
        "TENANTML_FEATURES_VERSION": version,
    }
    assert not [n for n in _features_jobs(shop) if "unknown" in n]


def test_given_the_schedule_rule_then_each_tick_starts_one_features_job(shop) -> None:
    # given: the emulator's scheduler, ticked by the test (the rule is rate(15 minutes))
    before = set(_features_jobs(shop))
    scheduler = Scheduler()
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    assert scheduler.tick(start) == 0  # first seen: a rate rule fires one period later

    # when: two periods pass
    fired = [scheduler.tick(start + timedelta(minutes=15)), scheduler.tick(start + timedelta(minutes=30))]
    assert fired == [1, 1]
    wait_until(
        lambda: len(set(_features_jobs(shop)) - before) >= 2, timeout=120, message="two scheduled jobs"
    )

    # then: one job per tick, named by the tick's minute, materializing every view
    new = {n: j for n, j in _features_jobs(shop).items() if n not in before}
    assert sorted(new) == [
        f"tenantml-shop-dev-features-all-{(start + timedelta(minutes=m)):%Y%m%d%H%M}" for m in (15, 30)
    ]
    for job in new.values():
        assert job["AppSpecification"]["ContainerArguments"] == ["--all-views"]
        assert job["Environment"]["TENANTML_FEATURES_TRIGGER"] == "schedule"

    # and a redelivered tick starts nothing new
    tick = {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": f"{start + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}",
    }
    answer = shop["admin"]("lambda").invoke(
        FunctionName=shop["outputs"]["features_function_name"], Payload=json.dumps(tick).encode()
    )
    assert json.loads(answer["Payload"].read())["outcome"] == "duplicate"
    assert set(_features_jobs(shop)) - before == set(new)


def test_given_shop_applied_when_each_feature_store_resource_is_read_by_its_identity_alone_then_it_is_found_as_recorded(
    shop,
) -> None:
    # what refresh and adopting a crashed create rely on, for the new types
    stack = shop["out"] / "stacks" / "shop" / "cdk.tf.json"
    state = load_state(shop["state"] / "shop.json")
    contexts = HandlerContexts(shop["aws"], load_document(stack), stack.parent)
    entries = [e for e in state if e.type in FEATURE_TYPES]
    assert sorted(e.type for e in entries) == sorted([*FEATURE_TYPES, "aws_glue_catalog_table"])
    for entry in entries:
        others = frozenset(
            str(e.attributes.get("id")) for e in state if e.type == entry.type and e is not entry
        )
        with claimed(others):
            found = HANDLERS[entry.type].read(
                contexts.for_address(entry.address, entry.region), entry.config, {}
            )
        assert found is not None, entry.address
        assert dict(found.attributes) == dict(entry.attributes), entry.address
    (planned,) = commands.plan_tenants(shop["out"], ["shop"], shop["state"], shop["aws"])
    assert not planned.plan.has_changes, commands.render_plan(planned)


def test_z_given_shop_destroyed_then_the_table_and_the_catalog_are_gone(shop) -> None:
    commands.destroy_tenants(None, ["shop"], shop["state"], shop["aws"])
    code, _ = _error(lambda: shop["admin"]("dynamodb").describe_table(TableName="tenantml-shop-dev-features"))
    assert code == "ResourceNotFoundException"
    code, _ = _error(lambda: shop["admin"]("glue").get_database(Name=DATABASE))
    assert code == "EntityNotFoundException"
    rules = shop["admin"]("events").list_rules(NamePrefix="tenantml-shop-dev-features")["Rules"]
    assert rules == []
