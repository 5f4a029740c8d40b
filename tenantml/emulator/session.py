"""How everything reaches the emulator: its address, account, fake credentials and boto3 clients.

A leaf module (it imports nothing of the emulator): the server, the resource handlers, the
alarm evaluator and ``moto_internals`` all depend on it, and it on none of them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

HOST = "127.0.0.1"
#: the documented default port of ``tenantml up`` (moto's own default, 5000, clashes with macOS AirPlay)
DEFAULT_PORT = 4599
DEFAULT_REGION = "us-east-1"
#: the account id moto answers with (``MOTO_ACCOUNT_ID`` changes it)
EMULATOR_ACCOUNT_ID = os.environ.get("MOTO_ACCOUNT_ID", "123456789012")

#: the moto setting that makes its IAM know the AWS managed policies
MANAGED_POLICIES_ENV = "MOTO_IAM_LOAD_MANAGED_POLICIES"

#: fake credentials: moto accepts anything, and real ones must never reach the emulator
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


def aws_env(endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The environment variables another tool needs to talk to the emulator, and only it."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


#: endpoints of the emulators running inside this process (their moto backends are reachable)
_IN_PROCESS: set[str] = set()


def is_in_process(endpoint: str) -> bool:
    """True when ``endpoint`` is an emulator this process started (see ``moto_internals``)."""
    return endpoint.rstrip("/") in _IN_PROCESS


def mark_in_process(endpoint: str, running: bool) -> None:
    """Record that this process started (``running``) or stopped the emulator at ``endpoint``."""
    if running:
        _IN_PROCESS.add(endpoint.rstrip("/"))
    else:
        _IN_PROCESS.discard(endpoint.rstrip("/"))


class AwsSession:
    """boto3 clients pointed at the emulator, created on first use and cached.

    One ``boto3.Session`` is shared by every region so service models load once.
    ``for_region`` returns a sibling for another region with the same endpoint and cache.
    """

    def __init__(
        self, endpoint: str, region: str = DEFAULT_REGION, *, _shared: dict[str, Any] | None = None
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self._shared = (
            _shared if _shared is not None else {"session": None, "clients": {}, "lock": threading.Lock()}
        )

    @property
    def boto3_session(self) -> Any:
        """The underlying ``boto3.Session`` with the fake credentials (created lazily)."""
        with self._shared["lock"]:
            if self._shared["session"] is None:
                import boto3

                self._shared["session"] = boto3.Session(
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                    region_name=self.region,
                )
            return self._shared["session"]

    def for_region(self, region: str) -> AwsSession:
        if region == self.region:
            return self
        return AwsSession(self.endpoint, region, _shared=self._shared)

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached boto3 client for ``service`` in ``region`` (default: this session's)."""
        region = region or self.region
        key = (service, region)
        clients = self._shared["clients"]
        client = clients.get(key)
        if client is None:
            from botocore.config import Config

            session = self.boto3_session
            with self._shared["lock"]:
                client = clients.get(key)
                if client is None:
                    client = session.client(
                        service,
                        region_name=region,
                        endpoint_url=self.endpoint,
                        config=Config(
                            retries={"max_attempts": 2, "mode": "standard"},
                            connect_timeout=5,
                            read_timeout=60,
                        ),
                    )
                    clients[key] = client
        return client

    def resource(self, service: str, region: str | None = None) -> Any:
        """A boto3 resource (not cached) pointed at the emulator."""
        return self.boto3_session.resource(
            service, region_name=region or self.region, endpoint_url=self.endpoint
        )

    def __repr__(self) -> str:
        return f"AwsSession(endpoint={self.endpoint!r}, region={self.region!r})"


def make_session(endpoint: str, region: str = DEFAULT_REGION) -> AwsSession:
    """An :class:`AwsSession` for the emulator at ``endpoint``; nothing is created yet."""
    return AwsSession(endpoint, region)
