"""Helpers for serving tests that start the model server as its own process."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_workers(url: str, workers: int, process: subprocess.Popen, timeout: float = 90) -> set[int]:
    """Poll /metrics on fresh connections until every worker process reports a loaded model."""
    ready: set[int] = set()
    deadline = time.monotonic() + timeout
    # no keep-alive: each poll is a new connection, which the kernel may hand to any worker
    with httpx.Client(base_url=url, timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while len(ready) < workers:
            assert process.poll() is None, "the server exited during startup"
            assert time.monotonic() < deadline, f"only {len(ready)} of {workers} workers became ready"
            try:
                metrics = client.get("/metrics").json()
                if metrics["status"] == "ready":
                    ready.add(metrics["pid"])
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    return ready


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a listening TCP socket on ``port``, from the kernel's table (Linux)."""
    addresses = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 60) -> set[str]:
    """Poll the socket table until something listens on ``port``; fails if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while not (addresses := listening_addresses(port)):
        assert process.poll() is None, "the server exited during startup"
        assert time.monotonic() < deadline, f"nothing listens on port {port}"
        time.sleep(0.05)
    return addresses
