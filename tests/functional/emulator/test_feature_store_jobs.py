"""The ``features`` job for real: a file landed under ``features/<view>/`` is ingested into the offline
store and materialized online by a SageMaker processing job the emulator runs from the tenant's image,
as the training role, with IAM enforced; the serving role then reads the values back; a bad file fails
its job naming the problem and writes nothing.

The tenant is the example tenant ``tenants/shop.yaml``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from shop_support import applied_shop, as_role
from wait_support import wait_until

from pipelines.features.ingest import ingest_landed
from pipelines.features.online import OnlineStore
from pipelines.features.registry import compare_registry, offline_compatibility
from tenantml.emulator import server

JOB_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def shop(
    emulator: server.EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with applied_shop(emulator.endpoint, tmp_path_factory.mktemp("shop-jobs"), push_image=True) as shop:
        yield shop


def _finished_job(shop: dict[str, Any], view_label: str, known: set[str]) -> dict[str, Any]:
    sagemaker = shop["admin"]("sagemaker")
    found: dict[str, Any] = {}

    def done() -> bool:
        for summary in sagemaker.list_processing_jobs()["ProcessingJobSummaries"]:
            name = summary["ProcessingJobName"]
            if f"-features-{view_label}-" in name and name not in known:
                job = sagemaker.describe_processing_job(ProcessingJobName=name)
                if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
                    found.update(job)
                    return True
        return False

    wait_until(done, timeout=JOB_TIMEOUT_S, message=f"a features job for {view_label} finished")
    known.add(found["ProcessingJobName"])
    return found


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_landed_rows_are_ingested_and_materialized_by_the_job_and_served_back(shop) -> None:
    # given: rows for two customers, c1 corrected once (a later created_at for the same event time)
    now = datetime.now(UTC).replace(microsecond=0)
    earlier, later = (now - timedelta(hours=5)).isoformat(), (now - timedelta(hours=1)).isoformat()
    rows = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1", "c2"],
            "event_timestamp": [earlier, later, later, earlier],
            "created_at": [earlier, later, (now - timedelta(minutes=30)).isoformat(), earlier],
            "orders_30d": [3, 5, 6, 1],
            "spend_30d": [30.0, 50.0, 61.5, 9.5],
            "segment": ["new", "loyal", "loyal", "new"],
            "is_member": [False, True, True, False],
        }
    )
    s3, bucket = shop["admin"]("s3"), shop["outputs"]["data_bucket_name"]
    known: set[str] = set()

    # when: the file lands under the view's prefix
    s3.put_object(Bucket=bucket, Key="features/customer_stats/day1.csv", Body=_csv(rows))
    job = _finished_job(shop, "customer-stats", known)

    # then: the job ran as the training role and completed
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["RoleArn"] == shop["outputs"]["training_role_arn"]
    # and the offline store holds the validated rows, partitioned by event date
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="feature-store/customer_stats/")["Contents"]
    assert listed and all("/event_date=" in o["Key"] for o in listed)
    # and the serving role reads each customer's latest (corrected) values online
    online = OnlineStore(as_role(shop, "serving", "dynamodb"), shop["outputs"]["features_table_name"])
    view = shop["spec"].features.view("customer_stats")
    c1, c2 = online.get(view, [{"customer_id": "c1"}, {"customer_id": "c2"}])
    assert (c1["orders_30d"], c1["spend_30d"], c1["segment"], c1["is_member"]) == (6, 61.5, "loyal", True)
    assert (c2["orders_30d"], c2["spend_30d"]) == (1, 9.5)
    # and the view's freshness was published for its alarm
    metrics = shop["admin"]("cloudwatch").list_metrics(Namespace="TenantML/shop")["Metrics"]
    assert {"Name": "View", "Value": "customer_stats"} in [d for m in metrics for d in m["Dimensions"]]


def test_a_bad_landed_file_fails_its_job_naming_the_problem_and_writes_nothing(shop) -> None:
    # given: a file whose timestamps carry no time zone and whose orders are not numbers
    rows = pd.DataFrame(
        {
            "customer_id": ["c9"],
            "event_timestamp": ["2026-12-01 10:00:00"],
            "created_at": ["2026-12-01 10:00:00"],
            "orders_30d": ["many"],
            "spend_30d": [1.0],
            "segment": ["x"],
            "is_member": [True],
        }
    )
    s3, bucket = shop["admin"]("s3"), shop["outputs"]["data_bucket_name"]
    before = {
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="feature-store/").get("Contents", [])
    }
    alerts = _alerts_reader(shop)
    known = {
        s["ProcessingJobName"]
        for s in shop["admin"]("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    }

    # when: it lands
    s3.put_object(Bucket=bucket, Key="features/customer_stats/bad.csv", Body=_csv(rows))
    job = _finished_job(shop, "customer-stats", known)

    # then: the job failed, saying which column is wrong, and neither store changed
    assert job["ProcessingJobStatus"] == "Failed"
    assert "orders_30d" in job["FailureReason"] and "FeatureDataError" in job["FailureReason"]
    after = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="feature-store/").get("Contents", [])}
    assert after == before
    online = OnlineStore(as_role(shop, "serving", "dynamodb"), shop["outputs"]["features_table_name"])
    assert online.get(shop["spec"].features.view("customer_stats"), [{"customer_id": "c9"}]) == [None]
    # and the people subscribed to the tenant's alerts hear of it once, with the job and the reason
    (alert,) = wait_until(alerts, timeout=30, interval=0.3, message="no alert reached the alerts topic")
    assert alert.startswith(f"tenantml shop (dev): features job {job['ProcessingJobName']} failed at ")
    assert "orders_30d" in alert and "land the file again" in alert
    assert alerts() == []


def _alerts_reader(shop: dict[str, Any]) -> Any:
    """An SQS queue subscribed (raw) to the tenant's alerts topic; returns a drain of its messages."""
    sqs, sns = shop["admin"]("sqs"), shop["admin"]("sns")
    queue = sqs.create_queue(QueueName="shop-alerts-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=shop["outputs"]["alerts_topic_arn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )

    def drain() -> list[str]:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return [m["Body"] for m in messages]

    return drain


