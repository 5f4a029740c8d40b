"""Make a state match what exists: resolve the intents a crashed apply left, and refresh.

An apply records an intent before each call that changes the emulator and replaces it with
the result after (:meth:`~tenantml.emulator.state.State.begin`). A process killed between the
two leaves an intent without a result; :func:`resolve_intents` settles each one against what
exists, through the handler's ``read``:

- ``create``: what the intent's configuration names exists -> adopted into the state with the
  attributes read back (no second copy, no name conflict); nothing exists -> the intent is
  dropped and the apply creates it. A type without a reader is cleaned up instead: what the
  intent names is deleted (a no-op when the call never reached the emulator), then created.
- ``update``: the resource is read again; the state keeps the old configuration, so the plan
  repeats the update (updates set absolute values, so running one twice is harmless).
- ``delete``: gone -> forgotten; still there -> the apply deletes it again.

:func:`refresh` reads every resource the state lists (in parallel; the types with a batch
reader in one call per type, the others one or two cheap calls each): one deleted behind the
engine's back leaves the state, so the plan shows it as a create; an argument changed behind its back takes its observed value, so the plan shows an
update back to the configuration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import EmulatorApplyError, EmulatorStateError
from tenantml.emulator.resources import Handler, HandlerContext
from tenantml.emulator.resources.base import Observed
from tenantml.emulator.resources.reads import claimed
from tenantml.emulator.state import State, StateEntry

#: (address, region) -> the handler context to read or delete that resource with
ContextFor = Callable[[str, "str | None"], HandlerContext]
#: parallel reads: the emulator answers each in a few milliseconds; more threads only queue
REFRESH_WORKERS = 8


@dataclass(frozen=True)
class Drift:
    """What a refresh found different from the state."""

    #: addresses in the state whose resource no longer exists
    gone: tuple[str, ...] = ()
    #: address -> the arguments whose observed value differs from the state
    changed: Mapping[str, tuple[str, ...]] | None = None

    def notes(self) -> tuple[str, ...]:
        notes = [f"{a} was deleted outside tenantml; it will be created again" for a in self.gone]
        for address, keys in sorted((self.changed or {}).items()):
            notes.append(f"{address} was changed outside tenantml ({', '.join(keys)}); it will be updated")
        return tuple(notes)


def _read(handler: Handler, ctx: HandlerContext, config: Mapping, attributes: Mapping) -> Observed | None:
    assert handler.read is not None
    try:
        return handler.read(ctx, config, dict(attributes))
    except (ClientError, BotoCoreError, KeyError, TypeError, ValueError) as err:
        raise EmulatorApplyError(
            f"cannot read the {handler.type} the state lists ({type(err).__name__}: {err})"
        ) from err


def _read_batch(handler: Handler, ctx: HandlerContext, entries: list[StateEntry]) -> list[Observed | None]:
    assert handler.read_batch is not None
    try:
        return handler.read_batch(ctx, [(e.config, dict(e.attributes)) for e in entries])
    except (ClientError, BotoCoreError, KeyError, TypeError, ValueError) as err:
        raise EmulatorApplyError(
            f"cannot read the {len(entries)} {handler.type} resources the state lists "
            f"({type(err).__name__}: {err})"
        ) from err


def resolve_intents(
    state: State, handlers: Mapping[str, Handler], context_for: ContextFor, *, persist: bool = True
) -> tuple[str, ...]:
    """Settle every intent a crashed apply left; returns a note per intent. Writes the state once."""
    if not state.intents:
        return ()
    unknown = sorted({i.type for i in state.intents.values() if i.type not in handlers})
    if unknown:
        raise EmulatorStateError(
            f"emulator state file {state.path} has unfinished changes of types this tenantml cannot "
            f"read or delete: {unknown}"
        )
    notes: list[str] = []
    for address, intent in sorted(state.intents.items()):
        handler = handlers[intent.type]
        ctx = context_for(address, intent.region)
        entry = state.entries.get(address)
        if intent.action == "create":
            if handler.read is not None:
                taken = frozenset(str(e.attributes.get("id")) for e in state if e.type == intent.type)
                # the tags the create set, default tags included, whichever context reads it
                tags = intent.identity.get("tags_all")
                located = {**intent.config, "tags": tags} if isinstance(tags, dict) else intent.config
                with claimed(taken):
                    found = _read(handler, ctx, located, {})
                if found is not None:
                    state.entries[address] = StateEntry(
                        address,
                        intent.type,
                        dict(intent.config),
                        dict(found.attributes),
                        intent.dependencies,
                        region=intent.region,
                    )
                    notes.append(f"{address}: adopted the {intent.type} an interrupted apply created")
                else:
                    notes.append(f"{address}: an interrupted apply had not created it yet")
            else:
                # cannot be read: delete whatever the intent names (nothing, if the call never
                # reached the emulator), so the apply creates exactly one
                if persist:
                    with contextlib.suppress(ClientError, BotoCoreError, KeyError, TypeError, ValueError):
                        handler.delete(ctx, intent.config, dict(intent.identity))
                notes.append(f"{address}: cleaned up what an interrupted apply may have created")
        elif entry is not None and handler.read is not None:
            found = _read(handler, ctx, entry.config, entry.attributes)
            if found is None:
                del state.entries[address]
                notes.append(f"{address}: an interrupted apply had deleted it")
            elif intent.action == "update":
                state.entries[address] = StateEntry(
                    address,
                    entry.type,
                    entry.config,
                    {**entry.attributes, **found.attributes},
                    entry.dependencies,
                    region=entry.region,
                )
                notes.append(f"{address}: an interrupted update will be applied again")
        del state.intents[address]
    if persist:
        state.save()
    return tuple(notes)


def refresh(
    state: State, handlers: Mapping[str, Handler], context_for: ContextFor, *, persist: bool = True
) -> Drift:
    """Read every resource the state lists and bring the state in line with what exists."""
    readable = [e for e in state if e.type in handlers and handlers[e.type].read is not None]
    # contexts are made here, not in the threads: their cache is not shared-safe
    contexts = {e.address: context_for(e.address, e.region) for e in readable}
    # one task per resource, or per (type, context) where one call answers for a whole type
    tasks: dict[tuple[str, int] | str, list[StateEntry]] = {}
    for entry in readable:
        batch = handlers[entry.type].read_batch is not None
        key = (entry.type, id(contexts[entry.address])) if batch else entry.address
        tasks.setdefault(key, []).append(entry)

    def read(entries: list[StateEntry]) -> list[Observed | None]:
        handler, ctx = handlers[entries[0].type], contexts[entries[0].address]
        if handler.read_batch is None or len(entries) == 1:
            return [_read(handler, ctx, e.config, e.attributes) for e in entries]
        return _read_batch(handler, ctx, entries)

    # the batches first: each is one longer call, and one started last would be the plan's tail
    groups = sorted(tasks.values(), key=len, reverse=True)
    if len(groups) > 1:
        with ThreadPoolExecutor(max_workers=REFRESH_WORKERS, thread_name_prefix="refresh") as pool:
            answers = list(pool.map(read, groups))
    else:
        answers = [read(g) for g in groups]
    found = {
        e.address: o
        for group, observed in zip(groups, answers, strict=True)
        for e, o in zip(group, observed, strict=True)
    }
    gone: list[str] = []
    changed: dict[str, tuple[str, ...]] = {}
    for entry in readable:
        observed = found[entry.address]
        if observed is None:
            gone.append(entry.address)
            del state.entries[entry.address]
            continue
        differs = {k: v for k, v in observed.config.items() if entry.config.get(k) != v}
        if differs:
            changed[entry.address] = tuple(sorted(differs))
            state.entries[entry.address] = StateEntry(
                entry.address,
                entry.type,
                {**entry.config, **differs},
                entry.attributes,
                entry.dependencies,
                region=entry.region,
            )
    if persist and (gone or changed):
        state.save()
    return Drift(tuple(sorted(gone)), changed)


__all__ = ["REFRESH_WORKERS", "Drift", "refresh", "resolve_intents"]
