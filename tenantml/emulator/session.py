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


#: the IAM user the platform's own apply signs with, one per account (see ``iam_enforcement``)
ADMIN_USER_NAME = "tenantml-admin"


def admin_credentials(account_id: str | None = None) -> dict[str, str]:
    """The emulator's administrator keys in ``account_id`` (default: the emulator's account).

    Derived from the account id, so any process can compute them without a file to share, and
    moto routes a request signed with them to that account (it finds the account by the access
    key). They exist in moto only once ``iam_enforcement.ensure_admin`` made the user; they are
    emulator-only, like :data:`FAKE_CREDENTIALS`: a real AWS endpoint rejects them.
    """
    account = account_id or EMULATOR_ACCOUNT_ID
    return {
        "AWS_ACCESS_KEY_ID": f"AKIA{account}ADMN",
        "AWS_SECRET_ACCESS_KEY": f"tenantml-emulator-admin-secret-{account}",
    }


def aws_env(
    endpoint: str, region: str = DEFAULT_REGION, credentials: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment variables another tool needs to talk to the emulator, and only it.

    ``credentials`` (``AWS_ACCESS_KEY_ID`` and friends, e.g. a role's from the emulator's STS)
    replace the fake ones; a missing session token is blanked so no other token leaks in.
    """
    creds = dict(FAKE_CREDENTIALS)
    if credentials is not None:
        token = credentials.get("AWS_SESSION_TOKEN", "")
        creds = {**credentials, "AWS_SESSION_TOKEN": token, "AWS_SECURITY_TOKEN": token}
    return {
        "AWS_ENDPOINT_URL": endpoint,
        **creds,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # the SDKs gzip large PutMetricData bodies; moto checks the signature over the body it
        # decompressed, so under IAM enforcement every large publication failed SignatureDoesNotMatch
        "AWS_DISABLE_REQUEST_COMPRESSION": "true",
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


_loader: dict[str, Any] = {"loader": None, "lock": threading.Lock()}


def shared_data_loader() -> Any:
    """botocore's service-model loader, one per process (it caches what it parsed).

    Every session of the process registers it: a fresh botocore session parses each service's
    model again (S3's alone is about a third of a second), and ``up`` makes sessions per
    account, per role and per step.
    """
    with _loader["lock"]:
        if _loader["loader"] is None:
            import botocore.session

            _loader["loader"] = botocore.session.get_session().get_component("data_loader")
        return _loader["loader"]


class AwsSession:
    """boto3 clients pointed at the emulator, created on first use and cached.

    One ``boto3.Session`` is shared by every region so service models load once.
    ``for_region`` returns a sibling for another region with the same endpoint and cache.
    The session signs as the administrator of ``account_id`` (:func:`admin_credentials`), so
    with IAM enforced the platform's own calls are allowed and land in that account;
    ``for_account`` returns the session of another account, one per account and endpoint
    family, so each account's clients are made once; every session of the process shares
    botocore's service models (:func:`shared_data_loader`: loading them took most of a plan's
    time under IAM enforcement, where every tenant signs as its own account's administrator).
    """

    def __init__(
        self,
        endpoint: str,
        region: str = DEFAULT_REGION,
        *,
        account_id: str | None = None,
        _shared: dict[str, Any] | None = None,
        _family: dict[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.account_id = account_id or EMULATOR_ACCOUNT_ID
        self._shared = (
            _shared if _shared is not None else {"session": None, "clients": {}, "lock": threading.Lock()}
        )
        #: what every account's session of this endpoint shares: the sessions, one per account
        self._family = _family if _family is not None else {"sessions": {}, "lock": threading.Lock()}
        self._family["sessions"].setdefault(self.account_id, self)

    @property
    def boto3_session(self) -> Any:
        """The underlying ``boto3.Session`` with the fake credentials (created lazily)."""
        with self._shared["lock"]:
            if self._shared["session"] is None:
                import boto3
                import botocore.session

                core = botocore.session.get_session()
                core.register_component("data_loader", shared_data_loader())
                credentials = admin_credentials(self.account_id)
                self._shared["session"] = boto3.Session(
                    aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                    region_name=self.region,
                    botocore_session=core,
                )
            return self._shared["session"]

    def for_region(self, region: str) -> AwsSession:
        if region == self.region:
            return self
        return AwsSession(
            self.endpoint, region, account_id=self.account_id, _shared=self._shared, _family=self._family
        )

    def for_account(self, account_id: str | None) -> AwsSession:
        """A session signing as the administrator of ``account_id`` (None: this one's)."""
        if account_id is None or account_id == self.account_id:
            return self
        with self._family["lock"]:
            session = self._family["sessions"].get(account_id)
        if session is None:
            session = AwsSession(self.endpoint, self.region, account_id=account_id, _family=self._family)
        return session.for_region(self.region)

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

    def caller_account(self) -> str:
        """The account the emulator files this session's requests under (``GetCallerIdentity``).

        Asked once per credentials, not per handler context: the answer depends on the keys
        alone, and a plan made a dozen contexts that each asked again.
        """
        account = self._shared.get("caller_account")
        if account is None:
            account = self.client("sts").get_caller_identity()["Account"]
            self._shared["caller_account"] = account
        return account

    def resource(self, service: str, region: str | None = None) -> Any:
        """A boto3 resource (not cached) pointed at the emulator."""
        return self.boto3_session.resource(
            service, region_name=region or self.region, endpoint_url=self.endpoint
        )

    def __repr__(self) -> str:
        return (
            f"AwsSession(endpoint={self.endpoint!r}, region={self.region!r}, account_id={self.account_id!r})"
        )


def make_session(endpoint: str, region: str = DEFAULT_REGION, account_id: str | None = None) -> AwsSession:
    """An :class:`AwsSession` for the emulator at ``endpoint``; nothing is created yet."""
    return AwsSession(endpoint, region, account_id=account_id)
