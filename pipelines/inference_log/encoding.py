"""Writing inference log records: the server's encoder (format 4 frames, format 5 aggregates, and
formats 6 and 7, the same with class probabilities).

The wire formats are described in :mod:`pipelines.inference_log.format`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import orjson

from pipelines.inference_log.format import (
    _F32,
    _F64,
    _NUMPY_OPTION,
    _PREDICTION_TYPES,
    AGGREGATE_MAGIC,
    AGGREGATE_VERSION,
    FORMAT_VERSION,
    FRAME_MAGIC,
    NAME_SEPARATOR,
    PROBA_AGGREGATE_MAGIC,
    PROBA_AGGREGATE_VERSION,
    PROBA_FORMAT_VERSION,
    PROBA_FRAME_MAGIC,
    NumericBlock,
)

#: what a request's probabilities are on the wire: the raw bytes of its probability block (f8)
ProbabilityBlock = bytes | memoryview


class RecordEncoder:
    """Writes the records of one feature list (a model's schema); the joined names are made once.

    ``precision="float32"`` (the default, see the module docstring) writes a float32 block;
    ``"float64"`` a float64 block, exact, at twice the bytes. ``classes``: a classifier's class
    labels in its probability-column order; given, requests passed with probabilities are written
    as formats 6 and 7 (without, the probabilities are not logged).
    """

    def __init__(
        self,
        numeric_features: Sequence[str],
        categorical_features: Sequence[str] = (),
        *,
        precision: Literal["float32", "float64"] = "float32",
        classes: Sequence[Any] | None = None,
    ) -> None:
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision: expected 'float32' or 'float64', got {precision!r}")
        if classes is not None and (len(classes) < 2 or len(set(classes)) != len(classes)):
            raise ValueError(f"classes: expected two or more distinct class labels, got {list(classes)!r}")
        #: the classes as the header carries them (None: probabilities are not logged)
        self.classes = None if classes is None else _class_values(classes)
        self.numeric_features = tuple(numeric_features)
        self.categorical_features = tuple(categorical_features)
        self.precision = precision
        self._numeric_names = _joined(self.numeric_features)
        self._categorical_names = _joined(self.categorical_features)

    def encode(
        self,
        *,
        request_id: str,
        model_version: str,
        timestamp: float,
        latency_ms: float,
        error: bool,
        numeric: np.ndarray | None,
        categorical: np.ndarray | None = None,
        predictions: np.ndarray | None,
        chunk: int = 0,
        chunks: int = 1,
        block: NumericBlock | None = None,
        probabilities: np.ndarray | None = None,
        probability_block: ProbabilityBlock | None = None,
    ) -> bytes:
        """One record's frame. ``numeric`` is a float matrix (NaN = missing), ``categorical`` an
        object matrix, ``predictions`` one value per row (None for a failed request). ``block``:
        ``numeric``'s block when :meth:`numeric_blocks` made it already. ``probabilities``: rows x
        classes (``predict_proba``'s), or their block from :meth:`probability_blocks`; written
        (format 6) when the encoder has ``classes`` and the request did not fail."""
        record: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "request_id": request_id,
            "model_version": model_version,
            "timestamp": timestamp,
            "latency_ms": latency_ms,
            "error": error,
            "chunk": chunk,
            "chunks": chunks,
            "n_rows": len(numeric)
            if numeric is not None
            else len(categorical)
            if categorical is not None
            else 0,
            "numeric_features": self._numeric_names,
        }
        if self.categorical_features and categorical is not None:
            record["categorical_features"] = self._categorical_names
            record["categorical_rows"] = categorical.tolist()
        record["predictions"] = _prediction_values(predictions)
        raw: bytes | memoryview = b""
        if numeric is not None and self.numeric_features:
            record["numeric_block"], raw = block or self.numeric_blocks([numeric])[0]
        if self.classes is None or error or (probabilities is None and probability_block is None):
            head = orjson.dumps(record, option=_NUMPY_OPTION)
            return b"".join((FRAME_MAGIC, len(head).to_bytes(4, "little"), head, raw))
        if probability_block is None:
            data, bounds = self.probability_rows([probabilities])
            probability_block = data[bounds[0] : bounds[1]]
        self._check_probability_bytes([probability_block], record["n_rows"])
        record["v"] = PROBA_FORMAT_VERSION
        record["classes"] = self.classes
        record["probability_block"] = "f8"
        head = orjson.dumps(record, option=_NUMPY_OPTION)
        return b"".join((PROBA_FRAME_MAGIC, len(head).to_bytes(4, "little"), head, raw, probability_block))

    def encode_aggregate(
        self,
        *,
        request_ids: Sequence[str],
        model_version: str,
        timestamps: Sequence[float],
        latencies_ms: Sequence[float],
        errors: Sequence[bool],
        n_rows: Sequence[int],
        predictions: Sequence[np.ndarray | None],
        categorical: Sequence[np.ndarray | None] | None = None,
        numeric_block: Literal["f4", "f8"] | None = None,
        numeric_parts: Sequence[bytes | memoryview] = (),
        probability_parts: Sequence[ProbabilityBlock] = (),
    ) -> bytes:
        """One aggregated frame (format 5) of several requests of one model version: the
        per-request fields as lists, every row's numeric values in one block of kind
        ``numeric_block`` (the requests' blocks, ``numeric_parts``, back to back: as
        :meth:`numeric_blocks` makes them), the categorical rows of all requests in order.
        ``predictions``: per request, its predictions or None for a failed request.
        ``probability_parts``: the probability blocks (:meth:`probability_blocks`) of the requests
        that did not fail, in order; given to an encoder with ``classes``, the frame is format 7."""
        record: dict[str, Any] = {
            "v": AGGREGATE_VERSION,
            "requests": len(request_ids),
            "request_id": request_ids,
            "model_version": model_version,
            "timestamp": timestamps,
            "latency_ms": latencies_ms,
            "error": errors,
            "n_rows": n_rows,
            "numeric_features": self._numeric_names,
        }
        if self.categorical_features and categorical is not None:
            record["categorical_features"] = self._categorical_names
            record["categorical_rows"] = [
                row for rows in categorical if rows is not None for row in rows.tolist()
            ]
        record["predictions"] = [_prediction_values(p) for p in predictions]
        if numeric_block is not None and self.numeric_features:
            record["numeric_block"] = numeric_block
        else:
            numeric_parts = ()
        if self.classes is None or not probability_parts:
            head = orjson.dumps(record, option=_NUMPY_OPTION)
            return b"".join((AGGREGATE_MAGIC, len(head).to_bytes(4, "little"), head, *numeric_parts))
        self._check_probability_bytes(
            probability_parts, sum(n for n, e in zip(n_rows, errors, strict=True) if not e)
        )
        record["v"] = PROBA_AGGREGATE_VERSION
        record["classes"] = self.classes
        record["probability_block"] = "f8"
        head = orjson.dumps(record, option=_NUMPY_OPTION)
        return b"".join(
            (PROBA_AGGREGATE_MAGIC, len(head).to_bytes(4, "little"), head, *numeric_parts, *probability_parts)
        )

    def probability_blocks(self, matrices: Sequence[np.ndarray | None]) -> list[ProbabilityBlock | None]:
        """The probability block of each matrix (one request's rows x classes, None for none); see
        :meth:`probability_rows`, which a writer of many requests should use instead."""
        data, bounds = self.probability_rows(matrices)
        return [data[a:b] if b > a else None for a, b in itertools.pairwise(bounds)]

    def probability_rows(self, matrices: Sequence[np.ndarray | None]) -> tuple[memoryview, list[int]]:
        """The probability blocks of all matrices (one request's rows x classes each, None for a
        request without) back to back, made in one numpy pass, and their byte offsets: matrix i's
        block is ``data[bounds[i]:bounds[i + 1]]``, empty for None. For two classes a block holds
        the positive class's column, else every column, as little-endian float64 (see the module
        docstring of ``format``). No object per request: the sender slices one block per record,
        and a memoryview per request made the garbage collector run twice as often."""
        counts = [0 if m is None else len(m) for m in matrices]
        present = [m for m in matrices if m is not None]
        if self.classes is None or not present:
            return memoryview(b""), [0] * (len(matrices) + 1)
        width = len(self.classes)
        try:
            stacked = np.concatenate(present) if len(present) > 1 else present[0]
        except ValueError as err:  # matrices of different widths
            raise ValueError(f"probabilities: expected rows x {width} classes ({err})") from None
        if stacked.ndim != 2 or stacked.shape[1] != width:
            raise ValueError(f"probabilities: expected rows x {width} classes, got {stacked.shape}")
        values = np.ascontiguousarray(stacked[:, 1] if width == 2 else stacked, dtype=_F64)
        row_bytes = (1 if width == 2 else width) * _F64.itemsize
        bounds = np.concatenate(([0], np.cumsum(counts) * row_bytes)).tolist()
        return memoryview(values).cast("B"), bounds

    def _check_probability_bytes(self, parts: Sequence[ProbabilityBlock], rows: int) -> None:
        """The probability blocks hold exactly one row of values per answered row: a mismatch is
        the caller's bug, and would make every reader reject the record."""
        assert self.classes is not None
        per_row = (1 if len(self.classes) == 2 else len(self.classes)) * _F64.itemsize
        size = sum(len(p) for p in parts)
        if size != rows * per_row:
            raise ValueError(
                f"probability_parts: {size} bytes for {rows} answered rows of {per_row} bytes each"
            )

    def numeric_blocks(self, matrices: Sequence[np.ndarray]) -> list[NumericBlock]:
        """The numeric block of each matrix (one request's rows each), cast to float32 for all of
        them in one numpy pass: per request, the cast and its overflow check cost more in numpy's
        call overhead than in work. A matrix with a value float32 cannot hold (the cast gave an
        infinity) gets an exact float64 block; so does every matrix with ``precision="float64"``."""
        if self.precision == "float64" or not matrices:
            return [("f8", np.ascontiguousarray(m, dtype=_F64).tobytes()) for m in matrices]
        with np.errstate(over="ignore"):
            narrow = np.concatenate(matrices, dtype=_F32) if len(matrices) > 1 else matrices[0].astype(_F32)
        # the block's bytes are the cast array's own (no copy): each frame copies its slice once
        data = memoryview(narrow).cast("B") if narrow.size else memoryview(b"")
        row_bytes = narrow.shape[1] * _F32.itemsize
        before = None
        infinite = np.isinf(narrow)
        if infinite.any():  # rare: a check per row cost 2 us per 100-row request, this 0.2
            # infinite rows before each row, so a matrix's count is one subtraction
            before = np.concatenate(([0], np.cumsum(infinite.any(axis=1)))).tolist()
        blocks: list[NumericBlock] = []
        start = 0
        for matrix in matrices:
            stop = start + len(matrix)
            if before is not None and before[stop] != before[start]:
                blocks.append(("f8", np.ascontiguousarray(matrix, dtype=_F64).tobytes()))
            else:
                blocks.append(("f4", data[start * row_bytes : stop * row_bytes]))
            start = stop
        return blocks


def _prediction_values(predictions: np.ndarray | None) -> Any:
    """Predictions as orjson writes them: a numeric array as is, labels as strings (orjson
    serializes no object arrays), None for a failed request."""
    if predictions is None:
        return None
    if predictions.dtype.kind in "biuf":
        return np.ascontiguousarray(predictions)
    return [p if type(p) in _PREDICTION_TYPES else str(p) for p in predictions.tolist()]


def _class_values(classes: Sequence[Any]) -> list[Any]:
    """Class labels as JSON values, as predictions are written (numpy scalars as Python ones)."""
    values = [c.item() if isinstance(c, np.generic) else c for c in classes]
    return [c if type(c) in _PREDICTION_TYPES else str(c) for c in values]


def encode_record(
    *,
    request_id: str,
    model_version: str,
    timestamp: float,
    latency_ms: float,
    error: bool,
    numeric_features: Sequence[str],
    numeric: np.ndarray | None,
    categorical_features: Sequence[str] = (),
    categorical: np.ndarray | None = None,
    predictions: np.ndarray | None,
    chunk: int = 0,
    chunks: int = 1,
    precision: Literal["float32", "float64"] = "float32",
    classes: Sequence[Any] | None = None,
    probabilities: np.ndarray | None = None,
) -> bytes:
    """One record's frame (see :class:`RecordEncoder`, which a writer of many records should keep)."""
    return RecordEncoder(numeric_features, categorical_features, precision=precision, classes=classes).encode(
        request_id=request_id,
        model_version=model_version,
        timestamp=timestamp,
        latency_ms=latency_ms,
        error=error,
        numeric=numeric,
        categorical=categorical,
        predictions=predictions,
        chunk=chunk,
        chunks=chunks,
        probabilities=probabilities,
    )


def _joined(names: Sequence[str]) -> str | Sequence[str]:
    """Names as one separator-joined string, or the list when a name holds the separator."""
    joined = NAME_SEPARATOR.join(names)
    return list(names) if joined.count(NAME_SEPARATOR) != max(len(names) - 1, 0) or "" in names else joined
