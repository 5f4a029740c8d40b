"""Client input the model cannot take is a 4xx naming where it is, never a 500: a 500 counts as a
server error, fires the error-rate alarm and starts a retrain. And the OpenAPI description says
what the server enforces."""

from __future__ import annotations

import csv
import logging
import socket
import time
from pathlib import Path

import httpx
import jsonschema
import numpy as np
import orjson
import pytest

from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import DirectorySource

CSV = {"content-type": "text/csv"}
JSON = {"content-type": "application/json"}
#: the breast-cancer feature with the smallest spread (std 0.0026): standard scaling multiplies it by ~380
SMALL_SCALE = "fractal dimension error"


def _config(directory: Path, serving_format: str = "sklearn") -> ServerConfig:
    return ServerConfig(source=DirectorySource(path=directory, version="3"), serving_format=serving_format)


def _body(rows: list[list[float]], encoding: str) -> tuple[bytes, dict[str, str]]:
    if encoding == "json":
        return orjson.dumps({"instances": rows}), JSON
    return "".join(",".join(map(repr, row)) + "\n" for row in rows).encode(), CSV


@pytest.mark.parametrize(
    ("model", "serving_format", "value", "encoding"),
    [
        ("model_dir", "sklearn", 1e308, "json"),  # float64 logistic regression: overflows once scaled
        ("model_dir", "sklearn", -1e308, "csv"),
        ("model_dir", "onnx", 1e308, "csv"),
        ("forest_dir", "sklearn", 3e38, "json"),  # scikit-learn's trees cast to float32
        ("forest_dir", "sklearn", 1e300, "csv"),
        ("forest_dir", "onnx", 3e38, "json"),  # the same contract whichever format serves the version
    ],
)
def test_a_value_the_model_cannot_compute_with_is_a_400_naming_row_and_column(
    request, start_server, wait_ready, logistic, rows, model, serving_format, value, encoding
):
    names = logistic.metadata.feature_names
    server = start_server(_config(request.getfixturevalue(model), serving_format))
    wait_ready(server)
    bad = [list(rows[0]), list(rows[1])]
    bad[1][names.index(SMALL_SCALE)] = value
    body, headers = _body(bad, encoding)
    with httpx.Client(base_url=server.url) as client:
        # when a row holds a finite number too large for the model's arithmetic
        response = client.post("/invocations", content=body, headers=headers)
        # then it is a client error naming the row, the column and the range the model takes
        assert response.status_code == 400, response.text
        payload = response.json()
        assert payload["error"] == "value_out_of_range"
        assert f"row 2, column {SMALL_SCALE!r}" in payload["message"]
        assert "outside the range" in payload["message"]
        # and the rows around it are served, and no server error is counted
        assert (
            client.post("/invocations", content=_body(bad[:1], encoding)[0], headers=headers).status_code
            == 200
        )
        assert client.get("/metrics").json()["responses"] == {"200": 1, "400": 1}


def test_a_quoted_csv_field_over_the_parser_limit_is_a_400(start_server, wait_ready, model_dir, rows):
    server = start_server(_config(model_dir))
    wait_ready(server)
    limit = csv.field_size_limit()
    line = ",".join(map(repr, rows[0]))
    body = f'{line}\n"{"1" * (limit + 1)}",{line.split(",", 1)[1]}\n'.encode()
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/invocations", content=body, headers=CSV)
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert "row 2" in message and f"longer than {limit} characters" in message
        assert client.get("/metrics").json()["responses"] == {"400": 1}


def test_a_client_that_disconnects_mid_body_is_neither_an_error_nor_a_traceback(
    start_server, wait_ready, model_dir, caplog
):
    server = start_server(_config(model_dir))
    wait_ready(server)
    caplog.set_level(logging.INFO)
    # given a request that declares 10 000 bytes and sends 100 before closing the connection
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 10000\r\n\r\n" + b"1," * 50
        )
    # then the server notices the disconnect
    deadline = time.monotonic() + 10
    while (metrics := httpx.get(f"{server.url}/metrics").json())["client_disconnects"] < 1:
        assert time.monotonic() < deadline, metrics
        time.sleep(0.02)
    # and counts no response for it, and logs no traceback
    assert metrics["responses"] == {}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _request_schema(document: dict, media_type: str) -> jsonschema.protocols.Validator:
    """A validator for one request media type, resolving $refs inside the served document."""
    pointer = f"#/paths/~1invocations/post/requestBody/content/{media_type.replace('/', '~1')}/schema"
    return jsonschema.Draft202012Validator({**document, "$ref": pointer})


def test_the_openapi_description_accepts_exactly_what_the_server_accepts(
    start_server, wait_ready, model_dir, logistic, rows
):
    names = logistic.metadata.feature_names
    server = start_server(_config(model_dir))
    wait_ready(server)
    document = httpx.get(f"{server.url}/openapi.json").json()
    feature = document["components"]["schemas"]["Record"]["properties"][SMALL_SCALE]["anyOf"][0]
    # the described limits of a numeric feature are finite numbers
    low, high = feature["minimum"], feature["maximum"]
    assert np.isfinite([low, high]).all() and low < 0 < high

    def row_with(value: float) -> list[float]:
        row = list(rows[0])
        row[names.index(SMALL_SCALE)] = value
        return row

    json_bodies = {
        "rows": {"instances": [rows[0], rows[1]]},
        "records": {"inputs": [dict(zip(names, rows[0], strict=True))]},
        "bare list": [rows[0]],
        "the maximum": [row_with(high)],
        "the minimum": [row_with(low)],
        "empty bare list": [],
        "empty instances": {"instances": []},
        "empty inputs": {"inputs": []},
        "above the maximum": [row_with(float(np.nextafter(high, np.inf)))],
        "below the minimum": [row_with(float(np.nextafter(low, -np.inf)))],
        "both keys": {"instances": [rows[0]], "inputs": [dict(zip(names, rows[0], strict=True))]},
    }
    line = ",".join(map(repr, rows[0]))
    csv_bodies = {"one row": line + "\n", "empty": "", "blank": " \n"}
    validators = {"application/json": _request_schema(document, "application/json"),
                  "text/csv": _request_schema(document, "text/csv")}  # fmt: skip
    cases = [("application/json", what, orjson.dumps(body), body) for what, body in json_bodies.items()]
    cases += [("text/csv", what, body.encode(), body) for what, body in csv_bodies.items()]
    with httpx.Client(base_url=server.url) as client:
        for media_type, what, content, instance in cases:
            described = validators[media_type].is_valid(instance)
            response = client.post("/invocations", content=content, headers={"content-type": media_type})
            assert response.status_code in (200, 400), (what, response.text)
            assert described == (response.status_code == 200), (what, described, response.text)
