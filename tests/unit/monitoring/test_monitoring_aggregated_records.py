"""Inference-log format 5: several requests aggregated into one Kinesis record, as the model server
writes them and the monitor reads them (each request as a format-4 record would be)."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from core.errors import InferenceRecordError
from pipelines.inference_log.decoding import (
    decode_kinesis_batch,
    decode_stream_record,
    parse_payload,
    parse_payloads,
)
from pipelines.inference_log.encoding import RecordEncoder
from pipelines.inference_log.format import AGGREGATE_MAGIC
from pipelines.monitoring.window import decode_records

ENCODER = RecordEncoder(["x", "y"], ["plan"])


def _aggregate(
    n_rows=(1, 3, 2), *, errors=None, encoder=ENCODER, **overrides
) -> tuple[bytes, list[np.ndarray]]:
    rng = np.random.default_rng(sum(n_rows))
    matrices = [np.round(rng.normal(size=(n, 2)), 3) for n in n_rows]
    errors = errors or [False] * len(n_rows)
    blocks = encoder.numeric_blocks(matrices)
    fields = {
        "request_ids": [f"req{i}" for i in range(len(n_rows))],
        "model_version": "7",
        "timestamps": [1_700_000_000.0 + i for i in range(len(n_rows))],
        "latencies_ms": [1.5 * (i + 1) for i in range(len(n_rows))],
        "errors": errors,
        "n_rows": list(n_rows),
        "predictions": [None if e else np.arange(n) % 2 for n, e in zip(n_rows, errors, strict=True)],
        "categorical": [np.array([[f"p{i}"]] * n, dtype=object) for i, n in enumerate(n_rows)],
        "numeric_block": "f4",
        "numeric_parts": [data for _, data in blocks],
    }
    return encoder.encode_aggregate(**{**fields, **overrides}), matrices


def _split(frame: bytes) -> tuple[dict, bytes]:
    end = 8 + int.from_bytes(frame[4:8], "little")
    return orjson.loads(frame[8:end]), frame[end:]


def _tamper(frame: bytes, block: bytes | None = None, **fields) -> bytes:
    header, old_block = _split(frame)
    head = orjson.dumps({**header, **fields})
    return AGGREGATE_MAGIC + len(head).to_bytes(4, "little") + head + (old_block if block is None else block)


def test_an_aggregated_record_reads_as_its_requests_each_with_its_own_rows():
    data, matrices = _aggregate((1, 3, 2), errors=[False, True, False])
    records = decode_stream_record(data)
    assert [(r.request_id, r.n_rows, r.error, r.model_version) for r in records] == [
        ("req0", 1, False, "7"),
        ("req1", 3, True, "7"),
        ("req2", 2, False, "7"),
    ]
    assert records[1].predictions is None and records[2].predictions == [0, 1]
    assert [r.latency_ms for r in records] == [1.5, 3.0, 4.5]
    for record, matrix in zip(records, matrices, strict=True):
        np.testing.assert_array_equal(np.array(record.numeric_rows), matrix)  # 3 decimals come back exactly
    assert [row for r in records for row in r.categorical_rows] == [
        ["p0"],
        ["p1"],
        ["p1"],
        ["p1"],
        ["p2"],
        ["p2"],
    ]


def test_the_monitor_reads_every_request_of_an_aggregated_record_under_its_sequence_number():
    data, matrices = _aggregate((2, 5))
    event = {
        "eventID": "shardId-000000000001:9",
        "kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": "9"},
    }
    decoded = decode_records([event])
    assert [(r.sequence_number, r.record["request_id"], r.record["n_rows"]) for r in decoded.records] == [
        ("9", "req0", 2),
        ("9", "req1", 5),
    ]
    np.testing.assert_allclose(decoded.records[1].record["numeric"], matrices[1])
    assert [r.request_id for r in decode_kinesis_batch([event]).records] == ["req0", "req1"]


def test_parse_payload_takes_a_single_request_aggregate_and_refuses_a_larger_one():
    single, _ = _aggregate((4,))
    assert parse_payload(single)["n_rows"] == 4
    many, _ = _aggregate((1, 1))
    with pytest.raises(
        InferenceRecordError, match="aggregated record of 2 requests: read it with parse_payloads"
    ):
        parse_payload(many)
    assert len(parse_payloads(many)) == 2


GOOD, _ = _aggregate((1, 2))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_tamper(GOOD, requests=0), "requests: expected a positive integer"),
        (_tamper(GOOD, requests=3), "request_id: expected a list of 3 values"),
        (_tamper(GOOD, latency_ms=[1.0]), "latency_ms: expected a list of 2 values"),
        (_tamper(GOOD, n_rows=[1, 0]), "n_rows: expected positive integers"),
        (_tamper(GOOD, n_rows=[1, 3]), "numeric_block: 24 bytes, not 4 rows x 2 f4 values"),
        (_tamper(GOOD, block=_split(GOOD)[1][:-4]), "numeric_block: 20 bytes"),
        (_tamper(GOOD, categorical_rows=[["a"]]), "categorical_rows: expected 3 rows"),
        (_tamper(GOOD, predictions=[[0], [0, 1, 1]]), "requests[1] ('req1'): predictions"),
        (_tamper(GOOD, request_id=["a", 7]), "requests[1] (7): request_id"),
        (_tamper(GOOD, model_version=None), "requests[0] ('req0'): model_version"),
        (_tamper(GOOD, v=4), '"v": 5'),
        (_tamper(GOOD, numeric_block="f2"), "numeric_block: expected 'f4' or 'f8'"),
    ],
)
def test_a_malformed_aggregate_is_one_malformed_record_with_its_reason(data, reason):
    good_event = {"kinesis": {"data": base64.b64encode(GOOD).decode(), "sequenceNumber": "1"}}
    bad_event = {"kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": "2"}}
    decoded = decode_records([good_event, bad_event])
    # the good aggregate's two requests are kept, none of the bad one's
    assert [(r.sequence_number, r.record["request_id"]) for r in decoded.records] == [
        ("1", "req0"),
        ("1", "req1"),
    ]
    assert decoded.malformed == ["2"]
    assert reason in decoded.reasons["2"]
    with pytest.raises(InferenceRecordError):
        parse_payloads(data)
