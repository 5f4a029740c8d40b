"""``tenantml bootstrap`` on the emulator, and the check that every tenant backend can initialise.

The bootstrap stacks are applied like tenant stacks (the same apply engine, the same JSON a
real ``terraform apply`` takes), with their state in ``<state dir>/bootstrap/`` so that a
``destroy`` of every tenant never reaches them. :func:`backend_problems` then reads each
tenant stack's ``terraform.backend.s3`` block and asks the emulator what ``terraform init``
would need: the bucket exists, in the backend's region, versioned and SSE-KMS encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from core.errors import Problem
from tenantml.emulator.commands import TenantApply, TenantProgress, apply_tenants, find_stacks
from tenantml.emulator.session import AwsSession
from tenantml.synthesis import BOOTSTRAP_DIR, BootstrapResult

#: the bootstrap stacks' emulator state, apart from the tenants' (``destroy`` of all tenants skips it)
BOOTSTRAP_STATE_DIR = "bootstrap"


@dataclass(frozen=True)
class TenantBackend:
    """A tenant stack's S3 backend block, as ``terraform init`` reads it."""

    tenant: str
    bucket: str
    key: str
    region: str
    use_lockfile: bool
    #: the key the backend asks S3 to encrypt with (SSE-KMS), or None when it sends no SSE header
    kms_key_id: str | None = None


def apply_bootstrap(
    out_dir: Path,
    results: Sequence[BootstrapResult],
    state_dir: Path,
    session: AwsSession,
    *,
    on_progress: TenantProgress | None = None,
) -> list[TenantApply]:
    """Apply the synthesized bootstrap stacks (``synthesis.synth_bootstrap``) to the emulator."""
    if not results:
        return []
    return apply_tenants(
        out_dir / BOOTSTRAP_DIR,
        [r.stack for r in results],
        state_dir / BOOTSTRAP_STATE_DIR,
        session,
        on_progress=on_progress,
    )


def tenant_backends(out_dir: Path, tenants: Sequence[str] | None = None) -> list[TenantBackend]:
    """The S3 backend of every synthesized tenant stack that keeps remote state."""
    found = []
    for tenant, path in find_stacks(out_dir, tenants).items():
        s3 = json.loads(path.read_text()).get("terraform", {}).get("backend", {}).get("s3")
        if s3 is not None:
            found.append(
                TenantBackend(
                    tenant,
                    s3["bucket"],
                    s3["key"],
                    s3["region"],
                    bool(s3.get("use_lockfile")),
                    s3.get("kms_key_id") if s3.get("encrypt") else None,
                )
            )
    return found


def backend_problems(backends: Sequence[TenantBackend], session: AwsSession) -> list[Problem]:
    """What would stop ``terraform init`` of each backend against the emulator; empty when all can."""
    problems = []
    keys: dict[tuple[str, str], str] = {}
    for backend in backends:
        where = f"tenant {backend.tenant}: terraform.backend.s3"
        other = keys.setdefault((backend.bucket, backend.key), backend.tenant)
        if other != backend.tenant:
            problems.append(Problem(f"{where}.key", f"is also tenant {other}'s state", backend.key))
        if not backend.use_lockfile:
            problems.append(Problem(f"{where}.use_lockfile", "must be true (S3-native locking)"))
        s3 = session.client("s3", backend.region)
        try:
            location = s3.get_bucket_location(Bucket=backend.bucket).get("LocationConstraint") or "us-east-1"
        except ClientError as err:
            problems.append(
                Problem(
                    f"{where}.bucket",
                    f"no such bucket ({_code(err)}): run `tenantml bootstrap` for its account",
                    backend.bucket,
                )
            )
            continue
        if location != backend.region:
            problems.append(Problem(f"{where}.region", f"the bucket is in {location}", backend.region))
        problems.extend(_bucket_problems(s3, backend.bucket, f"{where}.bucket"))
    return problems


def _bucket_problems(s3: Any, bucket: str, where: str) -> list[Problem]:
    found = []
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        found.append(Problem(where, "is not versioned: a bad apply could not be rolled back", bucket))
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError:
        rules = []
    algorithms = {r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
    if "aws:kms" not in algorithms:
        found.append(Problem(where, "is not encrypted with a KMS key by default", bucket))
    return found


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "error"))


__all__ = [
    "BOOTSTRAP_STATE_DIR",
    "TenantBackend",
    "apply_bootstrap",
    "backend_problems",
    "tenant_backends",
]
