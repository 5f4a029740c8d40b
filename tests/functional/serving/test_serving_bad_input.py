"""Bad requests get a 4xx JSON message naming the problem, and never stop serving or logging."""

from __future__ import annotations

import httpx
import orjson
import pytest

CSV = {"content-type": "text/csv"}
JSON = {"content-type": "application/json"}


def _bad_requests(rows, names):
    row = rows[0]
    line = ",".join(repr(v) for v in row)
    record = dict(zip(names, row, strict=True))
    short = {k: v for k, v in record.items() if k not in ("mean radius", "worst area")}
    return [
        # (what, body, headers, status, words the message must contain)
        (
            "wrong column count",
            (line + "\n" + ",".join(repr(v) for v in row[:29])).encode(),
            CSV,
            400,
            ["row 2", "expected 30 values", "got 29"],
        ),
        (
            "non-numeric value",
            line.replace(repr(row[3]), "lots", 1).encode(),
            CSV,
            400,
            ["row 1", "column 'mean area'", "'lots' is not a number"],
        ),
        (
            "missing record fields",
            orjson.dumps({"inputs": [record, short]}),
            JSON,
            400,
            ["record 2", "missing field(s) 'mean radius', 'worst area'"],
        ),
        ("empty body", b"", CSV, 400, ["empty"]),
        ("whitespace body", b" \n", JSON, 400, ["empty"]),
        ("invalid JSON", b'{"instances": [', JSON, 400, ["not valid JSON"]),
        ("body over the limit", b"1" * (64 * 1024 + 1), CSV, 413, ["over the 65536-byte limit"]),
        (
            "unsupported content type",
            line.encode(),
            {"content-type": "application/x-protobuf"},
            415,
            ["'application/x-protobuf' is not supported"],
        ),
        ("no content type", line.encode(), {}, 415, ["no Content-Type"]),
        (
            "unsupported accept",
            line.encode(),
            {**CSV, "accept": "application/xml"},
            406,
            ["application/xml", "application/json, text/csv"],
        ),
    ]


def test_every_bad_request_is_answered_and_the_next_valid_one_is_served_and_logged(
    start_server, wait_ready, served_config, rows, logistic, stream, read_records
):
    names = logistic.metadata.feature_names
    server = start_server(served_config)
    wait_ready(server)
    valid = orjson.dumps({"instances": [rows[1]]})
    good_ids = []
    with httpx.Client(base_url=server.url) as client:
        for what, body, headers, status, words in _bad_requests(rows, names):
            # when a bad request arrives
            response = client.post("/invocations", content=body, headers=headers)
            # then it gets its status and a JSON message naming the problem, with the version header
            assert response.status_code == status, (what, response.text)
            payload = response.json()
            assert set(payload) == {"error", "message"}, what
            for word in words:
                assert word in payload["message"], (what, payload["message"])
            assert response.headers["x-model-version"] == "7"
            # and the next valid request is served
            ok = client.post("/invocations", content=valid, headers=JSON)
            assert ok.status_code == 200, (what, ok.text)
            good_ids.append(ok.headers["x-request-id"])
        assert client.get("/ping").status_code == 200
    # when the server shuts down gracefully / then every valid request was logged, and only those
    server.stop()
    records = read_records(stream)
    assert sorted(r.request_id for r in records) == sorted(good_ids)
    assert all(not r.error and r.model_version == "7" for r in records)


def test_a_declared_oversized_body_is_refused_before_it_is_read(start_server, wait_ready, served_config):
    server = start_server(served_config)
    wait_ready(server)

    def chunks():
        for _ in range(20):
            yield b"1," * 4096

    # a streamed (chunked) body has no Content-Length: the limit applies while reading
    response = httpx.post(f"{server.url}/invocations", content=chunks(), headers=CSV)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_invocations_only_takes_post(start_server, wait_ready, served_config, method):
    server = start_server(served_config)
    wait_ready(server)
    assert httpx.request(method, f"{server.url}/invocations").status_code == 405
