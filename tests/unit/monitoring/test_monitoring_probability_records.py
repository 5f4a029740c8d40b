"""Inference-log formats 6 and 7: a classifier's class probabilities logged with each answered row,
as the server's encoder writes them and both readers (the monitor's and the typed one) read them."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression

from core.errors import InferenceRecordError
from pipelines.data.features import FeatureSignature
from pipelines.inference_log.decoding import decode_stream_record, parse_payloads
from pipelines.inference_log.encoding import RecordEncoder
from pipelines.inference_log.format import (
    AGGREGATE_MAGIC,
    FRAME_MAGIC,
    PROBA_AGGREGATE_MAGIC,
    PROBA_FRAME_MAGIC,
)
from pipelines.inference_log.logger import LogEntry, encode_records
from pipelines.monitoring.window import decode_records
from pipelines.serving.schema import FeatureBatch, InputSchema


def _fitted(loader, features: int) -> tuple[LogisticRegression, np.ndarray]:
    X, y = loader(return_X_y=True)
    X = X[:, :features]
    return LogisticRegression(max_iter=2000).fit(X, y), X


@pytest.fixture(scope="module")
def binary() -> tuple[LogisticRegression, np.ndarray]:
    return _fitted(load_breast_cancer, 4)


@pytest.fixture(scope="module")
def multiclass() -> tuple[LogisticRegression, np.ndarray]:
    return _fitted(load_iris, 4)


def _names(n: int) -> list[str]:
    return [f"f{j}" for j in range(n)]


def _event(data: bytes, sequence: int) -> dict:
    return {
        "eventID": f"shardId-000000000001:{sequence}",
        "kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": str(sequence)},
    }


def _frame(encoder: RecordEncoder, model, rows: np.ndarray, request_id: str = "r", **fields) -> bytes:
    return encoder.encode(
        request_id=request_id,
        model_version="3",
        timestamp=1_700_000_000.0,
        latency_ms=2.0,
        error=False,
        numeric=rows,
        predictions=model.predict(rows),
        probabilities=model.predict_proba(rows),
        **fields,
    )


def _split(frame: bytes) -> tuple[dict, bytes]:
    end = 8 + int.from_bytes(frame[4:8], "little")
    return orjson.loads(frame[8:end]), frame[end:]


def _rebuilt(magic: bytes, header: dict, tail: bytes) -> bytes:
    head = orjson.dumps(header)
    return magic + len(head).to_bytes(4, "little") + head + tail


def test_a_binary_classifiers_frame_carries_the_positive_class_probability_and_reads_back_exactly(binary):
    # given a fitted logistic regression and 25 rows it answered
    model, X = binary
    rows = X[:25]
    encoder = RecordEncoder(_names(4), classes=model.classes_)

    # when the server's encoder writes the request and the monitor reads it
    data = _frame(encoder, model, rows)
    record = decode_records([_event(data, 1)]).records[0].record

    # then the frame is format 6 with one float64 per row after the numeric block, and the reader
    # gives back predict_proba's matrix bit for bit
    header, tail = _split(data)
    assert data[:4] == PROBA_FRAME_MAGIC and header["v"] == 6 and header["classes"] == [0, 1]
    assert len(tail) == 25 * 4 * 4 + 25 * 8
    expected = model.predict_proba(rows)
    assert record["classes"] == (0, 1)
    np.testing.assert_array_equal(record["probabilities"][:, 1], expected[:, 1])
    np.testing.assert_array_equal(record["probabilities"][:, 0], 1.0 - expected[:, 1])
    typed = decode_stream_record(data)[0]
    assert typed.classes == [0, 1] and typed.probabilities == record["probabilities"].tolist()


def test_a_multiclass_frame_carries_one_probability_per_class_in_the_models_order(multiclass):
    model, X = multiclass
    rows = X[::10]
    encoder = RecordEncoder(_names(4), classes=model.classes_)

    record = parse_payloads(_frame(encoder, model, rows))[0]

    assert record["classes"] == (0, 1, 2)
    np.testing.assert_array_equal(record["probabilities"], model.predict_proba(rows))


def test_an_aggregate_gives_each_answered_request_its_own_probabilities_and_a_failed_one_none(binary):
    # given three requests, the middle one failed (no predictions, no probabilities)
    model, X = binary
    matrices = [X[0:2], X[2:5], X[5:6]]
    encoder = RecordEncoder(_names(4), classes=[0, 1])
    probabilities = [model.predict_proba(matrices[0]), None, model.predict_proba(matrices[2])]
    blocks = encoder.probability_blocks(probabilities)

    # when they are aggregated into one record and read back
    data = encoder.encode_aggregate(
        request_ids=["a", "b", "c"],
        model_version="3",
        timestamps=[1.0, 2.0, 3.0],
        latencies_ms=[1.0, 1.0, 1.0],
        errors=[False, True, False],
        n_rows=[2, 3, 1],
        predictions=[model.predict(matrices[0]), None, model.predict(matrices[2])],
        numeric_block="f4",
        numeric_parts=[part for _, part in encoder.numeric_blocks(matrices)],
        probability_parts=[b for b in blocks if b is not None],
    )
    records = parse_payloads(data)

    # then it is format 7, and each request reads as a format-6 frame of its own would
    assert data[:4] == PROBA_AGGREGATE_MAGIC
    assert [r["request_id"] for r in records] == ["a", "b", "c"]
    np.testing.assert_array_equal(records[0]["probabilities"], probabilities[0])
    assert "probabilities" not in records[1] and records[1]["predictions"] is None
    np.testing.assert_array_equal(records[2]["probabilities"], probabilities[2])


def test_a_request_split_into_chunks_keeps_each_chunks_probabilities(binary):
    model, X = binary
    rows = X[:300]
    schema = InputSchema([FeatureSignature(name=n, dtype="float64", kind="numeric") for n in _names(4)])
    encoder = RecordEncoder(_names(4), classes=[0, 1])
    entry = LogEntry(
        request_id="big",
        model_version="3",
        batch=FeatureBatch(numeric=rows, categorical=None, n_rows=len(rows)),
        predictions=model.predict(rows),
        latency_ms=1.0,
        timestamp=1.0,
        probabilities=model.predict_proba(rows),
    )

    records, dropped = encode_records(entry, schema, max_bytes=4 * 1024, encoder=encoder)

    assert dropped == 0 and len(records) > 1
    decoded = [parse_payloads(r.data)[0] for r in records]
    assert [d["chunk"] for d in decoded] == list(range(len(records)))
    np.testing.assert_array_equal(
        np.concatenate([d["probabilities"] for d in decoded]), model.predict_proba(rows)
    )


def test_without_classes_or_on_failure_the_encoder_writes_formats_4_and_5_as_before(binary):
    model, X = binary
    rows = X[:3]
    plain = RecordEncoder(_names(4))
    with_classes = RecordEncoder(_names(4), classes=[0, 1])
    fields = {"request_id": "r", "model_version": "3", "timestamp": 1.0, "latency_ms": 1.0, "numeric": rows}

    regressor = plain.encode(error=False, predictions=model.predict(rows), **fields)
    ignored = plain.encode(
        error=False, predictions=model.predict(rows), probabilities=model.predict_proba(rows), **fields
    )
    failed = with_classes.encode(error=True, predictions=None, **fields)

    assert regressor[:4] == ignored[:4] == failed[:4] == FRAME_MAGIC
    assert regressor == ignored
    for data in (regressor, failed):
        assert "probabilities" not in parse_payloads(data)[0]
        assert decode_stream_record(data)[0].probabilities is None


def test_older_formats_still_read_beside_format_6_in_one_batch(binary):
    # given a format 4 record, a format 5 aggregate and a JSON format 3 record beside a format 6 one
    model, X = binary
    plain = RecordEncoder(_names(4))
    v4 = plain.encode(
        request_id="v4", model_version="3", timestamp=1.0, latency_ms=1.0, error=False,
        numeric=X[:2], predictions=model.predict(X[:2]),
    )  # fmt: skip
    v5 = plain.encode_aggregate(
        request_ids=["v5a", "v5b"], model_version="3", timestamps=[1.0, 1.0], latencies_ms=[1.0, 1.0],
        errors=[False, False], n_rows=[1, 1], predictions=[model.predict(X[2:3]), model.predict(X[3:4])],
        numeric_block="f4", numeric_parts=[p for _, p in plain.numeric_blocks([X[2:3], X[3:4]])],
    )  # fmt: skip
    header, block = _split(v4)
    del header["numeric_block"]
    v3 = orjson.dumps({**header, "v": 3, "request_id": "v3", "numeric_f32": base64.b64encode(block).decode()})
    v6 = _frame(RecordEncoder(_names(4), classes=[0, 1]), model, X[4:6], "v6")

    # when the monitor decodes the batch
    decoded = decode_records([_event(d, i) for i, d in enumerate([v4, v5, v3, v6], 1)])

    # then every request is read; only the format 6 one has probabilities
    assert v5[:4] == AGGREGATE_MAGIC and decoded.malformed == []
    by_id = {r.record["request_id"]: r.record for r in decoded.records}
    assert sorted(by_id) == ["v3", "v4", "v5a", "v5b", "v6"]
    assert [i for i, r in by_id.items() if "probabilities" in r] == ["v6"]
    np.testing.assert_allclose(by_id["v4"]["numeric"], X[:2], rtol=1.2e-7)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tail": -8}, "probability_block: 192 bytes, not 25 rows x 1 f8 values"),
        ({"tail": +8}, "probability_block: 208 bytes, not 25 rows x 1 f8 values"),
        ({"classes": [0]}, "classes: expected a list of two or more distinct class labels"),
        ({"classes": [1, 1]}, "classes: expected a list of two or more distinct class labels"),
        ({"probability_block": "f4"}, "probability_block: expected 'f8', got 'f4'"),
        ({"error": True}, "error: a format 6 record is an answered request"),
        ({"bad_value": 1.5}, "probability_block: row 7: [1.5] are not probabilities in [0, 1]"),
        ({"bad_value": float("nan")}, "probability_block: row 7: [nan] are not probabilities"),
    ],
)
def test_a_malformed_probability_record_is_rejected_whole_with_its_reason_and_the_batch_goes_on(
    binary, change, reason
):
    # given a good format 6 record, with one thing wrong
    model, X = binary
    good = _frame(RecordEncoder(_names(4), classes=[0, 1]), model, X[:25], "ok")
    header, tail = _split(good)
    numeric, probabilities = tail[: 25 * 16], bytearray(tail[25 * 16 :])
    if "bad_value" in change:
        probabilities[7 * 8 : 8 * 8] = np.array([change["bad_value"]], dtype="<f8").tobytes()
    elif "tail" in change:
        probabilities = probabilities[: change["tail"]] if change["tail"] < 0 else probabilities + b"\0" * 8
    else:
        header.update(change)
    bad = _rebuilt(PROBA_FRAME_MAGIC, header, numeric + bytes(probabilities))

    # when the monitor decodes it between two good ones
    decoded = decode_records([_event(good, 1), _event(bad, 2), _event(good, 3)])

    # then only it is skipped, with the reason naming the field (and row)
    assert [r.sequence_number for r in decoded.records] == ["1", "3"]
    assert decoded.malformed == ["2"] and reason in decoded.reasons["2"]
    with pytest.raises(InferenceRecordError) as caught:
        decode_stream_record(bad)
    assert reason in str(caught.value)


def test_an_aggregate_with_a_short_probability_block_is_rejected_whole(binary):
    model, X = binary
    encoder = RecordEncoder(_names(4), classes=[0, 1])
    matrices = [X[:2], X[2:3]]
    data = encoder.encode_aggregate(
        request_ids=["a", "b"], model_version="3", timestamps=[1.0, 1.0], latencies_ms=[1.0, 1.0],
        errors=[False, False], n_rows=[2, 1], predictions=[model.predict(m) for m in matrices],
        numeric_block="f4", numeric_parts=[p for _, p in encoder.numeric_blocks(matrices)],
        probability_parts=[b for b in encoder.probability_blocks([model.predict_proba(m) for m in matrices]) if b],
    )  # fmt: skip

    with pytest.raises(InferenceRecordError, match=r"probability_block: 16 bytes, not 3 rows x 1 f8 values"):
        parse_payloads(data[:-8])


def test_the_encoder_refuses_probabilities_that_do_not_match_its_classes(binary):
    model, X = binary
    encoder = RecordEncoder(_names(4), classes=[0, 1, 2])

    with pytest.raises(ValueError, match=r"probabilities: expected rows x 3 classes, got \(2, 2\)"):
        encoder.probability_blocks([model.predict_proba(X[:2])])
    with pytest.raises(ValueError, match="classes: expected two or more distinct class labels"):
        RecordEncoder(_names(4), classes=["yes"])
