"""What every resource handler is made of, and the helpers they share.

A handler is a row in a table: ``create(ctx, config) -> attributes``,
``update(ctx, old_config, new_config, attributes) -> attributes`` (``None`` only for types
whose every argument forces a replacement), ``delete(ctx, config, attributes)`` and the
attributes it exports beyond its arguments. Which changes replace a resource is not a
handler's business: the plan asks the one table in :mod:`core.terraform.replacement`.
``config`` is the resolved configuration with Terraform AWS provider 6.x argument names.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, AwsSession

Config = Mapping[str, Any]
Attributes = dict[str, Any]


@dataclass
class HandlerContext:
    """What a handler may use: clients for the resource's region, and where the stack lives."""

    session: AwsSession
    region: str
    #: ``cdktf.out/stacks/<tenant>/``; relative file arguments (Lambda zips) are read from here
    stack_dir: Path | None = None
    #: the provider's ``default_tags``, merged under every taggable resource's own tags
    default_tags: Mapping[str, str] = field(default_factory=dict)
    _account_id: str | None = None

    def client(self, service: str) -> Any:
        return self.session.client(service, self.region)

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            try:
                self._account_id = self.session.caller_account()
            except ClientError:  # pragma: no cover - moto always answers
                self._account_id = EMULATOR_ACCOUNT_ID
        return self._account_id

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def tags(self, config: Config) -> dict[str, str]:
        """``tags_all``: the provider's default tags overridden by the resource's own."""
        return {**self.default_tags, **(config.get("tags") or {})}


@dataclass(frozen=True)
class Observed:
    """A resource as it exists now, as a handler's ``read`` found it."""

    #: what ``create`` would have returned for it (ids, ARNs, ...): an adopted resource's attributes
    attributes: Attributes
    #: the arguments the reader could see, as they are now (a plan shows where they left the state)
    config: Mapping[str, Any] = field(default_factory=dict)


Create = Callable[[HandlerContext, Config], Attributes]
Update = Callable[[HandlerContext, Config, Config, Attributes], Attributes]
Delete = Callable[[HandlerContext, Config, Attributes], None]
#: ``read(ctx, config, attributes)``: the resource as it exists, or ``None`` when it does not. It is
#: located by ``attributes`` (its ids in the state) or, when they are empty (a create whose result
#: was never recorded), by the identity ``config`` names.
Read = Callable[[HandlerContext, Config, Attributes], "Observed | None"]
#: ``read_batch(ctx, [(config, attributes), ...])``: what ``read`` returns for each, in order, from
#: as few calls as the API allows (refresh reads every resource of a type at once)
ReadBatch = Callable[[HandlerContext, Sequence[tuple[Config, Attributes]]], "list[Observed | None]"]


@dataclass(frozen=True)
class Handler:
    """How the emulator creates, updates and deletes one Terraform resource type."""

    type: str
    create: Create
    delete: Delete
    update: Update | None = None
    #: attributes a reference may read besides the arguments in the configuration
    exports: frozenset[str] = frozenset({"id"})
    #: exported attributes an in-place update may change (a plan shows them as known after apply)
    volatile: frozenset[str] = frozenset()
    #: why the emulator only records this type instead of applying it (e.g. Kubernetes objects:
    #: moto runs no cluster); plans and applies show such resources as skipped with this reason
    skip_reason: str | None = None
    #: finds the resource as it exists (refresh, and adopting what a crashed apply created);
    #: ``None`` for a type that cannot be read: its state is trusted, and a crashed create of it
    #: is cleaned up by deleting what the intent names
    read: Read | None = None
    #: ``read`` for many resources of this type at once; ``None``: refresh reads them one by one
    read_batch: ReadBatch | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "exports", frozenset(self.exports) | {"id", "tags_all"})
        object.__setattr__(self, "volatile", frozenset(self.volatile) | {"tags_all"})


# --- configuration helpers ------------------------------------------------------------------


def blocks(config: Config | None, name: str) -> list[dict[str, Any]]:
    """A nested block as a list of objects, whether the JSON wrote it as an object or a list."""
    if not config:
        return []
    value = config.get(name)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    return [dict(v) for v in value if isinstance(v, Mapping)]


def block(config: Config | None, name: str) -> dict[str, Any] | None:
    """A nested block that appears at most once (``MaxItems: 1`` in the provider schema)."""
    found = blocks(config, name)
    return found[0] if found else None


def pascal(name: str) -> str:
    """``kms_master_key_id`` -> ``KmsMasterKeyId``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: str(v)} for k, v in tags.items()]


def changed(old: Config, new: Config, *names: str) -> bool:
    return any(old.get(n) != new.get(n) for n in names)


def unique_name(config: Config, name_key: str = "name", prefix_key: str = "name_prefix") -> str:
    """``name``, or ``name_prefix`` plus a unique suffix like the provider's, or a generated one."""
    if config.get(name_key):
        return str(config[name_key])
    prefix = config.get(prefix_key) or "terraform-"
    return f"{prefix}{uuid.uuid4().hex[:26]}"


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


@contextmanager
def ignore_missing(*codes: str) -> Iterator[None]:
    """Deleting something already gone is success (the emulator may have been reset)."""
    wanted = set(codes) or {"NoSuchEntity", "ResourceNotFoundException", "NotFoundException", "NotFound"}
    try:
        yield
    except ClientError as err:
        code = error_code(err)
        if code not in wanted and not code.endswith((".NotFound", "NotFound", "NoSuchBucket")):
            raise


@contextmanager
def undo_on_error(undo: Callable[[], None]) -> Iterator[None]:
    """Roll back the first call of a multi-call create if a later call fails.

    Without this a half-created resource would exist in the emulator while the state file
    does not list it, and the next apply would fail creating it again.
    """
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to report
            undo()
        raise


def sync_tags(
    old: Mapping[str, str],
    new: Mapping[str, str],
    *,
    tag: Callable[[dict[str, str]], Any],
    untag: Callable[[list[str]], Any],
) -> None:
    """Apply the difference between two tag maps with a service's tag and untag calls."""
    removed = [k for k in old if k not in new]
    added = {k: v for k, v in new.items() if old.get(k) != v}
    if removed:
        untag(removed)
    if added:
        tag(added)


def bool_str(value: Any) -> str:
    return "true" if value in (True, "true", "True") else "false"


__all__ = [
    "Attributes",
    "Config",
    "Handler",
    "HandlerContext",
    "Observed",
    "Read",
    "ReadBatch",
    "block",
    "blocks",
    "bool_str",
    "changed",
    "error_code",
    "ignore_missing",
    "pascal",
    "sync_tags",
    "tag_list",
    "undo_on_error",
    "unique_name",
]
