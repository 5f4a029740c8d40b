"""Reading inference log records: every wire version the platform has written, and Kinesis events.

Formats 2 and 3 (JSON), 4 (a binary frame), 5 (an aggregate of format-4 requests), 6 and 7 (4 and 5
with class probabilities) are read; see :mod:`pipelines.inference_log.format`. A request of format 6
or 7 decodes with ``classes`` (a tuple) and ``probabilities`` (rows x classes, float64); others
have neither. A malformed record is rejected whole, with the reason.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from core.errors import InferenceRecordError
from pipelines.inference_log.format import (
    _BLOCKS,
    _CATEGORY_TYPES,
    _F32,
    _FRAME_BLOCKS,
    _LAST_NAMES,
    _MAX_INTERNED,
    _NAMES,
    _NUMBER_TYPES,
    _POW10,
    _PREDICTION_TYPES,
    AGGREGATE_MAGIC,
    AGGREGATE_VERSION,
    FORMAT_VERSION,
    FRAME_HEAD_BYTES,
    FRAME_MAGIC,
    JSON_VERSIONS,
    NAME_SEPARATOR,
    PROBA_AGGREGATE_MAGIC,
    PROBA_AGGREGATE_VERSION,
    PROBA_FORMAT_VERSION,
    PROBA_FRAME_MAGIC,
    PROBABILITY_BLOCKS,
    READABLE_VERSIONS,
)

#: how far outside [0, 1] a logged probability may be: an ONNX export's float32 arithmetic can
#: round a sure class to 1.0000001; anything further is a corrupt block, not a probability
PROBABILITY_SLACK = 1e-6

#: the first bytes of each frame version: its header's ``v`` and whether it carries probabilities
_FRAMES = {FRAME_MAGIC: (FORMAT_VERSION, False), PROBA_FRAME_MAGIC: (PROBA_FORMAT_VERSION, True)}
_AGGREGATES = {
    AGGREGATE_MAGIC: (AGGREGATE_VERSION, False),
    PROBA_AGGREGATE_MAGIC: (PROBA_AGGREGATE_VERSION, True),
}


class InferenceRecord(BaseModel):
    """One request's log record (or one chunk of it), validated; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[2, 3, 4, 6] = FORMAT_VERSION
    request_id: str
    model_version: str
    timestamp: float
    latency_ms: float
    error: bool = False
    chunk: int = 0
    chunks: int = 1
    numeric_features: list[str] = []
    numeric_rows: list[list[float | None]] = []
    categorical_features: list[str] = []
    categorical_rows: list[list[str | float | int | bool | None]] = []
    predictions: list[float | int | str] | None
    #: formats 6 and 7: the classifier's classes, and per row one probability per class
    classes: list[float | int | str] | None = None
    probabilities: list[list[float]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _binary_to_rows(cls, data: Any) -> Any:
        """The typed model always holds JSON rows; the binary block is a wire form."""
        if isinstance(data, dict):
            data = dict(data)
            for name in ("numeric_features", "categorical_features"):
                if isinstance(data.get(name), str):
                    data[name] = data[name].split(NAME_SEPARATOR) if data[name] else []
            block = _block_field(data)
            if block is not None:
                data["numeric_rows"] = [
                    [None if math.isnan(v) else v for v in row] for row in _binary_rows(data).tolist()
                ]
                del data[block]
            if isinstance(data.get("probabilities"), np.ndarray):
                data["probabilities"] = data["probabilities"].tolist()
            data.pop("n_rows", None)
        return data

    @model_validator(mode="after")
    def _shapes(self) -> InferenceRecord:
        check_shapes(self.model_dump())
        return self

    @property
    def n_rows(self) -> int:
        return len(self.numeric_rows) if self.numeric_features else len(self.categorical_rows)

    def rows(self) -> list[dict[str, Any]]:
        """``{feature: value}`` per row (numeric features first)."""
        out = [dict(zip(self.numeric_features, row, strict=True)) for row in self.numeric_rows]
        if self.categorical_features:
            categorical = [
                dict(zip(self.categorical_features, row, strict=True)) for row in self.categorical_rows
            ]
            out = [{**a, **b} for a, b in zip(out, categorical, strict=True)] if out else categorical
        return out


class LegacyInferenceRecord(BaseModel):
    """Format version 1: one row per Kinesis record."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    model_version: str
    features: dict[str, float | int | str | None]
    prediction: float | int | str
    latency_ms: float
    error: bool = False
    timestamp: float


def parse_payload(data: bytes | str) -> dict[str, Any]:
    """The record's fields as a plain dict, its structure checked (version 1 converted to 2); a
    frame's numeric block becomes the bytes of ``numeric_f32`` or ``numeric_f64``.

    Numeric values are not checked here: :func:`attach_numeric` does that for a whole batch at
    once. Feature-name lists become shared tuples. Raises :class:`InferenceRecordError`.
    """
    if data[:4] in _AGGREGATES:
        payloads = _parse_aggregate(data)  # type: ignore[arg-type]
        if len(payloads) != 1:
            raise InferenceRecordError(
                f"an aggregated record of {len(payloads)} requests: read it with parse_payloads"
            )
        return payloads[0]
    if data[:3] == b"TML":
        return _parse_frame(data)  # type: ignore[arg-type]
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise InferenceRecordError(f"not JSON: {err}") from err
    if type(payload) is not dict:
        raise InferenceRecordError(f"not a JSON object but {type(payload).__name__}")
    version = payload.get("v")
    if version is None:
        return _from_legacy(payload)
    if version not in JSON_VERSIONS:
        raise InferenceRecordError(
            f"v: {version!r} is not a JSON format version (this reader knows 1, 2 and 3 as JSON, 4 as a frame)"
        )
    check_shapes(payload)
    return payload


def parse_payloads(data: bytes | str) -> list[dict[str, Any]]:
    """The requests one Kinesis record holds, each as :func:`parse_payload` gives a record: an
    aggregated record (format 5) holds several, any other record one. Raises
    :class:`InferenceRecordError` for the whole record when any of its requests is malformed."""
    if data[:4] in _AGGREGATES:
        return _parse_aggregate(data)  # type: ignore[arg-type]
    return [parse_payload(data)]


def _frame_header(
    data: bytes, version: int, probabilities: bool = False
) -> tuple[dict[str, Any], int, str | None]:
    """A frame's header (checked to be an object of ``version``), where its numeric block starts,
    and the block's kind (None when the frame has no block). With ``probabilities`` (formats 6
    and 7) the header's ``classes`` and ``probability_block`` are checked, and the block follows."""
    if len(data) < FRAME_HEAD_BYTES:
        raise InferenceRecordError(f"frame: {len(data)} bytes, shorter than its {FRAME_HEAD_BYTES}-byte head")
    end = FRAME_HEAD_BYTES + int.from_bytes(data[4:FRAME_HEAD_BYTES], "little")
    if end > len(data):
        raise InferenceRecordError(
            f"frame: the header says {end - FRAME_HEAD_BYTES} bytes, the record holds fewer"
        )
    try:
        payload = orjson.loads(memoryview(data)[FRAME_HEAD_BYTES:end])
    except orjson.JSONDecodeError as err:
        raise InferenceRecordError(f"frame header: not JSON: {err}") from err
    if type(payload) is not dict or payload.get("v") != version:
        raise InferenceRecordError(
            f'frame header: expected a JSON object with "v": {version}, got {_preview(payload)}'
        )
    kind = payload.pop("numeric_block", None)
    if probabilities:
        _check_classes(payload)
    if kind is None and not probabilities:
        if end != len(data):
            raise InferenceRecordError(
                f"frame: {len(data) - end} bytes after the header but no numeric_block"
            )
    elif kind not in _FRAME_BLOCKS:
        raise InferenceRecordError(f"numeric_block: expected 'f4' or 'f8', got {_preview(kind)}")
    return payload, end, kind


