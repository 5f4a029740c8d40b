"""The model server logs a classifier's class probabilities with each answered request (formats 6
and 7), for scikit-learn and ONNX serving alike: a real server on 127.0.0.1, real models, moto's
Kinesis, the stream read back with the monitor's decoder."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from pipelines.inference_log.decoding import parse_payloads
from pipelines.inference_log.format import PROBA_AGGREGATE_MAGIC, PROBA_FRAME_MAGIC
from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import DirectorySource

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("serving_format", ["sklearn", "onnx"])
def test_every_answered_request_is_logged_with_the_probabilities_it_was_answered_with(
    start_server, wait_ready, served_config, forest_dir: Path, cancer, stream, stream_data, serving_format
):
    # given a random forest served as scikit-learn or ONNX, logging to the stream
    config: ServerConfig = served_config.model_copy(
        update={"source": DirectorySource(path=forest_dir, version="7"), "serving_format": serving_format}
    )
    server = start_server(config)
    wait_ready(server)
    app = server.server.config.app.state.server  # type: ignore[attr-defined]
    names = app.model.schema.numeric_names
    rows = cancer[names].to_numpy()

    # when it answers requests of 1 and 4 rows
    answered: dict[str, np.ndarray] = {}
    with httpx.Client(base_url=server.url) as client:
        for start, size in [(0, 1), (1, 4), (5, 1), (6, 4)]:
            body = orjson.dumps({"instances": rows[start : start + size].tolist()})
            response = client.post("/invocations", content=body, headers=JSON)
            assert response.status_code == 200, response.text
            assert response.json()["classes"] == [0, 1]
            answered[response.headers["x-request-id"]] = np.array(response.json()["probabilities"])
    server.stop()

    # then every request's record carries the model's classes and exactly the answer's probabilities
    data = stream_data(stream)
    assert data and all(d[:4] in (PROBA_FRAME_MAGIC, PROBA_AGGREGATE_MAGIC) for d in data)
    logged = {p["request_id"]: p for d in data for p in parse_payloads(d)}
    assert sorted(logged) == sorted(answered)
    for request_id, probabilities in answered.items():
        assert logged[request_id]["classes"] == (0, 1)
        np.testing.assert_array_equal(logged[request_id]["probabilities"][:, 1], probabilities[:, 1])
        np.testing.assert_allclose(logged[request_id]["probabilities"][:, 0], probabilities[:, 0], atol=1e-15)
