"""The emulator's per-tenant state file: what exists in the emulator, resource by resource.

``.tenantml/state/<tenant>.json`` is rewritten atomically (temporary file, ``os.replace``)
after every resource created, updated or deleted, so an apply that fails half-way leaves a
file describing exactly what exists and the next apply resumes from there. It is not
``fsync``'d: the rename alone survives a killed process (the kernel keeps the written pages),
and the one thing ``fsync`` adds, surviving a crash of the machine, is worthless here because
the emulator's resources live in memory and die with it. (Two ``fsync`` calls per write took
11.5 of the 47 s that a profiled ``up`` of 4 tenants spent applying.)

Before a resource is created, replaced, updated or deleted, the apply records its *intent*
(address, action, the resolved configuration and the physical identity it names) and writes
the file; the result replaces the intent in the next write, which for a create or an update
is the next resource's intent (one write per resource, not two; the apply writes what is
left when it ends or fails). A crash (even ``kill -9``) between
the two leaves an intent without a result, which the next apply resolves against what exists
(:mod:`tenantml.emulator.recovery`) before it plans anything.

The file carries a format version and a SHA-256 checksum of its content. A file that is
not JSON, has another format or version, lacks a field, or whose checksum does not match
(it was edited by hand or truncated) raises :class:`~core.errors.EmulatorStateError`
naming the file and what is wrong; it is never silently replaced, because re-creating
resources that already exist is exactly what a state file is there to prevent.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from core.errors import EmulatorStateError, EmulatorStateLockedError
from tenantml.emulator.file_lock import FileLock

FORMAT = "tenantml-emulator-state"
VERSION = 1
#: how long an apply, plan or destroy waits for another one of the same tenant to finish
STATE_LOCK_TIMEOUT_S = 300.0


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that hashes and checksums are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_reject)


def _reject(value: Any) -> Any:
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be stored in the emulator state")


def config_hash(config: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a resolved configuration."""
    return "sha256:" + hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StateEntry:
    """One resource that exists in the emulator."""

    address: str
    type: str
    #: the configuration as applied, every reference resolved
    config: Mapping[str, Any]
    #: what AWS returned or what the handler read back (id, arn, name, ...)
    attributes: Mapping[str, Any]
    #: addresses this resource depended on when applied (destroy goes the other way)
    dependencies: tuple[str, ...] = ()
    config_hash: str = ""
    #: the region the resource lives in
    region: str | None = None

    def __post_init__(self) -> None:
        if not self.config_hash:
            object.__setattr__(self, "config_hash", config_hash(self.config))

    @property
    def values(self) -> dict[str, Any]:
        """What references to this resource see: its arguments, overridden by read-back attributes."""
        return {**self.config, **self.attributes}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "region": self.region,
            "config": dict(self.config),
            "attributes": dict(self.attributes),
            "dependencies": list(self.dependencies),
            "config_hash": self.config_hash,
        }

    # An entry never changes once made, so its two JSON texts are computed once: the state
    # is rewritten after every resource, and re-encoding every entry each time made a
    # 100-resource apply spend most of a second in json.dumps.
    @cached_property
    def canonical_text(self) -> str:
        return canonical_json(self.to_json())

    @cached_property
    def pretty_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False).replace("\n", "\n    ")


#: configuration arguments that name a resource's physical identity, recorded with an intent
IDENTITY_ARGUMENTS = (
    "name",
    "bucket",
    "function_name",
    "role",
    "policy_arn",
    "cluster_name",
    "node_group_name",
    "repository",
    "alarm_name",
    "topic_arn",
    "statement_id",
    "model_package_group_name",
    "url",
    "cidr_block",
    "vpc_id",
    "subnet_id",
    "route_table_id",
)