def _parse_frame(data: bytes) -> dict[str, Any]:
    known = _FRAMES.get(data[:4])
    if known is None:
        raise InferenceRecordError(f"v: unknown frame version {data[3:4]!r} (this reader knows 4 to 7)")
    version, probabilities = known
    payload, end, kind = _frame_header(data, version, probabilities)
    if not probabilities:
        if kind is not None:
            payload[_FRAME_BLOCKS[kind]] = data[end:]
        check_shapes(payload)
        return payload
    # the numeric block's size says where the probability block starts
    n_rows = payload.get("n_rows")
    if type(n_rows) is not int or n_rows < 1:
        raise InferenceRecordError(f"n_rows: expected a positive integer, got {_preview(n_rows)}")
    if payload.get("error") is not False:
        raise InferenceRecordError("error: a format 6 record is an answered request (error false)")
    numeric_end = end
    if kind is not None:
        width = len(_names(payload.get("numeric_features"), "numeric_features"))
        numeric_end = min(len(data), end + n_rows * width * _BLOCKS[_FRAME_BLOCKS[kind]][1])
        payload[_FRAME_BLOCKS[kind]] = data[end:numeric_end]
    payload["probabilities"] = _probability_matrix(data[numeric_end:], n_rows, payload)
    check_shapes(payload)
    return payload


