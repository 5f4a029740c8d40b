"""``.tenantml/up.json``: what a running ``tenantml up`` tells every other command.

``up`` writes it once the tenants are applied: ``{"emulator": {"endpoint", "region", ...},
"tenants": {"<name>": {"region", "outputs", "lifecycle", "endpoint"}}}``. Commands that act on a
tenant (train, models, serve, deploy, traffic, monitor, report) read it when no ``--outputs``
file is given. An AWS endpoint on the loopback interface is the emulator, which gets fake
credentials: real ones must never be sent to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import Problem, TenantResourcesError

RUN_DIR = Path(".tenantml")
UP_FILE = RUN_DIR / "up.json"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_emulator(endpoint: str | None) -> bool:
    """An endpoint on the loopback interface is the local emulator."""
    return bool(endpoint) and (urlparse(endpoint).hostname or "") in _LOOPBACK


def boto3_session(endpoint: str | None, account_id: str | None = None) -> Any:
    """A boto3 session for ``endpoint``: emulator-only credentials for the emulator, the usual chain otherwise.

    The emulator session signs as the administrator of ``account_id`` (default: the emulator's
    account), so it reaches the resources of a tenant with its own ``account_id`` (the emulator
    routes by access key) and passes IAM enforcement.
    """
    import boto3

    if not is_emulator(endpoint):
        return boto3.session.Session()
    # the emulator enforces IAM: the operator signs as an account's administrator (the emulator's
    # own account when the tenant names none), never with keys it does not know
    from tenantml.emulator.session import admin_credentials

    keys = admin_credentials(account_id)
    return boto3.session.Session(
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"], aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"]
    )


def read_up_file(path: Path = UP_FILE) -> dict[str, Any]:
    """The parsed file; a clear error when it is unreadable or not what ``up`` writes."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise TenantResourcesError(
            [Problem(str(path), f"cannot be read ({err.strerror or err}); run `tenantml up` here")]
        ) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TenantResourcesError(
            [Problem(str(path), f"not valid JSON: {err}; run `tenantml up` again")]
        ) from err
    if not isinstance(data, dict):
        raise TenantResourcesError([Problem(str(path), "must be a JSON object", type(data).__name__)])
    return data


def tenant_entry(data: dict[str, Any], tenant: str, path: Path = UP_FILE) -> dict[str, Any]:
    """``tenants.<tenant>`` of a parsed up file; an error naming the tenants that are up otherwise."""
    tenants = data.get("tenants") or {}
    entry = tenants.get(tenant) if isinstance(tenants, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(tenants)) if isinstance(tenants, dict) and tenants else "none"
        raise TenantResourcesError(
            [Problem(f"{path}: tenants.{tenant}", f"no such tenant (tenants up: {known})")],
            headline=f"tenant {tenant} is not running in the emulator; run `tenantml up --tenant {tenant}`",
        )
    return entry


def emulator_endpoint(data: dict[str, Any]) -> str | None:
    return (data.get("emulator") or {}).get("endpoint")


__all__ = [
    "RUN_DIR",
    "UP_FILE",
    "boto3_session",
    "emulator_endpoint",
    "is_emulator",
    "read_up_file",
    "tenant_entry",
]