@dataclass(frozen=True)
class Intent:
    """A change the apply is about to make, written before the call that makes it.

    ``action`` is ``create``, ``update`` or ``delete`` (a replacement is a delete, then a
    create). ``config`` is the resolved configuration the call uses; ``identity`` the
    arguments of it that name the physical resource (name, bucket, ARN, ...), for a reader.
    """

    address: str
    type: str
    action: str
    config: Mapping[str, Any]
    region: str | None = None
    dependencies: tuple[str, ...] = ()
    identity: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        address: str,
        rtype: str,
        action: str,
        config: Mapping[str, Any],
        region: str | None,
        dependencies: tuple[str, ...] = (),
        tags_all: Mapping[str, str] | None = None,
    ) -> Intent:
        identity: dict[str, Any] = {
            k: config[k] for k in IDENTITY_ARGUMENTS if isinstance(config.get(k), str)
        }
        if tags_all:
            # with the provider's default tags: a destroy, which has no document, still finds by them
            identity["tags_all"] = dict(tags_all)
        return cls(address, rtype, action, dict(config), region, tuple(dependencies), identity)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "action": self.action,
            "region": self.region,
            "config": dict(self.config),
            "dependencies": list(self.dependencies),
            "identity": dict(self.identity),
        }


@dataclass
class State:
    """Every resource of one tenant that exists in the emulator, keyed by address."""

    path: Path
    entries: dict[str, StateEntry] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: bumped on every write, like Terraform's serial
    serial: int = 0
    #: free-form information about where the state applies (endpoint, stack file)
    meta: dict[str, Any] = field(default_factory=dict)
    #: changes begun and not yet recorded as done (address -> intent); empty after a clean apply
    intents: dict[str, Intent] = field(default_factory=dict)
    #: a change recorded in memory and not written yet (``put(write=False)``)
    _unwritten: bool = field(default=False, repr=False, compare=False)

    def __contains__(self, address: object) -> bool:
        return address in self.entries

    def __iter__(self) -> Iterator[StateEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, address: str) -> StateEntry | None:
        return self.entries.get(address)

    def values_by_address(self) -> dict[str, dict[str, Any]]:
        """address -> attributes, the mapping :func:`~core.terraform.expressions.resolve` reads."""
        return {address: entry.values for address, entry in self.entries.items()}

    def begin(self, intent: Intent) -> None:
        """Record that ``intent`` is about to be carried out (the file is written), before the call that does it."""
        self.intents[intent.address] = intent
        self.save()

    def put(self, entry: StateEntry, *, write: bool = True) -> None:
        """Record a created or updated resource (its intent done) and write the file.

        ``write=False`` leaves the file to the next write (the next intent, the outputs, or
        :meth:`flush`): until then the file holds the resource's intent, which the next apply
        settles by reading the resource, exactly as after a crash right after the call.
        """
        self.entries[entry.address] = entry
        self.intents.pop(entry.address, None)
        if write:
            self.save()
        else:
            self._unwritten = True

    def flush(self) -> None:
        """Write what :meth:`put` left unwritten, if anything."""
        if self._unwritten:
            self.save()

    def remove(self, address: str) -> None:
        """Forget a deleted resource (its intent done) and write the file."""
        had_intent = self.intents.pop(address, None) is not None
        if self.entries.pop(address, None) is not None or had_intent:
            self.save()

    def forget_intent(self, address: str) -> None:
        """Drop an intent that turned out to have changed nothing, and write the file."""
        if self.intents.pop(address, None) is not None:
            self.save()

    def set_outputs(self, outputs: Mapping[str, Any]) -> None:
        self.outputs = dict(outputs)
        self.save()

    def content(self) -> dict[str, Any]:
        content = {
            "format": FORMAT,
            "version": VERSION,
            "serial": self.serial,
            "meta": self.meta,
            "resources": {address: self.entries[address].to_json() for address in sorted(self.entries)},
            "outputs": self.outputs,
        }
        if self.intents:
            content["intents"] = self._intents_json()
        return content

    def _intents_json(self) -> dict[str, Any]:
        return {address: self.intents[address].to_json() for address in sorted(self.intents)}

    def save(self) -> None:
        """Write the file atomically: a crash leaves the old or the new file, never half of one."""
        self._unwritten = False
        self.serial += 1
        addresses = sorted(self.entries)
        # canonical_json(content without checksum), assembled from the entries' cached texts
        # "intents" only while there are some, so a file without pending work reads as before
        intents = self._intents_json() if self.intents else None
        canonical = (
            f'{{"format":{canonical_json(FORMAT)},'
            + (f'"intents":{canonical_json(intents)},' if intents is not None else "")
            + f'"meta":{canonical_json(self.meta)},'
            f'"outputs":{canonical_json(self.outputs)},"resources":{{'
            + ",".join(f"{canonical_json(a)}:{self.entries[a].canonical_text}" for a in addresses)
            + f'}},"serial":{self.serial},"version":{VERSION}}}'
        )
        checksum = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

        def field_text(value: Any) -> str:
            return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")

        resources = ",\n".join(
            f"    {json.dumps(a, ensure_ascii=False)}: {self.entries[a].pretty_text}" for a in addresses
        )
        text = (
            "{\n"
            f'  "format": {json.dumps(FORMAT)},\n'
            f'  "version": {VERSION},\n'
            f'  "serial": {self.serial},\n'
            f'  "checksum": {json.dumps(checksum)},\n'
            + (f'  "intents": {field_text(intents)},\n' if intents is not None else "")
            + f'  "meta": {field_text(self.meta)},\n'
            f'  "outputs": {field_text(self.outputs)},\n'
            + ('  "resources": {\n' + resources + "\n  }\n" if addresses else '  "resources": {}\n')
            + "}\n"
        )
        write_atomic(self.path, text, durable=False)