def _check_classes(header: dict[str, Any]) -> None:
    """A format 6 or 7 header's ``classes`` (made a tuple) and ``probability_block``."""
    classes = header.get("classes")
    if (
        type(classes) is not list
        or len(classes) < 2
        or not _PREDICTION_TYPES.issuperset(map(type, classes))
        or len(set(classes)) != len(classes)
    ):
        raise InferenceRecordError(
            f"classes: expected a list of two or more distinct class labels, got {_preview(classes)}"
        )
    header["classes"] = tuple(classes)
    kind = header.pop("probability_block", None)
    if kind not in PROBABILITY_BLOCKS:
        raise InferenceRecordError(f"probability_block: expected 'f8', got {_preview(kind)}")


def _probability_matrix(raw: bytes | memoryview, rows: int, header: dict[str, Any]) -> np.ndarray:
    """A probability block as rows x classes float64 (a binary block's one column expanded to
    ``1 - p, p``), every value checked to be a probability."""
    classes = header["classes"]
    per_row = 1 if len(classes) == 2 else len(classes)
    dtype = PROBABILITY_BLOCKS["f8"]
    if len(raw) != rows * per_row * dtype.itemsize:
        raise InferenceRecordError(
            f"probability_block: {len(raw)} bytes, not {rows} rows x {per_row} f8 values"
            " (after the numeric block)"
        )
    values = np.frombuffer(raw, dtype=dtype).reshape(rows, per_row)
    inside = (values >= -PROBABILITY_SLACK) & (values <= 1.0 + PROBABILITY_SLACK)  # False for NaN
    if not inside.all():
        row = int(np.argmin(inside.all(axis=1)))
        raise InferenceRecordError(
            f"probability_block: row {row}: {values[row].tolist()!r} are not probabilities in [0, 1]"
        )
    if per_row == 1:
        return np.column_stack((1.0 - values[:, 0], values[:, 0]))
    return values.astype(np.float64)


#: an aggregated record's per-request lists
_AGGREGATE_LISTS = ("request_id", "timestamp", "latency_ms", "error", "n_rows", "predictions")


