"""Starting and stopping the emulator on 127.0.0.1, ports, environment and reset."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest

from core.errors import EmulatorPortInUseError
from tenantml.emulator import server


@pytest.fixture
def taken_port():
    """A port another process (here: a plain socket) is listening on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_given_an_explicit_port_that_is_taken_when_started_then_the_error_names_the_port(taken_port):
    with pytest.raises(EmulatorPortInUseError) as err:
        server.start(taken_port)

    assert str(err.value) == (
        f"port {taken_port} on 127.0.0.1 is already in use by another process; "
        f"choose another port, or leave the port out to use {server.DEFAULT_PORT} or any free one"
    )
    assert err.value.exit_code == 2


def test_given_the_default_port_is_taken_when_started_then_a_free_port_is_used_and_said(
    taken_port, monkeypatch
):
    monkeypatch.setattr(server, "DEFAULT_PORT", taken_port)
    messages: list[str] = []

    running = server.start(on_message=messages.append)
    try:
        assert running.port != taken_port
        assert running.endpoint == f"http://127.0.0.1:{running.port}"
        assert messages == [
            f"the default emulator port {taken_port} is in use; using free port {running.port} instead"
        ]
        assert running.fallback_message == messages[0]
    finally:
        running.stop()


def test_given_a_started_emulator_when_stopped_then_its_port_is_free_and_the_environment_is_restored(
    monkeypatch,
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    running = server.start(0, export_env=True, region="eu-west-1")
    port = running.port
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_ENDPOINT_URL"] == running.endpoint
    with urllib.request.urlopen(f"{running.endpoint}/moto-api/") as response:
        assert response.status == 200
    running.stop()

    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALLOOKINGKEY"
    assert "AWS_ENDPOINT_URL" not in os.environ
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again


def test_given_an_endpoint_when_aws_env_is_asked_then_it_holds_exactly_what_other_tools_need():
    assert server.aws_env("http://127.0.0.1:4599", "eu-west-1") == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4599",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_DISABLE_REQUEST_COMPRESSION": "true",
    }


def test_given_resources_in_the_emulator_when_reset_then_they_are_gone(aws, emulator):
    aws.client("sqs").create_queue(QueueName="leftover")

    server.reset(emulator.endpoint)

    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []


def test_given_a_session_when_clients_are_asked_then_they_are_cached_per_service_and_region(emulator):
    session = server.make_session(emulator.endpoint, "eu-west-1")

    first = session.client("s3")

    assert session.client("s3") is first
    assert session.for_region("us-east-1").client("s3") is not first
    assert session.for_region("us-east-1").client("s3", "eu-west-1") is first
    assert first.meta.endpoint_url == emulator.endpoint
