"""Where a tenant's deployed resources are: its stack outputs, read one way for every command.

Commands that act on a tenant (train, models, serve, predict, deploy, traffic, monitor, report)
find its outputs in this order:

1. ``--outputs FILE``: ``terraform output -json`` (``{name: {"value": ...}}``), a plain
   ``{name: value}`` object, or an ``up.json``; AWS is whatever boto3 finds (``--endpoint-url`` or
   ``AWS_ENDPOINT_URL`` to point elsewhere);
2. otherwise ``.tenantml/up.json``, written by ``tenantml up``: the emulator's endpoint and each
   tenant's outputs and region;
3. otherwise an error saying to run ``tenantml up`` or pass ``--outputs``.

An endpoint on the loopback interface is the local emulator: clients get fake credentials (real
ones never reach it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Problem, TenantResourcesError
from tenantml.up_file import (
    UP_FILE,
    boto3_session,
    emulator_endpoint,
    is_emulator,
    read_up_file,
    tenant_entry,
)


@dataclass(frozen=True)
class TenantOutputs:
    """A tenant's stack outputs, and the AWS endpoint and region to reach them."""

    tenant: str
    outputs: dict[str, Any] = field(default_factory=dict)
    #: the emulator's URL, or ``None`` for real AWS
    endpoint_url: str | None = None
    region: str | None = None
    #: where the outputs were read (a file path), for error messages
    source: str | None = None

    @property
    def emulated(self) -> bool:
        return is_emulator(self.endpoint_url)

    def require(self, name: str) -> str:
        value = self.outputs.get(name)
        if not value:
            raise TenantResourcesError(
                [Problem(f"{self.source or 'outputs'}: {name}", f"tenant {self.tenant} has no such output")],
                headline="deploy the tenant stack (or `tenantml up` on the emulator) first",
            )
        return str(value)

    @property
    def account_id(self) -> str | None:
        """The tenant's account, read from its outputs' ARNs (None when they name none)."""
        for value in self.outputs.values():
            parts = value.split(":") if isinstance(value, str) and value.startswith("arn:") else []
            if len(parts) > 4 and parts[4].isdigit():
                return parts[4]
        return None

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (the tenant account's emulator keys for the emulator, the usual chain otherwise)."""
        return boto3_session(self.endpoint_url, self.account_id).client(
            service, region_name=self.region, endpoint_url=self.endpoint_url
        )


def load_outputs(
    tenant: str,
    outputs_file: Path | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    up_file: Path = UP_FILE,
) -> TenantOutputs:
    """``tenant``'s outputs from ``outputs_file``, else from ``up_file``; see the module docstring.

    ``region`` is the tenant spec's region when the caller knows it; an ``up.json`` entry's region
    wins (it is where the emulator put the tenant), then ``AWS_REGION``/``AWS_DEFAULT_REGION``.
    """
    path = outputs_file if outputs_file is not None else (up_file if up_file.is_file() else None)
    if path is None:
        raise TenantResourcesError(
            [Problem("--outputs", f"not given, and {up_file} does not exist")],
            headline=f"no outputs for tenant {tenant}: run `tenantml up` (starts the local emulator and writes "
            f"{up_file}) or pass --outputs FILE with the deployed stack's outputs (terraform output -json)",
        )
    data = read_up_file(path)
    endpoint = endpoint_url
    if "tenants" in data and "emulator" in data:
        entry = tenant_entry(data, tenant, path)
        raw = entry.get("outputs")
        if not isinstance(raw, dict):
            raise TenantResourcesError(
                [Problem(f"{path}: tenants.{tenant}.outputs", "missing; run `tenantml up` again")]
            )
        endpoint = endpoint_url or emulator_endpoint(data)
        region = entry.get("region") or region or (data.get("emulator") or {}).get("region")
        source = f"{path}: tenants.{tenant}.outputs"
    else:
        raw, source = data, str(path)
    outputs = {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in raw.items()}
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return TenantOutputs(tenant=tenant, outputs=outputs, endpoint_url=endpoint, region=region, source=source)
