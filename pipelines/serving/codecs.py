"""Content negotiation and response bodies for ``/invocations``."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from core.errors import InferenceInputError
from pipelines.serving.pipeline_plan import PredictionResult

JSON = "application/json"
CSV = "text/csv"
CONTENT_TYPES = (CSV, JSON)
ACCEPT_TYPES = (JSON, CSV)

_RANGES = {"*/*": JSON, "application/*": JSON, "text/*": CSV, JSON: JSON, CSV: CSV}


def request_format(content_type: str | None) -> str:
    """``text/csv`` or ``application/json`` from a Content-Type header; 415 otherwise."""
    if not content_type:
        raise InferenceInputError(
            "the request has no Content-Type; send text/csv or application/json",
            status_code=415,
            code="unsupported_media_type",
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media in CONTENT_TYPES:
        return media
    raise InferenceInputError(
        f"Content-Type {media!r} is not supported; send text/csv or application/json",
        status_code=415,
        code="unsupported_media_type",
    )


def response_format(accept: str | None) -> str:
    """The best of ``application/json`` and ``text/csv`` for an Accept header; 406 when neither fits."""
    if not accept or accept == "*/*" or accept == JSON:
        return JSON
    if accept == CSV:
        return CSV
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        pieces = part.strip().split(";")
        media = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((-quality, position, media))
    for _, _, media in sorted(ranges):
        if media in _RANGES:
            return _RANGES[media]
    raise InferenceInputError(
        f"cannot answer with any type in Accept {accept[:200]!r}; accepted: application/json, text/csv",
        status_code=406,
        code="not_acceptable",
    )


def encode_json(result: PredictionResult, classes: list[Any] | None) -> bytes:
    body: dict[str, Any] = {"predictions": result.predictions.tolist()}
    if result.probabilities is not None:
        body["probabilities"] = result.probabilities.tolist()
        body["classes"] = classes
    return orjson.dumps(body)


def encode_csv(result: PredictionResult) -> bytes:
    """One line per row: the prediction, then each class probability (classifiers); no header."""
    predictions = result.predictions.tolist()
    if predictions and isinstance(predictions[0], str):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        probabilities = result.probabilities.tolist() if result.probabilities is not None else None
        for i, label in enumerate(predictions):
            writer.writerow([label, *(probabilities[i] if probabilities else [])])
        return buffer.getvalue().encode()
    if result.probabilities is None:
        return ("\n".join(map(repr, predictions)) + "\n").encode()
    lines = [
        ",".join([repr(label), *map(repr, row)])
        for label, row in zip(predictions, result.probabilities.tolist(), strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": code, "message": message})


__all__ = [
    "ACCEPT_TYPES",
    "CONTENT_TYPES",
    "CSV",
    "JSON",
    "encode_csv",
    "encode_json",
    "error_body",
    "request_format",
    "response_format",
]