# --- the registry (`tenantml features apply` checks it) --------------------------------------------


def _changed(view: Any, **changes: Any) -> Any:
    return view.model_validate({**view.model_dump(mode="json"), **changes})


def test_the_catalog_holds_each_view_as_the_spec_declares_it_and_names_what_differs(shop) -> None:
    # given: the applied stack, read as the jobs' role; one view changed in a spec, one never deployed
    glue = as_role(shop, "training", "glue")
    database = shop["outputs"]["features_glue_database"]
    customer, merchant = (shop["spec"].features.view(n) for n in ("customer_stats", "merchant_risk"))
    longer = _changed(customer, ttl_hours=72)
    new = _changed(merchant, name="merchant_fees")

    # when
    as_deployed = compare_registry(glue, database, [customer, merchant])
    changed = compare_registry(glue, database, [longer])
    undeployed = compare_registry(glue, database, [new])

    # then
    assert [(r.view, r.status) for r in as_deployed] == [
        ("customer_stats", "registered"),
        ("merchant_risk", "registered"),
    ]
    assert [(r.status, r.detail) for r in changed] == [("differs", "ttl_hours: registered 48, spec 72")]
    assert [r.status for r in undeployed] == ["missing"]


def test_offline_rows_must_stay_readable_under_a_changed_view(shop) -> None:
    # given: validated rows of merchant_risk in the offline store (read back as the jobs' role)
    s3, admin_s3 = as_role(shop, "training", "s3"), shop["admin"]("s3")
    bucket = shop["outputs"]["data_bucket_name"]
    merchant = shop["spec"].features.view("merchant_risk")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = pd.DataFrame(
        {
            "merchant_id": [7, 8],
            "country": ["DE", "FR"],
            "observed_at": [(now - timedelta(hours=2)).isoformat()] * 2,
            "chargeback_rate": [0.01, 0.02],
        }
    )
    admin_s3.put_object(Bucket=bucket, Key="registry-test/merchants.csv", Body=_csv(rows))
    ingest_landed(admin_s3, bucket, "registry-test/merchants.csv", merchant, now=now)
    retyped = merchant.model_dump(mode="json")
    retyped["features"] = [
        {"name": "chargeback_rate", "type": "string"},
        {"name": "disputes", "type": "int64"},
    ]
    rekeyed = merchant.model_dump(mode="json")
    rekeyed["entities"] = [*rekeyed["entities"], {"name": "city", "type": "string"}]

    # when
    unchanged = offline_compatibility(s3, bucket, [merchant])
    grown = offline_compatibility(
        s3,
        bucket,
        [
            _changed(
                merchant, features=retyped["features"][1:] + [{"name": "chargeback_rate", "type": "float64"}]
            )
        ],
    )
    broken = offline_compatibility(
        s3, bucket, [merchant.model_validate(retyped), merchant.model_validate(rekeyed)]
    )

    # then: the deployed view and an added feature read fine; a retyped feature and a new key do not
    assert unchanged == [] and grown == []
    assert [(p.location, p.value) for p in broken] == [
        ("features.views[merchant_risk]: column chargeback_rate", "double"),
        ("features.views[merchant_risk]: column city", None),
    ]
    assert "cannot be read as the declared string" in broken[0].message
