"""The SageMaker inference container contract, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import threading

import httpx
import numpy as np
import orjson

from pipelines.serving.app import default_loader
from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import DirectorySource


def test_ping_is_503_until_the_model_is_loaded_then_200(start_server, wait_ready, model_dir):
    # given a server whose model load waits for a signal
    gate = threading.Event()

    def gated_loader(config: ServerConfig):
        assert gate.wait(30)
        return default_loader(config)

    server = start_server(
        ServerConfig(source=DirectorySource(path=model_dir, version="3")), loader=gated_loader
    )
    with httpx.Client(base_url=server.url) as client:
        # when the port is up but the model is not loaded / then ping and invocations say so
        ping = client.get("/ping")
        assert ping.status_code == 503 and ping.json() == {"status": "loading"}
        early = client.post("/invocations", content=b"1,2", headers={"content-type": "text/csv"})
        assert early.status_code == 503 and early.json()["error"] == "model_not_ready"
        assert client.get("/openapi.json").status_code == 503
        # when the model loads / then ping is 200 and names the version
        gate.set()
        wait_ready(server)
        ping = client.get("/ping")
        assert ping.status_code == 200 and ping.headers["x-model-version"] == "3"


def test_csv_in_json_out_with_probabilities_and_headers(
    start_server, wait_ready, served_config, logistic, rows
):
    server = start_server(served_config)
    wait_ready(server)
    body = "\n".join(",".join(repr(v) for v in row) for row in rows[:3]).encode()
    response = httpx.post(f"{server.url}/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-model-version"] == "7"
    assert len(response.headers["x-request-id"]) == 32
    payload = response.json()
    frame = _frame(logistic, rows[:3])
    assert payload["predictions"] == logistic.pipeline.predict(frame).tolist()
    np.testing.assert_allclose(payload["probabilities"], logistic.pipeline.predict_proba(frame), atol=1e-12)
    assert payload["classes"] == [0, 1]


def test_csv_with_header_in_any_order(start_server, wait_ready, served_config, logistic, rows):
    server = start_server(served_config)
    wait_ready(server)
    names = logistic.metadata.feature_names
    order = list(reversed(range(len(names))))
    text = ",".join(f'"{names[i]}"' for i in order) + "\n" + ",".join(repr(rows[0][i]) for i in order)
    response = httpx.post(
        f"{server.url}/invocations", content=text.encode(), headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == logistic.pipeline.predict(_frame(logistic, rows[:1])).tolist()


def test_json_rows_records_and_csv_out(start_server, wait_ready, served_config, logistic, rows):
    server = start_server(served_config)
    wait_ready(server)
    names = logistic.metadata.feature_names
    expected = logistic.pipeline.predict_proba(_frame(logistic, rows[:2]))
    with httpx.Client(base_url=server.url) as client:
        bodies = [
            {"instances": rows[:2]},
            {"inputs": [dict(zip(names, row, strict=True)) for row in rows[:2]]},
            rows[:2],
        ]
        for body in bodies:
            response = client.post(
                "/invocations",
                content=orjson.dumps(body),
                headers={"content-type": "application/json; charset=utf-8", "accept": "text/csv"},
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            lines = list(csv.reader(io.StringIO(response.text)))
            # one line per row: label, then one probability per class; no header
            assert [int(line[0]) for line in lines] == expected.argmax(axis=1).tolist()
            np.testing.assert_allclose([[float(v) for v in line[1:]] for line in lines], expected, atol=1e-12)


def test_accept_with_quality_values_picks_the_best_supported_type(
    start_server, wait_ready, served_config, rows
):
    server = start_server(served_config)
    wait_ready(server)
    response = httpx.post(
        f"{server.url}/invocations",
        content=orjson.dumps([rows[0]]),
        headers={"content-type": "application/json", "accept": "application/xml, text/csv;q=0.9, */*;q=0.1"},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")


def test_openapi_publishes_the_signature_and_version(start_server, wait_ready, served_config, logistic):
    server = start_server(served_config)
    wait_ready(server)
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1") and document["info"]["version"] == "7"
    signature = logistic.metadata.input_signature
    assert document["x-model"]["input_signature"] == [f.model_dump() for f in signature]
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == [f.name for f in signature]
    number = record["properties"]["mean radius"]["anyOf"][0]
    assert number["type"] == "number" and number["minimum"] < 0 < number["maximum"]
    assert len(document["components"]["schemas"]["Row"]["prefixItems"]) == 30
    assert set(document["paths"]["/invocations"]["post"]["responses"]) >= {"200", "400", "406", "413", "415"}


def test_metrics_report_responses_and_the_inference_log(start_server, wait_ready, served_config, rows):
    server = start_server(served_config)
    wait_ready(server)
    with httpx.Client(base_url=server.url) as client:
        client.post(
            "/invocations", content=orjson.dumps([rows[0]]), headers={"content-type": "application/json"}
        )
        client.post("/invocations", content=b"", headers={"content-type": "application/json"})
        metrics = client.get("/metrics").json()
    assert metrics["responses"] == {"200": 1, "400": 1}
    assert metrics["predictor_mode"] == "planned"
    assert metrics["inference_log"]["dropped_buffer_full"] == 0
    assert metrics["inference_log"]["submitted_records"] == 1


def _frame(model, rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=model.metadata.feature_names)
