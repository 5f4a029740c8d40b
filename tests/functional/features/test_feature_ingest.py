"""Landed feature files into the offline store: validated, partitioned, idempotent, all or nothing."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feature_support import (
    BUCKET,
    CUSTOMER,
    MERCHANT,
    NOW,
    at,
    customer_rows,
    land,
    offline_keys,
    parquet_bytes,
)

from core.errors import FeatureDataError
from core.feature_layout import offline_key
from pipelines.features.ingest import ingest_id, ingest_landed

HEADER = "customer_id,spend,orders,vip,segment,event_timestamp,created_at\n"
GOOD = "c1,10.5,3,false,a,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z\n"


def _read(s3, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))


def _rejected(s3, key: str, body: bytes | str, view=CUSTOMER) -> list[str]:
    """Land ``body``, expect it refused; the problems as text. Nothing may reach the offline store."""
    with pytest.raises(FeatureDataError) as err:
        land(s3, key, body, view)
    assert offline_keys(s3) == []
    assert err.value.exit_code == 2
    return [str(p) for p in err.value.problems]


def test_a_csv_is_written_one_parquet_file_per_utc_event_date(s3):
    # given rows of two UTC days; the second row is 2024-05-01 in UTC though written at +02:00
    body = HEADER + (
        "c1,10.5,3,false,a,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z\n"
        "c2,200,4,true,b,2024-05-02T01:00:00+02:00,2024-05-02T01:00:00+02:00\n"
        "c3,,,,,2024-05-02T12:00:00.250+00:00,2024-05-02T12:00:00Z\n"
    )

    # when
    result = land(s3, "batch.csv", body, CUSTOMER)

    # then one file per partition, named by the ingest id of this object version
    version = s3.head_object(Bucket=BUCKET, Key="features/customer/batch.csv")["VersionId"]
    assert result.ingest_id == ingest_id(BUCKET, "features/customer/batch.csv", version)
    assert (result.rows, result.partitions) == (3, ("2024-05-01", "2024-05-02"))
    assert list(result.keys) == [
        offline_key("customer", "2024-05-01", result.ingest_id),
        offline_key("customer", "2024-05-02", result.ingest_id),
    ]
    assert offline_keys(s3) == list(result.keys)
    # and the rows are typed as declared, timestamps in UTC microseconds, plus ingested_at
    first, second = _read(s3, result.keys[0]), _read(s3, result.keys[1])
    assert first.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert first.schema.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert (first.schema.field("orders").type, first.schema.field("vip").type) == (pa.int64(), pa.bool_())
    assert first.to_pydict()["customer_id"] == ["c1", "c2"]
    assert first.to_pydict()["event_timestamp"] == [at("2024-05-01T10:00"), at("2024-05-01T23:00")]
    assert first.to_pydict()["vip"] == [False, True]
    assert first.to_pydict()["ingested_at"] == [NOW, NOW]
    # and empty cells are nulls
    assert second.to_pydict()["spend"] == [None]
    assert second.to_pydict()["event_timestamp"] == [at("2024-05-02T12:00:00.250")]


def test_a_parquet_file_with_int_values_for_a_float_feature_is_accepted(s3):
    # given a Parquet file whose float64 feature arrived as integers
    body = parquet_bytes(
        {
            "merchant_id": [7, 8],
            "risk": pa.array([1, 2], pa.int32()),
            "observed_at": pa.array(
                [at("2024-05-01T10:00"), at("2024-05-01T11:00")], pa.timestamp("ns", tz="Europe/Paris")
            ),
        }
    )

    # when
    result = land(s3, "m.parquet", body, MERCHANT)

    # then
    table = _read(s3, result.keys[0])
    assert table.schema.field("risk").type == pa.float64()
    assert table.to_pydict()["risk"] == [1.0, 2.0]
    assert table.to_pydict()["observed_at"] == [at("2024-05-01T10:00"), at("2024-05-01T11:00")]


def test_reingesting_the_same_object_version_rewrites_the_same_keys(s3):
    # given an ingested object
    first = land(s3, "batch.csv", HEADER + GOOD, CUSTOMER)

    # when the same version is ingested again (a redelivered arrival event), later
    again = ingest_landed(s3, BUCKET, "features/customer/batch.csv", CUSTOMER, now=NOW.replace(hour=5))

    # then the same keys are written, nothing is added
    assert again.keys == first.keys
    assert offline_keys(s3) == list(first.keys)
    assert _read(s3, first.keys[0]).num_rows == 1


def test_a_new_version_of_a_landed_object_is_a_new_ingest(s3):
    # given an ingested object
    first = land(s3, "batch.csv", HEADER + GOOD, CUSTOMER)

    # when the producer overwrites it (a new version in the versioned bucket)
    second = land(s3, "batch.csv", HEADER + GOOD.replace("10.5", "11.5"), CUSTOMER)

    # then both ingests are kept (the join's ingested_at tie-breaker picks the later)
    assert second.ingest_id != first.ingest_id
    assert offline_keys(s3) == sorted([*first.keys, *second.keys])


def test_schema_drift_is_named_column_by_column_and_nothing_is_written(s3):
    # given a file missing a declared column and carrying an undeclared one
    body = "customer_id,spend,orders,vip,event_timestamp,created_at,discount\n" + (
        "c1,10.5,3,false,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z,0.1\n"
    )

    # when / then
    problems = _rejected(s3, "drift.csv", body)
    assert problems == [
        "s3://acme-dev-data/features/customer/drift.csv: column segment: is declared by the view but missing from the file",
        (
            "s3://acme-dev-data/features/customer/drift.csv: column discount: is not declared by view 'customer' "
            "(declare it, or drop it from the file)"
        ),
    ]


def test_values_of_the_wrong_type_in_a_csv_are_named_by_row_and_column(s3):
    # given a CSV whose row 2 has a fractional orders, a text spend and a non-boolean vip
    body = HEADER + GOOD + "c2,lots,3.5,maybe,a,2024-05-01T11:00:00Z,2024-05-01T11:00:00Z\n"

    # when / then
    problems = _rejected(s3, "types.csv", body)
    where = "s3://acme-dev-data/features/customer/types.csv: row 2"
    assert problems == [
        f"{where}, column spend: is not a value of type float64 (got 'lots')",
        f"{where}, column orders: is not a value of type int64 (got '3.5')",
        f"{where}, column vip: is not a value of type bool (got 'maybe')",
    ]


def test_a_parquet_column_of_the_wrong_type_is_named(s3):
    # given a Parquet file whose int64 entity key is text and whose float feature is boolean
    body = parquet_bytes(
        {
            "merchant_id": ["7"],
            "risk": [True],
            "observed_at": pa.array([at("2024-05-01T10:00")], pa.timestamp("us", tz="UTC")),
        }
    )

    # when / then
    problems = _rejected(s3, "types.parquet", body, MERCHANT)
    assert problems == [
        "s3://acme-dev-data/features/merchant/types.parquet: column merchant_id: has type string, the view declares int64",
        "s3://acme-dev-data/features/merchant/types.parquet: column risk: has type bool, the view declares float64",
    ]


def test_missing_entity_keys_are_named_by_row(s3):
    # given rows 2 and 3 without a customer id (empty, blank)
    body = HEADER + GOOD + GOOD.replace("c1", "") + GOOD.replace("c1", "  ")

    # when / then
    problems = _rejected(s3, "keys.csv", body)
    where = "s3://acme-dev-data/features/customer/keys.csv"
    assert problems == [
        f"{where}: row 2, column customer_id: entity key is missing (null or empty)",
        f"{where}: row 3, column customer_id: entity key is missing (null or empty)",
    ]


def test_duplicate_rows_for_one_entity_and_time_are_named_with_their_rows(s3):
    # given rows 1 and 3 for c1 at one event and created time (row 2 differs in created time: a correction)
    corrected = GOOD.replace(",2024-05-01T10:00:00Z\n", ",2024-05-01T12:00:00Z\n")
    body = HEADER + GOOD + corrected + GOOD.replace("10.5", "99")

    # when / then
    problems = _rejected(s3, "dupes.csv", body)
    assert problems == [
        (
            "s3://acme-dev-data/features/customer/dupes.csv: rows 1, 3, columns customer_id, event_timestamp, created_at: "
            "duplicate rows for customer_id=c1, event_timestamp=2024-05-01T10:00:00+00:00, "
            "created_at=2024-05-01T10:00:00+00:00: keep one row per entity and time"
        )
    ]


def test_timestamps_without_a_zone_unparseable_or_in_the_future_are_named(s3):
    # given a naive event time (row 2), garbage (row 3), one 6 minutes after now (row 4) and a
    # missing created time (row 5); row 6 is 5 minutes after now: within the tolerance
    body = (
        HEADER
        + GOOD
        + (
            "c2,1,1,false,a,2024-05-01T10:00:00,2024-05-01T10:00:00Z\n"
            "c3,1,1,false,a,yesterday+00:00,2024-05-01T10:00:00Z\n"
            "c4,1,1,false,a,2024-06-01T00:06:00Z,2024-05-01T10:00:00Z\n"
            "c5,1,1,false,a,2024-05-01T10:00:00Z,\n"
            "c6,1,1,false,a,2024-06-01T02:05:00+02:00,2024-05-01T10:00:00Z\n"
        )
    )

    # when / then
    problems = _rejected(s3, "times.csv", body)
    where = "s3://acme-dev-data/features/customer/times.csv"
    assert problems == [
        (
            f"{where}: row 2, column event_timestamp: has no time zone: add an offset such as +00:00 or Z "
            "(got '2024-05-01T10:00:00')"
        ),
        f"{where}: row 3, column event_timestamp: is not an ISO 8601 timestamp (got 'yesterday+00:00')",
        f"{where}: row 5, column created_at: is missing: every row needs its timestamp",
        (
            f"{where}: row 4, column event_timestamp: is in the future (after 2024-06-01T00:05:00+00:00) "
            "(got '2024-06-01T00:06:00+00:00')"
        ),
    ]


def test_parquet_timestamps_without_a_time_zone_are_refused(s3):
    # given a Parquet file with naive timestamps
    rows = customer_rows([("c1", 1.0, at("2024-05-01T10:00"), at("2024-05-01T10:00"))])
    rows["event_timestamp"] = pa.array([at("2024-05-01T10:00").replace(tzinfo=None)], pa.timestamp("us"))

    # when / then
    assert _rejected(s3, "naive.parquet", parquet_bytes(rows)) == [
        (
            "s3://acme-dev-data/features/customer/naive.parquet: column event_timestamp: holds timestamps without a "
            "time zone: write them as UTC (timestamp with tz) in the file"
        )
    ]


def test_every_problem_of_a_file_is_reported_at_once(s3):
    # given a file with drift, a bad value, a missing key and a naive time
    body = "customer_id,spend,orders,vip,segment,event_timestamp\n" + ",x,1,true,a,2024-05-01T10:00:00\n"

    # when / then all four are named
    problems = _rejected(s3, "many.csv", body)
    assert len(problems) == 4
    assert [p.split(": ")[1] for p in problems] == [
        "column created_at",
        "row 1, column spend",
        "row 1, column event_timestamp",
        "row 1, column customer_id",
    ]


def test_an_oversized_or_corrupt_object_is_refused_before_anything_is_written(s3):
    # given an object over the size limit, and a corrupt Parquet file
    s3.put_object(Bucket=BUCKET, Key="features/customer/big.csv", Body=(HEADER + GOOD * 100).encode())
    s3.put_object(Bucket=BUCKET, Key="features/customer/bad.parquet", Body=b"PAR1 not really")

    # when / then
    with pytest.raises(FeatureDataError, match=r"big.csv: is \d+ bytes, over the limit of 1000 bytes"):
        ingest_landed(s3, BUCKET, "features/customer/big.csv", CUSTOMER, now=NOW, max_bytes=1000)
    with pytest.raises(FeatureDataError, match="bad.parquet: is not a readable Parquet file"):
        ingest_landed(s3, BUCKET, "features/customer/bad.parquet", CUSTOMER, now=NOW)
    assert offline_keys(s3) == []


def test_a_write_failing_midway_deletes_what_was_written(s3):
    # given valid rows of three event dates, and S3 refusing the second PutObject into the store
    body = HEADER + GOOD + GOOD.replace("05-01", "05-02") + GOOD.replace("05-01", "05-03")
    puts: list[str] = []

    def refuse_second(params, **_):
        if params["Key"].startswith("feature-store/"):
            puts.append(params["Key"])
            if len(puts) == 2:
                raise ConnectionError("connection reset by peer")

    s3.meta.events.register("provide-client-params.s3.PutObject", refuse_second)

    # when
    with pytest.raises(ConnectionError):
        land(s3, "batch.csv", body, CUSTOMER)

    # then the first partition, already written, is gone again
    assert len(puts) == 2
    assert offline_keys(s3) == []