def _parse_aggregate(data: bytes) -> list[dict[str, Any]]:
    """An aggregated record's requests, each as the payload of a format-4 (or, from format 7,
    format-6) frame of its own (its slice of the numeric, probability and categorical rows),
    checked as such."""
    aggregate_version, probabilities = _AGGREGATES[data[:4]]
    header, end, kind = _frame_header(data, aggregate_version, probabilities)
    count = header.get("requests")
    if type(count) is not int or count < 1:
        raise InferenceRecordError(f"requests: expected a positive integer, got {_preview(count)}")
    for name in _AGGREGATE_LISTS:
        values = header.get(name)
        if type(values) is not list or len(values) != count:
            raise InferenceRecordError(
                f"{name}: expected a list of {count} values (one per request), got {_preview(values)}"
            )
    n_rows = header["n_rows"]
    if not all(type(n) is int and n >= 1 for n in n_rows):
        raise InferenceRecordError(f"n_rows: expected positive integers, got {_preview(n_rows)}")
    total = sum(n_rows)
    numeric = _names(header.get("numeric_features"), "numeric_features")
    categorical = _names(header.get("categorical_features"), "categorical_features")
    row_bytes = 0
    numeric_end = end
    if kind is not None:
        row_bytes = len(numeric) * _BLOCKS[_FRAME_BLOCKS[kind]][1]
        numeric_end = end + total * row_bytes
        if not probabilities and len(data) - end != total * row_bytes:
            raise InferenceRecordError(
                f"numeric_block: {len(data) - end} bytes, not {total} rows x {len(numeric)} {kind} values"
            )
    matrix = None
    if probabilities:
        answered = sum(n for n, failed in zip(n_rows, header["error"], strict=True) if failed is False)
        matrix = _probability_matrix(data[min(numeric_end, len(data)) :], answered, header)
    categorical_rows = header.get("categorical_rows")
    if categorical and (type(categorical_rows) is not list or len(categorical_rows) != total):
        raise InferenceRecordError(
            f"categorical_rows: expected {total} rows (all requests'), got {_preview(categorical_rows)}"
        )
    ids, times, latencies, errors, predictions = (
        header["request_id"], header["timestamp"], header["latency_ms"], header["error"], header["predictions"]
    )  # fmt: skip
    version = header.get("model_version")
    payloads = []
    row, at, answered_at = 0, end, 0
    for i in range(count):
        n = n_rows[i]
        payload = {
            "v": PROBA_FORMAT_VERSION if probabilities else FORMAT_VERSION,
            "request_id": ids[i],
            "model_version": version,
            "timestamp": times[i],
            "latency_ms": latencies[i],
            "error": errors[i],
            "chunk": 0,
            "chunks": 1,
            "n_rows": n,
            "numeric_features": numeric,
            "categorical_features": categorical,
            "predictions": predictions[i],
        }
        if kind is not None:
            payload[_FRAME_BLOCKS[kind]] = data[at : at + n * row_bytes]
            at += n * row_bytes
        if categorical:
            payload["categorical_rows"] = categorical_rows[row : row + n]
        if matrix is not None and errors[i] is False:
            payload["classes"] = header["classes"]
            payload["probabilities"] = matrix[answered_at : answered_at + n]
            answered_at += n
        row += n
        try:
            check_shapes(payload)
        except InferenceRecordError as err:
            raise InferenceRecordError(f"requests[{i}] ({_preview(ids[i], 40)}): {err}") from None
        payloads.append(payload)
    return payloads


