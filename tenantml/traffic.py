"""Replay rows of a data frame against a model endpoint, as clients would: for demos and drift checks.

The rows go as CSV bodies (``rows_per_request`` lines each) to ``POST /invocations`` from
``concurrency`` threads sharing keep-alive connections. Every response is checked; the result
counts requests, rows and failures with the first few failure messages, so a caller can tell a
clean replay from one the server refused.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pandas as pd

from core.errors import TenantmlError

#: failure messages kept in a result (the count covers all of them)
MAX_FAILURE_MESSAGES = 5


class TrafficError(TenantmlError):
    """A replay could not start: no rows, or arguments that cannot work."""


@dataclass
class ReplayResult:
    requests: int = 0
    rows: int = 0
    failures: int = 0
    seconds: float = 0.0
    failure_messages: list[str] = field(default_factory=list)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def csv_bodies(
    frame: pd.DataFrame, features: list[str], rows_per_request: int
) -> Iterator[tuple[bytes, int]]:
    """``frame``'s ``features`` columns as CSV request bodies (no header), with their row counts."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise TrafficError(f"the replay data has no column(s) {', '.join(missing)} the model expects")
    values = frame[features]
    for start in range(0, len(values), rows_per_request):
        chunk = values.iloc[start : start + rows_per_request]
        buffer = io.StringIO()
        chunk.to_csv(buffer, header=False, index=False)
        yield buffer.getvalue().encode(), len(chunk)


def replay(
    url: str,
    frame: pd.DataFrame,
    features: list[str],
    *,
    rows_per_request: int = 1,
    concurrency: int = 4,
    timeout_s: float = 30.0,
    on_request: Callable[[int], None] | None = None,
    request_ids: list[str] | None = None,
) -> ReplayResult:
    """Send every row of ``frame`` to ``url``/invocations; ``on_request(rows)`` after each answer.

    ``request_ids``: one per request (``rows_per_request`` rows each), sent as ``X-Request-Id`` so
    labels can be delivered for them later (:func:`labels_for`)."""
    if frame.empty:
        raise TrafficError("there are no rows to replay")
    if rows_per_request < 1 or concurrency < 1:
        raise TrafficError("rows_per_request and concurrency must be at least 1")
    bodies = list(csv_bodies(frame, features, rows_per_request))
    if request_ids is not None and len(request_ids) != len(bodies):
        raise TrafficError(f"{len(request_ids)} request ids for {len(bodies)} requests")
    ids = request_ids or [None] * len(bodies)
    result = ReplayResult()
    lock = threading.Lock()
    endpoint = url.rstrip("/") + "/invocations"
    headers = {"Content-Type": "text/csv", "Accept": "application/json"}

    with httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=concurrency)) as client:

        def send(item: tuple[tuple[bytes, int], str | None]) -> None:
            (body, rows), request_id = item
            try:
                sent = headers if request_id is None else {**headers, "X-Request-Id": request_id}
                response = client.post(endpoint, content=body, headers=sent)
                problem = (
                    None
                    if response.status_code == 200
                    else f"HTTP {response.status_code}: {response.text[:200]}"
                )
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__}: {err}"
            with lock:
                result.requests += 1
                result.rows += rows
                if problem:
                    result.failures += 1
                    if len(result.failure_messages) < MAX_FAILURE_MESSAGES:
                        result.failure_messages.append(problem)
            if on_request is not None:
                on_request(rows)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replay") as pool:
            list(pool.map(send, zip(bodies, ids, strict=True)))
        result.seconds = time.perf_counter() - started
    return result


def request_ids_for(frame: pd.DataFrame, rows_per_request: int, prefix: str) -> list[str]:
    """One id per request of a replay of ``frame``: ``<prefix>-<n>``."""
    count = -(-len(frame) // rows_per_request)
    return [f"{prefix}-{n}" for n in range(count)]


def labels_for(frame: pd.DataFrame, target: str, rows_per_request: int, request_ids: list[str]) -> bytes:
    """A labels file (docs/monitoring.md#labels) with the true ``target`` of every replayed row."""
    from pipelines.monitoring.labels import labels_csv

    if target not in frame.columns:
        raise TrafficError(f"the replay data has no target column {target!r} to deliver labels from")
    positions = range(len(frame))
    return labels_csv(
        [request_ids[i // rows_per_request] for i in positions],
        [i % rows_per_request for i in positions],
        frame[target].tolist(),
        target,
    )


__all__ = ["ReplayResult", "TrafficError", "csv_bodies", "labels_for", "replay", "request_ids_for"]
