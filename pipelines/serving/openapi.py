"""The OpenAPI 3.1 description of a served model: its input signature, outputs and version.

The request schemas say what the server enforces: at least one row, a CSV body with a
non-blank character, and each numeric feature's range (``minimum``/``maximum``, from
:mod:`pipelines.serving.limits`), so a body valid against the description is one the server takes.
"""

from __future__ import annotations

from typing import Any

from core.errors import ServingConfigError
from pipelines.serving.loader import LoadedModel


def _feature_schema(kind: str, dtype: str, bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    if kind == "numeric":
        base: dict[str, Any] = (
            {"type": "integer"} if dtype.startswith(("int", "uint", "Int", "UInt")) else {"type": "number"}
        )
        if bounds is not None:
            base["minimum"], base["maximum"] = bounds
        return {"anyOf": [base, {"type": "null"}], "x-dtype": dtype, "x-kind": kind}
    return {"anyOf": [{"type": "string"}, {"type": "null"}], "x-dtype": dtype, "x-kind": kind}


def build_openapi(model: LoadedModel, *, max_body_bytes: int) -> dict[str, Any]:
    meta = model.metadata
    signature = meta.input_signature
    limits = getattr(model.predictor, "limits", None)

    def feature(f: Any) -> dict[str, Any]:
        bounds = limits.bounds(f.name) if limits is not None and f.kind == "numeric" else None
        return _feature_schema(f.kind, f.dtype, bounds)

    record = {
        "type": "object",
        "properties": {f.name: feature(f) for f in signature},
        "required": [f.name for f in signature],
        "additionalProperties": False,
    }
    row = {
        "type": "array",
        "prefixItems": [{**feature(f), "title": f.name} for f in signature],
        "minItems": len(signature),
        "maxItems": len(signature),
    }
    classification = meta.classes is not None
    label: dict[str, Any] = {"type": "number"}
    if classification:
        label = {"enum": meta.classes}
    response: dict[str, Any] = {
        "type": "object",
        "properties": {"predictions": {"type": "array", "items": label}},
        "required": ["predictions"],
    }
    if classification:
        response["properties"]["probabilities"] = {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}, "minItems": len(meta.classes or [])},
            "description": "per row, one probability per class, in the order of 'classes'",
        }
        response["properties"]["classes"] = {"type": "array", "const": meta.classes}
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "required": ["error", "message"],
    }
    error_response = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    version_header = {
        "X-Model-Version": {"schema": {"type": "string", "const": model.version}},
        "X-Request-Id": {"schema": {"type": "string"}},
    }
    csv_lines = "one line per row: " + ", ".join(f.name for f in signature)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"tenantml model server: {meta.model_name}",
            "version": model.version,
            "description": (
                f"{meta.problem.value} model ({meta.estimator}) served as {model.serving_format}; "
                "SageMaker inference container contract."
            ),
        },
        "x-model": {
            "version": model.version,
            "name": meta.model_name,
            "problem": meta.problem.value,
            "estimator": meta.estimator,
            "serving_format": model.serving_format,
            "artifact_sha256": model.sha256,
            "classes": meta.classes,
            "input_signature": [f.model_dump() for f in signature],
        },
        "paths": {
            "/ping": {
                "get": {
                    "summary": "Health: 200 once the model is loaded, 503 before or if it failed",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
                }
            },
            "/invocations": {
                "post": {
                    "summary": "Predict",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "properties": {
                                                "instances": {
                                                    "type": "array",
                                                    "minItems": 1,
                                                    "items": {
                                                        "oneOf": [
                                                            {"$ref": "#/components/schemas/Row"},
                                                            {"$ref": "#/components/schemas/Record"},
                                                        ]
                                                    },
                                                }
                                            },
                                            "required": ["instances"],
                                        },
                                        {
                                            "type": "object",
                                            "properties": {
                                                "inputs": {
                                                    "type": "array",
                                                    "minItems": 1,
                                                    "items": {"$ref": "#/components/schemas/Record"},
                                                }
                                            },
                                            "required": ["inputs"],
                                        },
                                        {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {
                                                "oneOf": [
                                                    {"$ref": "#/components/schemas/Row"},
                                                    {"$ref": "#/components/schemas/Record"},
                                                ]
                                            },
                                        },
                                    ]
                                }
                            },
                            "text/csv": {
                                "schema": {
                                    "type": "string",
                                    # a blank body is refused (JSON Schema patterns are unanchored)
                                    "minLength": 1,
                                    "pattern": r"\S",
                                    "description": f"{csv_lines} (optional header); an empty field is missing",
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "predictions",
                            "headers": version_header,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Predictions"}},
                                "text/csv": {
                                    "schema": {
                                        "type": "string",
                                        "description": (
                                            "one line per row: the prediction, then the class probabilities"
                                            if classification
                                            else "one prediction per line"
                                        ),
                                    }
                                },
                            },
                        },
                        "400": {"description": "invalid input", **error_response},
                        "406": {"description": "unsupported Accept", **error_response},
                        "413": {"description": f"body over {max_body_bytes} bytes", **error_response},
                        "415": {"description": "unsupported Content-Type", **error_response},
                        "503": {"description": "model not loaded", **error_response},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Per-worker counters, inference-log drops included",
                    "responses": {"200": {"description": "counters"}},
                }
            },
        },
        "components": {"schemas": {"Record": record, "Row": row, "Predictions": response, "Error": error}},
    }


def read_model_description(url: str, *, timeout: float = 10) -> dict[str, Any]:
    """A running server's ``x-model`` description (version, serving format, input signature, ...)
    from its ``/openapi.json``, with ``feature_names`` added in signature order.

    Raises :class:`ServingConfigError` naming the URL when the server does not answer with one.
    """
    import httpx

    try:
        model = (
            httpx.get(url.rstrip("/") + "/openapi.json", timeout=timeout).raise_for_status().json()["x-model"]
        )
        return {**model, "feature_names": [f["name"] for f in model["input_signature"]]}
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
        raise ServingConfigError(
            f"{url}: cannot read the model's input signature from /openapi.json: {err}"
        ) from err


__all__ = ["build_openapi", "read_model_description"]
