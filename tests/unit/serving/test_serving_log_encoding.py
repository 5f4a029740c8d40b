"""The server's side of inference-log format 4: one record per request, chunked under the record limit."""

from __future__ import annotations

import time

import numpy as np

from pipelines.data.features import FeatureSignature
from pipelines.inference_log.decoding import decode_record_data
from pipelines.inference_log.encoding import RecordEncoder
from pipelines.inference_log.logger import LogEntry, encode_records
from pipelines.serving.schema import FeatureBatch, InputSchema

SCHEMA = InputSchema(
    [FeatureSignature(name=f"f{i}", dtype="float64", kind="numeric") for i in range(30)]
    + [FeatureSignature(name="plan", dtype="str", kind="categorical")]
)


def _entry(rows: int, *, error: bool = False, numeric: np.ndarray | None = None) -> LogEntry:
    if (
        numeric is None
    ):  # decimals as requests carry them (two decimals): float32 on the wire, exact when read
        numeric = np.round(np.random.default_rng(rows).normal(size=(rows, 30)) * 100, 2)
    numeric[0, 3] = np.nan
    return LogEntry(
        request_id="req-1",
        model_version="9",
        batch=FeatureBatch(
            numeric=numeric, categorical=np.array([["pro"]] * rows, dtype=object), n_rows=rows
        ),
        predictions=None if error else np.array(["yes", "no"] * (rows // 2) + ["yes"] * (rows % 2)),
        latency_ms=2.5,
        timestamp=time.time(),
        error=error,
    )


def test_a_request_is_one_record_holding_all_its_rows():
    entry = _entry(100)
    records, dropped = encode_records(entry, SCHEMA)
    assert dropped == 0 and len(records) == 1 and records[0].rows == 100 and records[0].key == "req-1"
    decoded = decode_record_data(records[0].data)
    assert (decoded.request_id, decoded.model_version, decoded.n_rows, decoded.chunks) == (
        "req-1",
        "9",
        100,
        1,
    )
    rows = decoded.rows()
    assert rows[0]["f3"] is None and rows[1]["f0"] == entry.batch.numeric[1, 0] and rows[99]["plan"] == "pro"
    assert decoded.predictions[:3] == ["yes", "no", "yes"]


def test_a_request_over_the_record_limit_is_split_into_chunks_that_each_fit():
    entry = _entry(1000)
    records, dropped = encode_records(entry, SCHEMA, max_bytes=64 * 1024)
    assert dropped == 0 and len(records) > 1
    assert all(r.size <= 64 * 1024 for r in records)
    decoded = [decode_record_data(r.data) for r in records]
    assert [d.chunk for d in decoded] == list(range(len(records)))
    assert {d.chunks for d in decoded} == {len(records)} and {d.request_id for d in decoded} == {"req-1"}
    values = np.array([row for d in decoded for row in d.numeric_rows], dtype=float)
    np.testing.assert_array_equal(values, entry.batch.numeric)


def test_a_single_row_over_the_limit_is_dropped_and_counted():
    records, dropped = encode_records(_entry(3), SCHEMA, max_bytes=200)
    assert (records, dropped) == ([], 3)


def test_a_failed_request_is_logged_with_its_rows_and_no_predictions():
    decoded = decode_record_data(encode_records(_entry(2, error=True), SCHEMA)[0][0].data)
    assert decoded.error is True and decoded.predictions is None and decoded.n_rows == 2


def test_values_of_more_than_6_digits_keep_float32_precision_and_short_decimals_come_back_exactly():
    rng = np.random.default_rng(5)
    numeric = rng.normal(size=(50, 30)) * 10.0 ** rng.integers(-6, 6, size=(50, 30))
    # decimals of at most 6 significant digits, e.g. 0.7, which float32 holds as 0.69999998
    numeric[:, :10] = [[float(f"{v:.6g}") for v in row] for row in numeric[:, :10]]
    numeric[0, :3] = [0.7, 0.1, 17.99]
    records, _ = encode_records(_entry(50, numeric=numeric), SCHEMA)
    assert b'"numeric_block":"f4"' in records[0].data
    decoded = np.array(decode_record_data(records[0].data).numeric_rows, dtype=float)
    np.testing.assert_array_equal(decoded[:, :10], numeric[:, :10])
    np.testing.assert_allclose(decoded, numeric, rtol=1.2e-7, atol=0)
    assert np.nanmax(np.abs(decoded - numeric)) > 0  # the long values really went through float32


def test_a_value_float32_cannot_hold_makes_the_record_exact_float64():
    numeric = np.round(np.random.default_rng(1).normal(size=(2, 30)), 1)
    numeric[1, 7] = 1e300
    with np.errstate(over="ignore"):
        records, _ = encode_records(_entry(2, numeric=numeric), SCHEMA)
    assert b'"numeric_block":"f8"' in records[0].data
    np.testing.assert_array_equal(
        np.array(decode_record_data(records[0].data).numeric_rows, dtype=float), numeric
    )


def test_blocks_made_for_many_requests_at_once_encode_as_each_alone_would():
    # given three requests, the middle one holding a value float32 cannot hold
    entries = [_entry(n) for n in (1, 3, 200)]
    entries[1].batch.numeric[2, 5] = 1e300
    encoder = RecordEncoder(SCHEMA.numeric_names, SCHEMA.categorical_names)
    # when their blocks are made in one pass
    blocks = encoder.numeric_blocks([e.batch.numeric for e in entries])
    # then only the overflowing request is float64, and every record matches the one made alone
    assert [kind for kind, _ in blocks] == ["f4", "f8", "f4"]
    for entry, block in zip(entries, blocks, strict=True):
        together, _ = encode_records(entry, SCHEMA, encoder=encoder, block=block)
        with np.errstate(over="ignore"):
            alone, _ = encode_records(entry, SCHEMA)
        assert [r.data for r in together] == [r.data for r in alone]
    # and a request split into chunks slices its block with its rows
    chunked, _ = encode_records(entries[2], SCHEMA, max_bytes=8 * 1024, encoder=encoder, block=blocks[2])
    assert len(chunked) > 1
    values = np.array([row for r in chunked for row in decode_record_data(r.data).numeric_rows], dtype=float)
    np.testing.assert_array_equal(values, entries[2].batch.numeric)


def test_a_batch_of_only_empty_requests_gets_empty_blocks():
    encoder = RecordEncoder(SCHEMA.numeric_names, SCHEMA.categorical_names)
    width = len(SCHEMA.numeric_names)
    blocks = encoder.numeric_blocks([np.zeros((0, width))])
    assert [(kind, bytes(data)) for kind, data in blocks] == [("f4", b"")]
    blocks = encoder.numeric_blocks([np.zeros((0, width)), np.ones((2, width))])
    assert [(kind, len(data)) for kind, data in blocks] == [("f4", 0), ("f4", 2 * width * 4)]
