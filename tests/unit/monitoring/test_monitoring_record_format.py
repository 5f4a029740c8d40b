"""Inference-log formats 4 (binary frames), 3 and 2 (JSON) as the monitor reads them: one record per
request, rows counted as rows."""

from __future__ import annotations

import base64
import math

import numpy as np
import orjson
import pandas as pd
import pytest

from core.spec import ModelSpec, ProblemType
from pipelines.inference_log.decoding import InferenceRecord, decode_record_data
from pipelines.inference_log.encoding import encode_record
from pipelines.inference_log.format import FRAME_MAGIC
from pipelines.monitoring.baseline import compute_baseline
from pipelines.monitoring.window import compute_window_metrics, decode_records

SPEC = ModelSpec(
    name="churn",
    problem=ProblemType.CLASSIFICATION,
    target="target",
    primary_metric="roc_auc",
    minimum_metric=0.5,
)
NAMES = ["x", "y"]


@pytest.fixture(scope="module")
def baseline():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=5_000),
            "y": rng.uniform(size=5_000),
            "plan": rng.choice(["basic", "pro"], size=5_000),
        }
    )
    frame["target"] = rng.integers(0, 2, len(frame))
    return compute_baseline(frame, SPEC)


def _record(
    request_id: str, numeric: np.ndarray, *, error: bool = False, plan: str | None = "pro", **extra
) -> bytes:
    n = len(numeric)
    return encode_record(
        request_id=request_id,
        model_version="1",
        timestamp=1_700_000_000.0,
        latency_ms=5.0,
        error=error,
        numeric_features=NAMES,
        numeric=numeric,
        categorical_features=["plan"],
        categorical=np.array([[plan]] * n, dtype=object),
        predictions=None if error else np.arange(n) % 2,
        **extra,
    )


def _event(data: bytes, sequence: int) -> dict:
    return {
        "eventID": f"shardId-000000000001:{sequence}",
        "kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": str(sequence)},
    }


def _split(frame: bytes) -> tuple[dict, bytes]:
    """A format-4 frame's header and numeric block."""
    end = 8 + int.from_bytes(frame[4:8], "little")
    return orjson.loads(frame[8:end]), frame[end:]


def _frame(header: dict, block: bytes = b"") -> bytes:
    head = orjson.dumps(header)
    return FRAME_MAGIC + len(head).to_bytes(4, "little") + head + block


def _tamper(frame: bytes, **fields) -> bytes:
    """The frame with header fields replaced."""
    header, block = _split(frame)
    return _frame({**header, **fields}, block)


def _as_json(frame: bytes, *, v: int = 3, **fields) -> bytes:
    """The frame as a format 2 or 3 JSON record: its block base64 in ``numeric_f32``/``numeric_f64``."""
    header, block = _split(frame)
    kind = header.pop("numeric_block")
    header[{"f4": "numeric_f32", "f8": "numeric_f64"}[kind]] = base64.b64encode(block).decode()
    return orjson.dumps({**header, "v": v, **fields})


def test_a_record_round_trips_its_rows_exactly_with_missing_values():
    # float64 blocks (format 2's, and the float32 form's fallback) are exact
    numeric = np.array([[0.1, np.nan], [1e-300, 2.0 / 3.0]])
    decoded = decode_records([_event(_record("a", numeric, precision="float64"), 1)])
    record = decoded.records[0].record
    assert record["numeric_features"] == ("x", "y") and record["n_rows"] == 2
    np.testing.assert_array_equal(record["numeric"], numeric)  # bit for bit, NaN included
    typed = decode_record_data(_record("a", numeric, precision="float64"))
    assert isinstance(typed, InferenceRecord) and typed.n_rows == 2
    assert typed.rows()[0] == {"x": 0.1, "y": None, "plan": "pro"}


def test_float32_records_give_back_short_decimals_exactly_so_bin_edges_still_match():
    # 0.7 as float32 is 0.69999998: read as such, every 0.7 would fall below a baseline edge of 0.7
    numeric = np.array([[0.7, np.nan], [17.99, 123456.0], [-0.0015, 2.0 / 3.0]])
    data = _record("a", numeric)
    header, block = _split(data)
    assert header["v"] == 4 and header["numeric_block"] == "f4" and len(block) == 6 * 4
    record = decode_records([_event(data, 1)]).records[0].record
    np.testing.assert_array_equal(record["numeric"][:, 0], numeric[:, 0])
    assert record["numeric"][1, 1] == 123456.0 and math.isnan(record["numeric"][0, 1])
    assert (
        record["numeric"][2, 1] == pytest.approx(2.0 / 3.0, rel=1.2e-7)
        and record["numeric"][2, 1] != 2.0 / 3.0
    )
    assert decode_record_data(data).rows()[0] == {"x": 0.7, "y": None, "plan": "pro"}


def test_format_2_3_and_4_records_are_read_together(baseline):
    rng = np.random.default_rng(3)
    values = [np.round(rng.normal(size=(4, 2)), 2) for _ in range(3)]
    v2 = _as_json(_record("v2", values[0], precision="float64"), v=2)
    v3 = _as_json(_record("v3", values[1]))
    v4 = _record("v4", values[2])
    decoded = decode_records([_event(v2, 1), _event(v3, 2), _event(v4, 3)])
    assert decoded.malformed == [] and [r.record["request_id"] for r in decoded.records] == ["v2", "v3", "v4"]
    for record, expected in zip(decoded.records, values, strict=True):
        np.testing.assert_array_equal(record.record["numeric"], expected)
    assert compute_window_metrics([r.record for r in decoded.records], baseline).row_count == 12
    assert decode_record_data(v3).rows() == decode_record_data(_record("v3", values[1])).rows()


