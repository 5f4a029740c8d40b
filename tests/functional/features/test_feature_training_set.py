"""Point-in-time training sets: no future value, no value past its TTL, ties broken as declared.

The feature data is built so that a leak changes the answer: every feature row has its own value,
and a row one microsecond after an entity's time, or one microsecond past its TTL, sits right
next to the row that must be chosen.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feature_support import BUCKET, CUSTOMER, MERCHANT, NOW, at, customer_rows, land, parquet_bytes

from core.errors import FeatureDataError
from core.feature_layout import glue_database
from core.feature_spec import FeatureViewSpec
from pipelines.features.offline import OfflineStore
from pipelines.features.point_in_time import athena_training_set_sql

US = timedelta(microseconds=1)
TS = pa.timestamp("us", tz="UTC")


def _land_customers(s3, rows, key="rows.parquet", *, now=NOW):
    return land(s3, key, parquet_bytes(customer_rows(rows)), CUSTOMER, now=now)


def _land_merchants(s3, rows, key="m.parquet", *, now=NOW):
    body = parquet_bytes(
        {
            "merchant_id": [r[0] for r in rows],
            "risk": [r[1] for r in rows],
            "observed_at": pa.array([r[2] for r in rows], TS),
        }
    )
    return land(s3, key, body, MERCHANT, now=now)


def _entities(path: Path, columns: dict[str, list]) -> Path:
    table = {n: pa.array(v, TS) if n == "event_timestamp" else v for n, v in columns.items()}
    pq.write_table(pa.table(table), path)
    return path


def _train(
    s3, tmp_path: Path, views: list[FeatureViewSpec], entities: Path, out: str = "train.parquet"
) -> dict:
    with OfflineStore(s3, BUCKET) as store:
        result = store.training_set(views, entities, tmp_path / out)
    assert result.out == tmp_path / out
    return pq.read_table(result.out).to_pydict()


def test_the_row_at_exactly_the_event_time_counts_and_a_later_one_never(s3, tmp_path):
    # given c1's spend at 09:00, at 10:00 and one microsecond after 10:00
    ten = at("2024-05-01T10:00")
    _land_customers(
        s3, [("c1", 1.0, at("2024-05-01T09:00"), ten), ("c1", 2.0, ten, ten), ("c1", 3.0, ten + US, ten)]
    )
    # and entity rows at 10:00, one microsecond before it, and one microsecond after it
    entities = _entities(
        tmp_path / "e.parquet",
        {"customer_id": ["c1", "c1", "c1"], "event_timestamp": [ten, ten - US, ten + US]},
    )

    # when
    train = _train(s3, tmp_path, [CUSTOMER], entities)

    # then 10:00 sees the 10:00 row, just before sees 09:00's, just after sees the later row
    assert train["spend"] == [2.0, 1.0, 3.0]
    assert train["orders"] == [2, 1, 3]
    assert train["segment"] == ["s2", "s1", "s3"]


def test_a_row_older_than_the_ttl_is_not_used(s3, tmp_path):
    # given c1's row at 10:00 on May 1st (the view's TTL is 24 hours)
    ten = at("2024-05-01T10:00")
    _land_customers(s3, [("c1", 1.0, ten, ten)])
    # and entity rows exactly 24 hours later, and one microsecond past that
    entities = _entities(
        tmp_path / "e.parquet",
        {
            "customer_id": ["c1", "c1"],
            "event_timestamp": [ten + timedelta(hours=24), ten + timedelta(hours=24) + US],
        },
    )

    # when
    train = _train(s3, tmp_path, [CUSTOMER], entities)

    # then the row is live for exactly its TTL
    assert train["spend"] == [1.0, None]
    assert train["vip"] == [False, None]


def test_a_corrected_row_wins_by_its_created_time_even_when_ingested_first(s3, tmp_path):
    # given a correction (created at 12:00) ingested BEFORE the original (created at 10:00)
    ten = at("2024-05-01T10:00")
    _land_customers(s3, [("c1", 6.0, ten, at("2024-05-01T12:00"))], "correction.parquet", now=NOW)
    _land_customers(s3, [("c1", 5.0, ten, ten)], "original.parquet", now=NOW + timedelta(hours=1))
    entities = _entities(
        tmp_path / "e.parquet", {"customer_id": ["c1"], "event_timestamp": [at("2024-05-01T11:00")]}
    )

    # when
    train = _train(s3, tmp_path, [CUSTOMER], entities)

    # then the later created row is the value, whatever the ingestion order
    assert train["spend"] == [6.0]


def test_without_a_created_time_the_later_ingest_wins_a_tie(s3, tmp_path):
    # given merchant 7 at 10:00 ingested twice: risk 0.1, then, an hour later, risk 0.9
    ten = at("2024-05-01T10:00")
    _land_merchants(s3, [(7, 0.1, ten)], "first.parquet", now=NOW)
    _land_merchants(s3, [(7, 0.9, ten)], "second.parquet", now=NOW + timedelta(hours=1))
    entities = _entities(tmp_path / "e.parquet", {"merchant_id": [7], "event_timestamp": [ten]})

    # when
    train = _train(s3, tmp_path, [MERCHANT], entities)

    # then
    assert train["risk"] == [0.9]


def test_two_views_keep_the_entity_rows_their_order_and_other_columns(s3, tmp_path):
    # given rows of both views
    ten = at("2024-05-01T10:00")
    _land_customers(s3, [("c1", 1.0, ten, ten), ("c2", 2.0, ten, ten)])
    _land_merchants(s3, [(7, 0.7, ten), (8, 0.8, ten - timedelta(hours=3))])
    # and entity rows out of time order, with a label and an id, one for an unknown customer
    entities = _entities(
        tmp_path / "e.parquet",
        {
            "request": ["r3", "r1", "r2", "r4"],
            "customer_id": ["c2", "c1", "c9", "c1"],
            "merchant_id": [8, 7, 7, 7],
            "event_timestamp": [ten + timedelta(hours=1), ten, ten, ten - US],
            "label": [1, 0, 1, 0],
        },
    )

    # when
    with OfflineStore(s3, BUCKET) as store:
        result = store.training_set([CUSTOMER, MERCHANT], entities, tmp_path / "train.parquet")
    train = pq.read_table(result.out).to_pydict()

    # then every entity row, in input order, with its own columns first, then each view's features
    assert result.rows == 4
    assert result.columns == (
        "request", "customer_id", "merchant_id", "event_timestamp", "label", "spend", "orders", "vip", "segment", "risk"
    )  # fmt: skip
    assert train["request"] == ["r3", "r1", "r2", "r4"]
    assert train["label"] == [1, 0, 1, 0]
    assert train["spend"] == [2.0, 1.0, None, None]
    # merchant 8's row is 4 hours old at r3's time: past MERCHANT's 2-hour TTL
    assert train["risk"] == [None, 0.7, 0.7, None]


def test_a_training_set_for_the_pipeline_drops_the_keys_and_the_event_time(s3, tmp_path):
    # given rows of both views and entity rows with a label and another column
    ten = at("2024-05-01T10:00")
    _land_customers(s3, [("c1", 1.0, ten, ten)])
    _land_merchants(s3, [(7, 0.7, ten)])
    entities = _entities(
        tmp_path / "e.parquet",
        {
            "customer_id": ["c1"],
            "merchant_id": [7],
            "event_timestamp": [ten],
            "channel": ["web"],
            "label": [1],
        },
    )

    # when it is made to train on (no keys)
    with OfflineStore(s3, BUCKET) as store:
        result = store.training_set(
            [CUSTOMER, MERCHANT], entities, tmp_path / "train.parquet", keep_keys=False
        )

    # then what locates a row is gone (a model must not learn customer ids or times); the rest stays
    assert result.columns == ("channel", "label", "spend", "orders", "vip", "segment", "risk")
    assert pq.read_table(result.out).to_pydict()["risk"] == [0.7]


def test_a_csv_entity_table_gives_a_csv_training_set(s3, tmp_path):
    # given an entity table in CSV with zone offsets, and a customer id that looks like a number
    ten = at("2024-05-01T10:00")
    _land_customers(s3, [("007", 1.0, ten, ten)])
    entities = tmp_path / "e.csv"
    entities.write_text(
        "customer_id,event_timestamp,label\n007,2024-05-01T12:00:00+02:00,1\n007,2024-05-01T11:59:59+02:00,0\n"
    )

    # when
    with OfflineStore(s3, BUCKET) as store:
        result = store.training_set([CUSTOMER], entities, tmp_path / "train.csv")

    # then the key keeps its zeros, and 12:00+02:00 (10:00 UTC) sees the 10:00 row, a second before does not
    lines = result.out.read_text().splitlines()
    assert lines[0] == "customer_id,event_timestamp,label,spend,orders,vip,segment"
    assert lines[1:] == ["007,2024-05-01 10:00:00+00,1,1.0,1,false,s1", "007,2024-05-01 09:59:59+00,0,,,,"]


def test_no_future_value_leaks_into_random_data(s3, tmp_path):
    # given random rows for 20 customers over 3 days, every row with its own spend, some corrected
    rng = random.Random(16)
    start = at("2024-05-01T00:00")
    rows: list[tuple[str, float, datetime, datetime]] = []
    for index in range(600):
        when = start + timedelta(minutes=rng.randrange(3 * 24 * 60))
        rows.append((f"c{rng.randrange(20)}", float(index), when, when))
        if rng.random() < 0.1:  # a correction of the same event, created later
            rows.append((rows[-1][0], float(index) + 0.5, when, when + timedelta(minutes=5)))
    unique = {(r[0], r[2], r[3]): r for r in rows}  # a customer twice at one minute: keep one
    rows = list(unique.values())
    _land_customers(s3, rows)
    # and 2,000 entity rows at random times, a quarter of them exactly on a feature row's time
    points = []
    for _ in range(2000):
        if rng.random() < 0.25:
            row = rng.choice(rows)
            points.append((row[0], row[2]))
        else:
            points.append((f"c{rng.randrange(22)}", start + timedelta(seconds=rng.randrange(4 * 24 * 3600))))
    entities = _entities(
        tmp_path / "e.parquet",
        {"customer_id": [p[0] for p in points], "event_timestamp": [p[1] for p in points]},
    )

    # when
    train = _train(s3, tmp_path, [CUSTOMER], entities)

    # then each value is the one a brute-force search over every row finds
    def expected(customer: str, when: datetime) -> float | None:
        live = [r for r in rows if r[0] == customer and when - timedelta(hours=24) <= r[2] <= when]
        return max(live, key=lambda r: (r[2], r[3]))[1] if live else None

    assert train["spend"] == [expected(c, t) for c, t in points]
    assert sum(v is not None for v in train["spend"]) > 500  # the data exercises matches, not just nulls


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        (
            {"event_timestamp": [at("2024-05-01T10:00")]},
            "column customer_id: is missing: view 'customer' is keyed by it",
        ),
        (
            {"customer_id": ["c1"], "when": [at("2024-05-01T10:00")]},
            "column event_timestamp: is missing: the table needs each row's time",
        ),
        (
            {"customer_id": [1], "event_timestamp": [at("2024-05-01T10:00")]},
            "column customer_id: has type BIGINT, view 'customer' keys it as string",
        ),
        (
            {"customer_id": ["c1"], "event_timestamp": [at("2024-05-01T10:00")], "spend": [1.0]},
            "column spend: is a feature of view 'customer', which the training set adds: rename or drop it",
        ),
    ],
    ids=["missing-key", "missing-time", "wrong-key-type", "feature-name-taken"],
)
def test_a_bad_entity_table_is_refused_naming_file_and_column(s3, tmp_path, columns, problem):
    # given an entity table with one problem
    table = {n: pa.array(v, TS) if n in ("event_timestamp", "when") else v for n, v in columns.items()}
    pq.write_table(pa.table(table), tmp_path / "e.parquet")
    out = tmp_path / "train.parquet"

    # when
    with pytest.raises(FeatureDataError) as err, OfflineStore(s3, BUCKET) as store:
        store.training_set([CUSTOMER], tmp_path / "e.parquet", out)

    # then
    assert [str(p) for p in err.value.problems] == [f"{tmp_path / 'e.parquet'}: {problem}"]
    assert not out.exists()


def test_naive_entity_timestamps_are_refused(s3, tmp_path):
    # given a Parquet entity table with naive timestamps, and a CSV one with a naive row 2
    pq.write_table(
        pa.table(
            {"customer_id": ["c1"], "event_timestamp": pa.array([datetime(2024, 5, 1)], pa.timestamp("us"))}
        ),
        tmp_path / "naive.parquet",
    )
    (tmp_path / "naive.csv").write_text(
        "customer_id,event_timestamp\nc1,2024-05-01T10:00:00Z\nc1,2024-05-01T10:00:00\nc1,soon+00:00\n"
    )

    # when / then
    with OfflineStore(s3, BUCKET) as store:
        with pytest.raises(FeatureDataError) as parquet_err:
            store.training_set([CUSTOMER], tmp_path / "naive.parquet", tmp_path / "a.parquet")
        with pytest.raises(FeatureDataError) as csv_err:
            store.training_set([CUSTOMER], tmp_path / "naive.csv", tmp_path / "b.csv")
    assert [str(p) for p in parquet_err.value.problems] == [
        (
            f"{tmp_path / 'naive.parquet'}: column event_timestamp: holds timestamps without a time zone (naive): "
            "write them as UTC (timestamp with tz) (got 'TIMESTAMP')"
        )
    ]
    assert [str(p) for p in csv_err.value.problems] == [
        (
            f"{tmp_path / 'naive.csv'}: row 2, column event_timestamp: has no time zone: add an offset such as +00:00 "
            "or Z (got '2024-05-01T10:00:00')"
        ),
        f"{tmp_path / 'naive.csv'}: row 3, column event_timestamp: is not an ISO 8601 timestamp (got 'soon+00:00')",
    ]
    assert list(tmp_path.glob("a.parquet")) == list(tmp_path.glob("b.csv")) == []


def test_the_athena_query_gives_the_same_training_set(s3, tmp_path):
    # given both views' rows, ties and TTL edges included, and an entity table
    ten = at("2024-05-01T10:00")
    _land_customers(
        s3,
        [
            ("c1", 1.0, ten - timedelta(hours=2), ten),
            ("c1", 2.0, ten, ten),
            ("c1", 3.0, ten, ten + timedelta(minutes=1)),
            ("c1", 4.0, ten + US, ten),
            ("c2", 5.0, ten - timedelta(hours=30), ten),
        ],
    )
    _land_merchants(s3, [(7, 0.1, ten)], "a.parquet", now=NOW)
    _land_merchants(s3, [(7, 0.2, ten)], "b.parquet", now=NOW + timedelta(hours=1))
    entities = _entities(
        tmp_path / "e.parquet",
        {
            "customer_id": ["c1", "c1", "c2", "c1", "c3"],
            "merchant_id": [7, 7, 7, 8, 7],
            "event_timestamp": [ten, ten - US, ten, ten + timedelta(hours=3), ten + timedelta(hours=1)],
            "label": [0, 1, 0, 1, 1],
        },
    )
    views = [CUSTOMER, MERCHANT]
    with OfflineStore(s3, BUCKET) as store:
        ours = pq.read_table(store.training_set(views, entities, tmp_path / "train.parquet").out)
        files = {v.name: store.sync(v).files for v in views}

        # when the Athena query runs over tables of the same files, in a DuckDB database named like Glue's
        database = glue_database("acme", "dev")
        sql = athena_training_set_sql(views, database=database, entity_table="entities")
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f'CREATE SCHEMA "{database}"')
        for name, paths in files.items():
            con.execute(
                f'CREATE TABLE "{database}"."{name}" AS SELECT * FROM read_parquet(?)',
                [[str(p) for p in paths]],
            )
        con.execute(f'CREATE TABLE "{database}"."entities" AS SELECT * FROM read_parquet(?)', [str(entities)])
        athena = con.execute(sql).to_arrow_table()

    # then it names the catalog's tables, and gives the same rows (in its own order)
    assert f'"{database}"."customer"' in sql and f'"{database}"."merchant"' in sql and "ASOF" not in sql
    key = [("label", "ascending"), ("event_timestamp", "ascending"), ("customer_id", "ascending")]
    assert athena.sort_by(key).to_pydict() == ours.sort_by(key).to_pydict()
    assert ours.to_pydict()["spend"] == [3.0, 1.0, None, 4.0, None]
    assert ours.to_pydict()["risk"] == [0.2, None, 0.2, None, 0.2]