def _checksum(content: Mapping[str, Any]) -> str:
    body = {k: v for k, v in content.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text``: temp file in the same directory, rename.

    ``durable`` also ``fsync``s the file before the rename and the directory after, so that the
    new content survives a crash of the machine, not only of the process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def _fail(path: Path, what: str) -> EmulatorStateError:
    return EmulatorStateError(
        f"emulator state file {path} {what}. It was not changed and nothing was applied. "
        "If the emulator was reset or restarted, delete the file; otherwise restore it from a copy "
        "(tenantml never re-creates resources it cannot account for)."
    )


def _require(
    path: Path, container: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str
) -> Any:
    if key not in container:
        raise _fail(path, f"is missing {where}{key!r}")
    value = container[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, f"has {where}{key!r} of type {type(value).__name__}; expected {names}")
    return value


def load_state(path: Path) -> State:
    """Read the state at ``path``; a missing file is an empty state (nothing exists yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State(path=path)
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(path, f"cannot be read ({err})") from err
    try:
        content = json.loads(text)
    except ValueError as err:
        raise _fail(
            path, f"is not valid JSON (line {getattr(err, 'lineno', '?')}: {getattr(err, 'msg', err)})"
        ) from err
    if not isinstance(content, dict):
        raise _fail(path, "does not hold a JSON object")
    if content.get("format") != FORMAT:
        raise _fail(
            path, f"is not an emulator state file (format {content.get('format')!r}, expected {FORMAT!r})"
        )
    version = _require(path, content, "version", int, "")
    if version != VERSION:
        raise _fail(path, f"has version {version}, and this tenantml reads version {VERSION}")
    checksum = _require(path, content, "checksum", str, "")
    expected = _checksum(content)
    if checksum != expected:
        raise _fail(
            path,
            f"does not match its checksum (recorded {checksum[:19]}..., content {expected[:19]}...): "
            "it was edited or truncated",
        )
    serial = _require(path, content, "serial", int, "")
    resources = _require(path, content, "resources", dict, "")
    outputs = _require(path, content, "outputs", dict, "")
    meta = content.get("meta", {})
    entries: dict[str, StateEntry] = {}
    for address, raw in resources.items():
        where = f"resource {address}: "
        if not isinstance(raw, dict):
            raise _fail(path, f"has {where}not an object")
        rtype = _require(path, raw, "type", str, where)
        if not address.startswith(f"{rtype}."):
            raise _fail(path, f"has {where}type {rtype!r} that does not match its address")
        entry_config = _require(path, raw, "config", dict, where)
        recorded_hash = _require(path, raw, "config_hash", str, where)
        if recorded_hash != config_hash(entry_config):
            raise _fail(path, f"has {where}a config that does not match its config_hash")
        entries[address] = StateEntry(
            address=address,
            type=rtype,
            config=entry_config,
            attributes=_require(path, raw, "attributes", dict, where),
            dependencies=tuple(_require(path, raw, "dependencies", list, where)),
            config_hash=recorded_hash,
            region=raw.get("region"),
        )
    intents: dict[str, Intent] = {}
    raw_intents = content.get("intents", {})
    if not isinstance(raw_intents, dict):
        raise _fail(path, "has 'intents' that is not an object")
    for address, raw in raw_intents.items():
        where = f"intent {address}: "
        if not isinstance(raw, dict):
            raise _fail(path, f"has {where}not an object")
        rtype = _require(path, raw, "type", str, where)
        action = _require(path, raw, "action", str, where)
        if action not in ("create", "update", "delete"):
            raise _fail(path, f"has {where}unknown action {action!r}")
        intents[address] = Intent(
            address=address,
            type=rtype,
            action=action,
            config=_require(path, raw, "config", dict, where),
            region=raw.get("region"),
            dependencies=tuple(_require(path, raw, "dependencies", list, where)),
            identity=raw.get("identity") or {},
        )
    return State(
        path=path,
        entries=entries,
        outputs=outputs,
        serial=serial,
        meta=meta if isinstance(meta, dict) else {},
        intents=intents,
    )


def state_path(state_dir: Path, tenant: str) -> Path:
    """``<state_dir>/<tenant>.json``."""
    return state_dir / f"{tenant}.json"


def lock_path(path: Path) -> Path:
    """The lock file of the state at ``path``: ``<state_dir>/<tenant>.lock``."""
    return path.with_suffix(".lock")


@contextmanager
def locked_state(
    path: Path, *, timeout: float = STATE_LOCK_TIMEOUT_S, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the state at ``path`` for one apply, plan or destroy; another one waits for it.

    Two applies of one tenant that interleave each act on what the other is half-way through
    (the second read the state while the first had written a few resources of 89). The second
    waits up to ``timeout`` seconds (``on_wait`` gets a line saying so, once) and raises
    :class:`~core.errors.EmulatorStateLockedError`, having changed nothing, if it is still held.
    """
    lock = FileLock(lock_path(path))

    def holder(pid: int | None) -> str:
        return f"process {pid}" if pid is not None else "another process"

    def waiting(pid: int | None) -> None:
        if on_wait is not None:
            on_wait(
                f"emulator state file {path} is in use by {holder(pid)} (another apply, plan or destroy "
                f"of this tenant); waiting up to {timeout:g} s for it to finish"
            )

    if not lock.acquire(timeout, waiting):
        raise EmulatorStateLockedError(
            f"emulator state file {path} is still in use by {holder(lock.holder())} after {timeout:g} s "
            "(another apply, plan or destroy of this tenant). Nothing was changed; let it finish, or stop "
            "it, and run again."
        )
    try:
        yield
    finally:
        lock.release()


__all__ = [
    "FORMAT",
    "IDENTITY_ARGUMENTS",
    "STATE_LOCK_TIMEOUT_S",
    "VERSION",
    "Intent",
    "State",
    "StateEntry",
    "canonical_json",
    "config_hash",
    "load_state",
    "lock_path",
    "locked_state",
    "state_path",
    "write_atomic",
]