def check_shapes(payload: dict[str, Any]) -> None:
    """Field types and shapes of a version 2, 3, 4 or 6 payload; fills defaults, interns the name lists and
    sets ``n_rows``. Raises :class:`InferenceRecordError` naming the field (and row)."""
    get = payload.get
    if (
        type(get("request_id")) is not str
        or type(get("model_version")) is not str
        or type(get("timestamp")) not in _NUMBER_TYPES
        or type(get("latency_ms")) not in _NUMBER_TYPES
    ):
        for name, kind, types in (
            ("request_id", "a string", (str,)),
            ("model_version", "a string", (str,)),
            ("timestamp", "a number", _NUMBER_TYPES),
            ("latency_ms", "a number", _NUMBER_TYPES),
        ):
            if type(get(name)) not in types:
                raise InferenceRecordError(f"{name}: expected {kind}, got {_preview(get(name))}")
    error = payload.setdefault("error", False)
    if type(error) is not bool:
        raise InferenceRecordError(f"error: expected true or false, got {error!r}")
    chunk, chunks = payload.setdefault("chunk", 0), payload.setdefault("chunks", 1)
    if type(chunk) is not int or type(chunks) is not int or not 0 <= chunk < chunks:
        raise InferenceRecordError(f"chunk/chunks: expected 0 <= chunk < chunks, got {chunk!r}/{chunks!r}")
    numeric = payload["numeric_features"] = _names(get("numeric_features"), "numeric_features")
    categorical = payload["categorical_features"] = _names(
        get("categorical_features"), "categorical_features"
    )
    if not numeric and not categorical:
        raise InferenceRecordError(
            "numeric_features, categorical_features: a record needs at least one feature"
        )
    n_rows = -1
    declared = get("n_rows")
    if declared is not None and (type(declared) is not int or declared < 1):
        raise InferenceRecordError(f"n_rows: expected a positive integer, got {_preview(declared)}")
    block_field = _block_field(payload) if numeric else None
    if block_field is not None:
        block = payload[block_field]
        if declared is None or type(block) not in (str, bytes):
            raise InferenceRecordError(
                f"{block_field}: expected a base64 string or bytes, and an n_rows field"
            )
        # the block's length for n_rows x features values (base64 or raw), checked before decoding anything
        dtype, width = _BLOCKS[block_field]
        size = declared * len(numeric) * width
        expected, unit = (size, "bytes") if type(block) is bytes else (4 * -(-size // 3), "base64 characters")
        if len(block) != expected:
            raise InferenceRecordError(
                f"{block_field}: {len(block)} {unit}, not {declared} rows x {len(numeric)} {dtype.name} values"
            )
        n_rows = declared
    elif numeric:
        n_rows = _check_rows(get("numeric_rows"), len(numeric), "numeric_rows", None)
    else:
        payload["numeric_rows"] = []
    if categorical:
        n_cat = _check_rows(get("categorical_rows"), len(categorical), "categorical_rows", _CATEGORY_TYPES)
        if n_rows >= 0 and n_cat != n_rows:
            raise InferenceRecordError(f"categorical_rows: {n_cat} rows but numeric_rows has {n_rows}")
        n_rows = n_cat
    else:
        payload["categorical_rows"] = []
    if n_rows == 0:
        raise InferenceRecordError("numeric_rows/categorical_rows: a record needs at least one row")
    if declared is not None and n_rows != declared:
        raise InferenceRecordError(f"n_rows: says {declared}, the rows hold {n_rows}")
    predictions = get("predictions")
    if predictions is None:
        if not error:
            raise InferenceRecordError("predictions: missing, and the record is not an error")
        payload["predictions"] = None
    elif (
        type(predictions) is not list
        or len(predictions) != n_rows
        or not _PREDICTION_TYPES.issuperset(map(type, predictions))
    ):
        raise InferenceRecordError(
            f"predictions: expected a list of {n_rows} numbers or strings (one per row), got {_preview(predictions)}"
        )
    if "classes" in payload or "probabilities" in payload:
        _check_probability_shape(payload, n_rows)
    payload["n_rows"] = n_rows


def _check_probability_shape(payload: dict[str, Any], n_rows: int) -> None:
    """``classes`` and ``probabilities`` (rows x classes) of an answered format-6 request; the
    matrix as lists (a typed record's dump) is converted and its values checked."""
    classes, probabilities = payload.get("classes"), payload.get("probabilities")
    if classes is None and probabilities is None:
        return
    if type(classes) not in (tuple, list) or len(classes) < 2:
        raise InferenceRecordError(f"classes: expected two or more class labels, got {_preview(classes)}")
    if payload.get("predictions") is None:
        raise InferenceRecordError("probabilities: a failed request has none")
    if type(probabilities) is list:
        try:
            matrix = np.array(probabilities, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InferenceRecordError(f"probabilities: not a matrix of numbers ({err})") from None
        if matrix.shape == (n_rows, len(classes)):
            inside = (matrix >= -PROBABILITY_SLACK) & (matrix <= 1.0 + PROBABILITY_SLACK)
            if not inside.all():
                row = int(np.argmin(inside.all(axis=1)))
                raise InferenceRecordError(
                    f"probabilities[{row}]: {matrix[row].tolist()!r} are not probabilities in [0, 1]"
                )
        payload["probabilities"] = probabilities = matrix
    if not isinstance(probabilities, np.ndarray) or probabilities.shape != (n_rows, len(classes)):
        shape = probabilities.shape if isinstance(probabilities, np.ndarray) else _preview(probabilities)
        raise InferenceRecordError(
            f"probabilities: expected {n_rows} rows x {len(classes)} classes, got {shape}"
        )
    payload["classes"] = tuple(classes)


def _names(names: Any, field: str) -> tuple[str, ...]:
    if names is None or names == () or names == "":
        return ()
    last = _LAST_NAMES.get(field)
    if last is not None and names == last[0]:
        return last[1]
    if type(names) is str:
        seen, names = names, names.split(NAME_SEPARATOR)
    else:
        seen = names
    if type(names) not in (list, tuple) or not all(type(n) is str for n in names):
        raise InferenceRecordError(f"{field}: expected a list of feature names, got {_preview(names)}")
    key = tuple(names)
    interned = _NAMES.get(key)
    if interned is None:
        if len(_NAMES) >= _MAX_INTERNED:
            _NAMES.clear()
        interned = _NAMES[key] = key
    _LAST_NAMES[field] = (seen, interned)
    return interned


def _check_rows(rows: Any, width: int, field: str, value_types: frozenset[type] | None) -> int:
    if type(rows) is not list:
        raise InferenceRecordError(f"{field}: expected a list of rows, got {_preview(rows)}")
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != width:
            raise InferenceRecordError(
                f"{field}[{i}]: expected {width} values (one per feature), got {_preview(row)}"
            )
        if value_types is not None and not value_types.issuperset(map(type, row)):
            raise InferenceRecordError(f"{field}[{i}]: values must be strings, numbers, booleans or null")
    return len(rows)


def attach_numeric(records: Sequence[dict[str, Any]]) -> dict[int, str]:
    """Give every parsed record a ``numeric`` float64 matrix (``n_rows`` x its numeric features,
    NaN for missing), built for all records of one width and block type with one numpy call
    (binary blocks are joined and viewed as float32 or float64, float32 restored as the module
    docstring says; JSON rows converted together).

    Returns ``{index: reason}`` for records whose numeric block is not valid (those get no
    matrix): bad base64, or a non-numeric JSON value. Numeric strings in JSON rows are read as
    numbers, as the model server reads them.
    """
    binary: dict[tuple[int, str], list[int]] = {}
    text: dict[int, list[int]] = {}
    bad: dict[int, str] = {}
    for i, record in enumerate(records):
        width = len(record["numeric_features"])
        if width == 0:
            record["numeric"] = np.empty((record["n_rows"], 0))
        elif "numeric_f32" in record:
            binary.setdefault((width, "numeric_f32"), []).append(i)
        elif "numeric_f64" in record:
            binary.setdefault((width, "numeric_f64"), []).append(i)
        else:
            text.setdefault(width, []).append(i)
    a2b = binascii.a2b_base64
    for (width, block_field), indexes in binary.items():
        blocks, good = [], []
        for i in indexes:
            block = records[i][block_field]
            if type(block) is bytes:  # a frame's: raw already
                blocks.append(block)
                good.append(i)
                continue
            try:
                blocks.append(a2b(block, strict_mode=True))
            except (binascii.Error, ValueError) as err:
                bad[i] = f"{block_field}: not base64: {err}"
                continue
            good.append(i)
        dtype = _BLOCKS[block_field][0]
        matrix = np.frombuffer(b"".join(blocks), dtype=dtype).reshape(-1, width)
        _slice(records, good, restore_float32(matrix) if dtype is _F32 else matrix)
    for width, indexes in text.items():
        flat: list[Any] = []
        extend = flat.extend
        for i in indexes:
            extend(records[i]["numeric_rows"])
        try:
            matrix = np.array(flat, dtype=np.float64)
        except (TypeError, ValueError):
            # one bad record among many: convert record by record to find it
            for i in indexes:
                try:
                    records[i]["numeric"] = _float_rows(records[i]["numeric_rows"])
                except InferenceRecordError as err:
                    bad[i] = str(err)
            continue
        _slice(records, indexes, matrix)
    return bad


def _slice(records: Sequence[dict[str, Any]], indexes: list[int], matrix: np.ndarray) -> None:
    start = 0
    for i in indexes:
        stop = start + records[i]["n_rows"]
        records[i]["numeric"] = matrix[start:stop]
        start = stop


def _block_field(payload: Mapping[str, Any]) -> str | None:
    """The binary numeric block's field name, if the payload has one."""
    if "numeric_f32" in payload:
        return "numeric_f32"
    return "numeric_f64" if "numeric_f64" in payload else None


def _binary_rows(payload: Mapping[str, Any]) -> np.ndarray:
    block_field = _block_field(payload) or "numeric_f64"
    raw = payload[block_field]
    if type(raw) is not bytes:
        try:
            raw = binascii.a2b_base64(raw, strict_mode=True)
        except (binascii.Error, ValueError, TypeError) as err:
            raise InferenceRecordError(f"{block_field}: not base64: {err}") from err
    width = len(payload.get("numeric_features") or ())
    dtype = _BLOCKS[block_field][0]
    if len(raw) % dtype.itemsize:
        raise InferenceRecordError(f"{block_field}: {len(raw)} bytes, not whole {dtype.name} values")
    values = np.frombuffer(raw, dtype=dtype)
    if width == 0 or values.size != width * int(payload.get("n_rows") or 0):
        raise InferenceRecordError(f"{block_field}: {values.size} values, not n_rows x {width} features")
    values = values.reshape(-1, width)
    return restore_float32(values) if dtype is _F32 else values


def restore_float32(values: np.ndarray) -> np.ndarray:
    """float32 values as float64, with every value of at most 6 significant digits between 1e-17
    and 1e6 in magnitude given back as the float64 of that decimal (see the module docstring).

    For such a value, ``rint(y * 10**k)`` with ``k = 5 - floor(log10(|y|))`` is the decimal's
    6-digit integer (float32's error is far below half a unit of it), and dividing two exactly
    representable numbers rounds correctly. The rounding is kept only where it maps back to
    the same float32, so no value moves by more than float32's own precision.
    """
    wide = values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = 5.0 - np.floor(np.log10(np.abs(wide)))
        usable = (k >= 0) & (k <= 22)  # False for 0, NaN and out-of-range magnitudes
        scale = _POW10[np.where(usable, k, 0).astype(np.intp)]
        rounded = np.rint(wide * scale) / scale
        keep = usable & (rounded.astype(_F32) == values)
    return np.where(keep, rounded, wide)


def _float_rows(rows: list[list[Any]]) -> np.ndarray:
    try:
        return np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                try:
                    float(value if value is not None else "nan")
                except (TypeError, ValueError):
                    raise InferenceRecordError(
                        f"numeric_rows[{r}][{c}]: not a number: {_preview(value)}"
                    ) from None
        raise InferenceRecordError("numeric_rows: not a matrix of numbers") from None


def normalize_record(record: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """A record in any accepted form (an :class:`InferenceRecord`, a version 1 to 4 or 6 dict, or
    one already decoded) as a decoded dict with its ``numeric`` matrix (and, for a request logged
    with class probabilities, ``classes`` and ``probabilities`` as a matrix). Raises
    InferenceRecordError."""
    if isinstance(record, BaseModel):
        record = record.model_dump()
    if "numeric" in record and "n_rows" in record:
        return dict(record)
    payload = dict(record)
    if payload.get("v") is None:
        payload = _from_legacy(payload)
    else:
        if payload.get("v") not in READABLE_VERSIONS:
            raise InferenceRecordError(f"v: unknown format version {payload.get('v')!r}")
        check_shapes(payload)
    if not payload["numeric_features"]:
        payload["numeric"] = np.empty((payload["n_rows"], 0))
    elif _block_field(payload) is not None:
        payload["numeric"] = _binary_rows(payload)
    else:
        payload["numeric"] = _float_rows(payload["numeric_rows"])
    return payload


def _from_legacy(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        old = LegacyInferenceRecord.model_validate(payload)
    except ValidationError as err:
        raise InferenceRecordError(f"not a version 1 or 2 inference record: {err}") from err
    numeric = [name for name, value in old.features.items() if not isinstance(value, str)]
    categorical = [name for name, value in old.features.items() if isinstance(value, str)]
    converted = {
        "v": 2,
        "request_id": old.request_id,
        "model_version": old.model_version,
        "timestamp": old.timestamp,
        "latency_ms": old.latency_ms,
        "error": old.error,
        "chunk": 0,
        "chunks": 1,
        "numeric_features": numeric,
        "numeric_rows": [[old.features[n] for n in numeric]] if numeric else [],
        "categorical_features": categorical,
        "categorical_rows": [[old.features[n] for n in categorical]] if categorical else [],
        # a failed request's version 1 record carries a placeholder prediction
        "predictions": None if old.error else [old.prediction],
    }
    check_shapes(converted)
    return converted


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class DecodedBatch:
    records: list[InferenceRecord] = field(default_factory=list)
    #: sequence numbers of records that could not be decoded (reported as partial failures)
    failures: list[str] = field(default_factory=list)


def decode_kinesis_batch(raw_records: Iterable[Mapping[str, Any]]) -> DecodedBatch:
    """Lambda Kinesis event records as validated :class:`InferenceRecord` s (version 1 converted).

    The monitor has its own faster path (:func:`pipelines.monitoring.monitor.decode_records`); this one
    gives typed models, for tools and tests.
    """
    batch = DecodedBatch()
    for raw in raw_records:
        kinesis = raw.get("kinesis", {})
        try:
            payloads = parse_payloads(base64.b64decode(kinesis["data"], validate=True))
            batch.records.extend([InferenceRecord.model_validate(payload) for payload in payloads])
        except (KeyError, binascii.Error, InferenceRecordError, ValidationError):
            batch.failures.append(str(kinesis.get("sequenceNumber", raw.get("eventID", "unknown"))))
    return batch


def decode_stream_record(data: bytes) -> list[InferenceRecord]:
    """The requests of one Kinesis record's bytes (several when it is aggregated) as validated
    :class:`InferenceRecord` s."""
    try:
        return [InferenceRecord.model_validate(payload) for payload in parse_payloads(data)]
    except ValidationError as err:
        raise InferenceRecordError(f"not a valid inference record: {err}") from err


def decode_record_data(data: bytes) -> InferenceRecord:
    """One record's bytes (as ``GetRecords`` returns them) as a validated :class:`InferenceRecord`."""
    payload = parse_payload(data)
    try:
        return InferenceRecord.model_validate(payload)
    except ValidationError as err:
        raise InferenceRecordError(f"not a valid inference record: {err}") from err