def test_requests_count_once_while_features_and_predictions_count_every_row(baseline):
    rng = np.random.default_rng(1)
    raw = [
        _event(_record("big", rng.normal(size=(100, 2))), 1),
        _event(_record("one", rng.normal(size=(1, 2))), 2),
        _event(_record("failed", rng.normal(size=(3, 2)), error=True), 3),
    ]
    metrics = compute_window_metrics([r.record for r in decode_records(raw).records], baseline)
    assert (metrics.request_count, metrics.row_count, metrics.error_count) == (3, 104, 1)
    assert metrics.error_rate == pytest.approx(1 / 3)
    assert metrics.features["x"].count == 104  # a failed request's rows still describe the traffic
    assert metrics.as_dict()["row_count"] == 104


def test_the_chunks_of_one_request_count_as_one_request(baseline):
    numeric = np.arange(20.0).reshape(10, 2)
    chunks = [_record("split", numeric[i * 5 : (i + 1) * 5], chunk=i, chunks=2) for i in range(2)]
    metrics = compute_window_metrics(
        [r.record for r in decode_records([_event(c, i) for i, c in enumerate(chunks, 1)]).records], baseline
    )
    assert (metrics.request_count, metrics.row_count) == (1, 10)
    assert len(metrics.latencies_ms) == 1


def test_records_under_other_feature_lists_line_up_by_name(baseline):
    swapped = encode_record(
        request_id="s",
        model_version="1",
        timestamp=1.0,
        latency_ms=1.0,
        error=False,
        numeric_features=["y", "x"],
        numeric=np.array([[0.5, 7.0]]),
        predictions=np.array([1]),
    )
    normal = _record("n", np.array([[7.0, 0.5]]))
    metrics = compute_window_metrics(
        [r.record for r in decode_records([_event(swapped, 1), _event(normal, 2)]).records], baseline
    )
    assert metrics.features["x"].count == 2 and metrics.features["plan"].count == 1


GOOD = _record("ok", np.array([[1.0, 2.0]]))
GOOD64 = _record("ok", np.array([[1.0, 2.0]]), precision="float64")
GOOD_JSON = _as_json(GOOD)


def _json_rows(rows: list) -> bytes:
    payload = {**orjson.loads(GOOD_JSON), "numeric_rows": rows}
    del payload["numeric_f32"], payload["n_rows"]
    return orjson.dumps(payload)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "JSON"),
        (b"TML\x09" + GOOD[4:], "frame version"),
        (GOOD[:6], "shorter than its 8-byte head"),
        (GOOD[:4] + (10**6).to_bytes(4, "little") + GOOD[8:], "the header says 1000000 bytes"),
        (_frame({"v": 4})[:8] + b"{nope!}", "frame header: not JSON"),
        (_tamper(GOOD, v=3), '"v": 4'),
        (_tamper(GOOD, numeric_block="f2"), "numeric_block"),
        (_tamper(GOOD, n_rows=2), "numeric_f32: 8 bytes, not 2 rows x 2 float32 values"),
        (GOOD + b"\x00", "numeric_f32: 9 bytes"),
        (_tamper(GOOD64, n_rows=2), "numeric_f64: 16 bytes, not 2 rows"),
        (
            _frame({k: v for k, v in _split(GOOD)[0].items() if k != "numeric_block"}, _split(GOOD)[1]),
            "bytes after the header but no numeric_block",
        ),
        (_as_json(GOOD, v=4), "not a JSON format version"),
        (_as_json(GOOD, n_rows=2), "numeric_f32"),  # the block holds one row, not two
        (_as_json(GOOD, numeric_f32="!" * 12), "base64"),
        (_as_json(GOOD64, numeric_f64="!" * 24), "base64"),
        (_tamper(GOOD, predictions=[1, 0]), "predictions"),
        (_tamper(GOOD, request_id=7), "request_id"),
        (_tamper(GOOD, categorical_rows=[["pro", "extra"]]), "categorical_rows[0]"),
        (
            orjson.dumps(
                {
                    k: v
                    for k, v in {**orjson.loads(GOOD_JSON), "numeric_rows": [[1.0]], "n_rows": None}.items()
                    if k not in ("numeric_f32", "n_rows")
                }
            ),
            "numeric_rows[0]",
        ),
        (_json_rows([[1.0, "abc"]]), "not a number"),
    ],
)
def test_a_malformed_record_is_counted_with_its_reason_and_the_others_are_kept(data, reason):
    decoded = decode_records([_event(GOOD, 1), _event(data, 2), _event(GOOD, 3)])
    assert [r.sequence_number for r in decoded.records] == ["1", "3"]
    assert decoded.malformed == ["2"]
    assert reason in decoded.reasons["2"]


def test_json_rows_from_another_producer_are_read_like_the_binary_block():
    record = decode_records([_event(_json_rows([[1.0, None]]), 1)]).records[0].record
    assert record["numeric"][0, 0] == 1.0 and math.isnan(record["numeric"][0, 1])
