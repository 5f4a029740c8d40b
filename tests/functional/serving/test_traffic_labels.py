"""`tenantml traffic --labels`: every request carries an id, and the labels file names each row's truth."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from pipelines.monitoring.labels import parse_labels_file
from tenantml.traffic import TrafficError, labels_for, replay, request_ids_for


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A real HTTP server on 127.0.0.1 that answers 200 and records (X-Request-Id, body)."""
    seen: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers.get("X-Request-Id", ""), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_given_request_ids_when_replayed_then_each_request_carries_its_id_and_the_labels_match_its_rows(
    recorder,
):
    url, seen = recorder
    frame = pd.DataFrame({"x": [10.0, 11.0, 12.0, 13.0, 14.0], "target": [1, 0, 0, 1, 1]})
    ids = request_ids_for(frame, 2, "t")

    result = replay(url, frame, ["x"], rows_per_request=2, concurrency=2, request_ids=ids)

    assert (result.requests, result.failures) == (3, 0)
    by_id = dict(seen)
    assert by_id == {"t-0": b"10.0\n11.0\n", "t-1": b"12.0\n13.0\n", "t-2": b"14.0\n"}
    labels = parse_labels_file(labels_for(frame, "target", 2, ids), "labels/t.csv", "target")
    assert list(zip(labels["request_id"], labels["row"], labels["label"], strict=True)) == [
        ("t-0", 0, 1),
        ("t-0", 1, 0),
        ("t-1", 0, 0),
        ("t-1", 1, 1),
        ("t-2", 0, 1),
    ]


def test_given_no_target_column_then_labels_cannot_be_delivered():
    with pytest.raises(TrafficError, match="no target column 'target'"):
        labels_for(pd.DataFrame({"x": [1.0]}), "target", 1, ["a"])
    with pytest.raises(TrafficError, match="1 request ids for 2 requests"):
        replay("http://127.0.0.1:9", pd.DataFrame({"x": [1.0, 2.0]}), ["x"], request_ids=["a"])
