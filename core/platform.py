"""Platform settings shared by every tenant: where Terraform keeps state, and the default account.

They live in ``platform.yaml`` beside the tenants directory (``tenants/`` -> ``./platform.yaml``;
``--platform`` names another file). A missing file means the defaults. The state region is one
for the whole platform, whatever region a tenant's workload runs in: Terraform's backend block
cannot use interpolation, so every tenant's backend names its account's state bucket literally,
and one region per account's bucket keeps the bootstrap to one stack per account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from core.errors import Problem, TenantSpecError
from core.spec import REGION_PATTERN, TenantSpec

PLATFORM_FILE_NAME = "platform.yaml"
DEFAULT_STATE_REGION = "us-east-1"
#: a platform file is a handful of lines; anything bigger is not one
MAX_PLATFORM_FILE_BYTES = 64 * 1024
ACCOUNT_PATTERN = r"^\d{12}$"
PLATFORM_ERROR = "invalid platform settings"


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StateSettings(_Settings):
    """Where Terraform keeps every tenant's state on real AWS."""

    #: the region of every account's state bucket (not the tenants' workload regions)
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)] = DEFAULT_STATE_REGION
    #: state keys are ``<key_prefix>/<tenant>/terraform.tfstate``
    key_prefix: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
    ] = "tenants"


class PlatformSpec(_Settings):
    """What ``platform.yaml`` holds."""

    state: StateSettings = StateSettings()
    #: the account of tenants whose spec names none; their state bucket is named with it
    default_account_id: Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN)] | None = None


def default_platform_file(tenants_dir: Path) -> Path:
    """``platform.yaml`` beside the tenants directory."""
    return tenants_dir.resolve().parent / PLATFORM_FILE_NAME


def load_platform(path: Path) -> PlatformSpec:
    """The settings in ``path``; the defaults when it does not exist. Problems name the file and field."""
    if not path.exists():
        return PlatformSpec()
    size = path.stat().st_size
    if size > MAX_PLATFORM_FILE_BYTES:
        raise TenantSpecError(
            [Problem(str(path), f"is {size} bytes; a platform file may have {MAX_PLATFORM_FILE_BYTES}")],
            headline=PLATFORM_ERROR,
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise TenantSpecError(
            [Problem(str(path), f"not valid YAML: {err}")], headline=PLATFORM_ERROR
        ) from err
    if data is None:
        return PlatformSpec()
    if not isinstance(data, dict):
        raise TenantSpecError(
            [Problem(str(path), "must be a YAML mapping", type(data).__name__)], headline=PLATFORM_ERROR
        )
    try:
        return PlatformSpec.model_validate(data)
    except ValidationError as err:
        problems = [
            Problem(
                f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}",
                e["msg"].removeprefix("Value error, "),
                _scalar(e.get("input")) if e["type"] != "missing" else None,
            )
            for e in err.errors(include_url=False)
        ]
        raise TenantSpecError(problems, headline=PLATFORM_ERROR) from err


def _scalar(value: object) -> object:
    """A bad value worth quoting; a mapping or list is noise (and may be an alias bomb's output)."""
    return value if isinstance(value, (str, int, float, bool)) else None


def state_bucket_name(account_id: str, region: str) -> str:
    """The account's state bucket: bucket names are global, so the account keeps it ours."""
    return f"tenantml-tfstate-{account_id}-{region}"


def state_key_alias(account_id: str) -> str:
    """The alias of the account's state key (the account in it: the emulator may hold several accounts)."""
    return f"alias/tenantml-tfstate-{account_id}"


def state_key(key_prefix: str, tenant: str) -> str:
    return f"{key_prefix.strip('/')}/{tenant}/terraform.tfstate"


def tenant_account(spec: TenantSpec, platform: PlatformSpec) -> str | None:
    """The account a tenant deploys into: its own, else the platform's default."""
    return spec.account_id or platform.default_account_id


def state_problems(specs: Iterable[TenantSpec], platform: PlatformSpec) -> list[Problem]:
    """Tenants whose remote state cannot be named: no account in the spec or the platform."""
    return [
        Problem(
            f"tenant {spec.name}: account_id",
            "remote state needs an account (the state bucket is named with it): set account_id in "
            "the tenant spec or default_account_id in platform.yaml, or state.enabled: false",
        )
        for spec in specs
        if spec.state.enabled and tenant_account(spec, platform) is None
    ]


def state_accounts(specs: Sequence[TenantSpec], platform: PlatformSpec) -> list[str]:
    """Every account that needs a bootstrap (a state bucket), sorted; raises when one is unknown."""
    problems = state_problems(specs, platform)
    if problems:
        raise TenantSpecError(problems, headline=PLATFORM_ERROR)
    return sorted({a for s in specs if s.state.enabled and (a := tenant_account(s, platform)) is not None})


__all__ = [
    "DEFAULT_STATE_REGION",
    "PLATFORM_FILE_NAME",
    "PlatformSpec",
    "StateSettings",
    "default_platform_file",
    "load_platform",
    "state_accounts",
    "state_bucket_name",
    "state_key",
    "state_problems",
    "tenant_account",
]
