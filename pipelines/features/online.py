"""The online store: the latest row per entity of each view, in the tenant's DynamoDB table.

Items follow :mod:`core.feature_layout`: the key, the event time, the TTL and one ``values``
attribute holding the features as a JSON object, typed back by the view's declared types. One
attribute instead of one per feature: an item's cost to store, read and (in the emulator) process
grows with its attribute count, and a lookup always wants all of a view's features at once.

Older never wins: a write reads the event time of the items it could replace (``BatchGetItem``
of the keys, projecting only the key and ``event_timestamp_us``) and drops rows older than what is
stored. Only rows that can be older are read for: the view's watermark item keeps the newest event
time any write has put online (``written_max_us``, raised *before* the items are written), and a
row at or after it cannot be older than a stored item, so the forward path of materialization
(each window after the last) writes without reading; late data and re-runs of old windows read.
BatchWriteItem has no conditions; the read-then-write leaves a race with a concurrent writer of
the same view, which materialization does not have (one run per view at a time: the schedule and
the arrival trigger run the same state machine, serialized).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import FeatureDataError, FeatureStoreConfigError, FeatureStoreError, Problem
from core.feature_layout import (
    ONLINE_EVENT_TIME,
    ONLINE_KEY,
    ONLINE_TTL_ATTRIBUTE,
    ONLINE_VALUES,
    WATERMARK_ATTRIBUTE,
    online_pk,
    watermark_pk,
)
from core.feature_spec import FeatureType, FeatureViewSpec

#: BatchWriteItem's and BatchGetItem's request limits (AWS refuses more)
WRITE_CHUNK = 25
READ_CHUNK = 100
#: the watermark item also keeps the newest event time materialized, for the freshness metric
NEWEST_ATTRIBUTE = "newest_us"
#: ... and the newest event time any write has started to put online: no item of the view is newer
WRITTEN_MAX_ATTRIBUTE = "written_max_us"
#: DynamoDB's number range: magnitudes from 1e-130 to just under 1e126, 38 significant digits
_INT64 = (-(2**63), 2**63 - 1)

Progress = Callable[[int, int], None]
EntityValue = int | str


class OnlineStore:
    """Reads and writes one tenant's online table; ``dynamodb`` is a boto3 DynamoDB client."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        *,
        max_attempts: int = 8,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = dynamodb
        self.table_name = table_name
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.clock = clock

    # --- writes ----------------------------------------------------------------------------------

    def write(
        self,
        view: FeatureViewSpec,
        rows: pa.Table,
        *,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write the latest row per entity; returns how many items were written.

        Rows older than the stored item of their entity, and rows already past the view's TTL at
        ``now``, are skipped. Every row is checked before anything is written: a bad value raises
        :class:`FeatureDataError` naming the entity and the feature, and the table is untouched.
        ``progress(done, total)`` is called after each chunk."""
        now_s = self._now_seconds(now)
        items = _items(view, rows)
        total = rows.num_rows
        live = [item for item in items if int(item[ONLINE_TTL_ATTRIBUTE]["N"]) > now_s]
        unchecked, checked = self._split_by_written_max(view, live)
        written = 0
        done = total - len(live)
        reported = -1
        # (items, whether to read the stored event times first): reads go by BatchGetItem's limit
        groups = [(unchecked, False)] if unchecked else []
        groups += [(checked[i : i + READ_CHUNK], True) for i in range(0, len(checked), READ_CHUNK)]
        for group, check in groups:
            if check:
                stored = self._stored_event_times([item[ONLINE_KEY]["S"] for item in group])
                newer = [
                    item
                    for item in group
                    if stored.get(item[ONLINE_KEY]["S"], -1) <= int(item[ONLINE_EVENT_TIME]["N"])
                ]
                done += len(group) - len(newer)
                group = newer
            for chunk_start in range(0, len(group), WRITE_CHUNK):
                chunk = group[chunk_start : chunk_start + WRITE_CHUNK]
                self._batch_write(chunk)
                written += len(chunk)
                done += len(chunk)
                reported = self._report(progress, done, total, reported)
        self._report(progress, total, total, reported)
        return written

    def _split_by_written_max(
        self, view: FeatureViewSpec, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(items that cannot be older than their stored item, items that must be checked), after
        raising the view's ``written_max_us`` to cover ``items``.

        Every item of the view has an event time <= ``written_max_us``: writes raise it before
        they write, so a write that dies midway is covered too. An item at or after it is newer
        than (or as new as, which rewrites) whatever is stored for its key, and needs no read. No
        watermark item: nothing was ever written for the view. A watermark item without the
        attribute was left by a version before it existed: nothing is known, every item is read
        for, and the attribute stays absent (the newest of these items would not bound the items
        stored before). Items written by hand (not through :meth:`write`) are outside this bound."""
        if not items:
            return [], []
        state = self._watermark_item(view)
        if state is None:
            ceiling: int | None = -1
        elif WRITTEN_MAX_ATTRIBUTE in state:
            ceiling = int(state[WRITTEN_MAX_ATTRIBUTE]["N"])
        else:
            ceiling = None
        if ceiling is None:
            return [], items
        newest = max(int(item[ONLINE_EVENT_TIME]["N"]) for item in items)
        if newest > ceiling:
            self._raise_written_max(view, newest)
        unchecked: list[dict[str, Any]] = []
        checked: list[dict[str, Any]] = []
        for item in items:
            (unchecked if int(item[ONLINE_EVENT_TIME]["N"]) >= ceiling else checked).append(item)
        return unchecked, checked

    def _raise_written_max(self, view: FeatureViewSpec, event_us: int) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key={ONLINE_KEY: {"S": watermark_pk(view.name)}},
                UpdateExpression="SET #m = :m",
                ConditionExpression="attribute_not_exists(#m) OR #m < :m",
                ExpressionAttributeNames={"#m": WRITTEN_MAX_ATTRIBUTE},
                ExpressionAttributeValues={":m": {"N": str(event_us)}},
            )
        except ClientError as err:
            # another writer raised it further: the bound holds all the same
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    @staticmethod
    def _report(progress: Progress | None, done: int, total: int, reported: int) -> int:
        """Call ``progress`` once per new count (skipped rows advance it without a write)."""
        if progress is not None and done != reported:
            progress(done, total)
        return done

    def _stored_event_times(self, pks: list[str]) -> dict[str, int]:
        request = {
            self.table_name: {
                "Keys": [{ONLINE_KEY: {"S": pk}} for pk in pks],
                "ProjectionExpression": "#k, #t",
                "ExpressionAttributeNames": {"#k": ONLINE_KEY, "#t": ONLINE_EVENT_TIME},
            }
        }
        return {
            item[ONLINE_KEY]["S"]: int(item[ONLINE_EVENT_TIME]["N"])
            for item in self._batch_get(request)
            if ONLINE_EVENT_TIME in item
        }

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table_name: [{"PutRequest": {"Item": item}} for item in items]}
        for attempt in range(self.max_attempts):
            response = self._call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            self._backoff(attempt)
        left = sum(len(requests) for requests in pending.values())
        raise FeatureStoreError(
            f"DynamoDB table {self.table_name!r} left {left} item(s) unprocessed after "
            f"{self.max_attempts} attempts (throttled: raise the table's capacity or write fewer rows "
            "at once); the rows before them were written, run the materialization again"
        )

    # --- reads -----------------------------------------------------------------------------------

    def get(
        self, view: FeatureViewSpec, entities: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any] | None]:
        """The live row of each entity, or None: ``{feature: value, <view.timestamp>: datetime}``.

        Values come back as the view declares them (int, float, str, bool; None when null). Entity
        values are typed per the view (``"42"`` and ``42`` are one int64 entity); a value that does
        not fit raises :class:`FeatureDataError` naming the entity before anything is read."""
        return self.get_many([(view, entities)])[0]

    def get_many(
        self, lookups: Sequence[tuple[FeatureViewSpec, Sequence[Mapping[str, Any]]]]
    ) -> list[list[dict[str, Any] | None]]:
        """:meth:`get` for several views at once, sharing BatchGetItem calls (one per 100 keys); a
        single key is one GetItem."""
        typed = _typed_lookups(lookups)
        pks = [
            [online_pk(view.name, e, view.entity_names) for e in ents]
            for (view, _), ents in zip(lookups, typed, strict=True)
        ]
        unique = list(dict.fromkeys(pk for group in pks for pk in group))
        found: dict[str, dict[str, Any]] = {}
        if len(unique) == 1:
            # a serving request's usual lookup: GetItem's request and answer are smaller than
            # BatchGetItem's, and it has no unprocessed keys to loop on (a throttled GetItem is
            # an error that botocore's retries handle)
            response = self._call("get_item", TableName=self.table_name, Key={ONLINE_KEY: {"S": unique[0]}})
            if "Item" in response:
                found[unique[0]] = response["Item"]
            unique = []
        for start in range(0, len(unique), READ_CHUNK):
            keys = [{ONLINE_KEY: {"S": pk}} for pk in unique[start : start + READ_CHUNK]]
            for item in self._batch_get({self.table_name: {"Keys": keys}}):
                found[item[ONLINE_KEY]["S"]] = item
        now_s = self.clock()
        return [
            [_decode(view, found.get(pk), now_s) for pk in group]
            for (view, _), group in zip(lookups, pks, strict=True)
        ]

    def _batch_get(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        pending = request
        for attempt in range(self.max_attempts):
            response = self._call("batch_get_item", RequestItems=pending)
            items += response.get("Responses", {}).get(self.table_name, [])
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return items
            self._backoff(attempt)
        left = sum(len(part["Keys"]) for part in pending.values())
        raise FeatureStoreError(
            f"DynamoDB table {self.table_name!r} left {left} key(s) unprocessed after "
            f"{self.max_attempts} attempts (throttled, or items too big for one response); retry later"
        )

    # --- the watermark ---------------------------------------------------------------------------

    def watermark(self, view: FeatureViewSpec | str) -> datetime | None:
        """Until when ``view`` has been materialized (exclusive), or None before its first run."""
        item = self._watermark_item(view)
        if item is None or WATERMARK_ATTRIBUTE not in item:
            return None
        return _from_us(int(item[WATERMARK_ATTRIBUTE]["N"]))

    def newest(self, view: FeatureViewSpec | str) -> datetime | None:
        """The newest event time materialized into the view (the freshness metric's reference)."""
        item = self._watermark_item(view)
        if item is None or NEWEST_ATTRIBUTE not in item:
            return None
        return _from_us(int(item[NEWEST_ATTRIBUTE]["N"]))

    def set_watermark(
        self, view: FeatureViewSpec | str, until: datetime, *, newest: datetime | None = None
    ) -> None:
        # an update, not a put: the item also holds written_max_us, which must survive
        names = {"#w": WATERMARK_ATTRIBUTE}
        values = {":w": {"N": str(_to_us(until, "until"))}}
        expression = "SET #w = :w"
        if newest is not None:
            names["#n"] = NEWEST_ATTRIBUTE
            values[":n"] = {"N": str(_to_us(newest, "newest"))}
            expression += ", #n = :n"
        self._call(
            "update_item",
            TableName=self.table_name,
            Key={ONLINE_KEY: {"S": watermark_pk(_name(view))}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _watermark_item(self, view: FeatureViewSpec | str) -> dict[str, Any] | None:
        response = self._call(
            "get_item",
            TableName=self.table_name,
            Key={ONLINE_KEY: {"S": watermark_pk(_name(view))}},
            ConsistentRead=True,
        )
        return response.get("Item")

    # --- plumbing --------------------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise FeatureStoreConfigError(
                    f"the online feature table {self.table_name!r} does not exist: deploy the tenant "
                    "stack (or run `tenantml up`) with the feature views in its spec"
                ) from err
            raise

    def _backoff(self, attempt: int) -> None:
        # full jitter (AWS's advice for batch retries): spreads retries of concurrent writers
        time.sleep(random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt)))

    def _now_seconds(self, now: datetime | None) -> float:
        return self.clock() if now is None else _to_us(now, "now") / 1_000_000


# --- entities ----------------------------------------------------------------------------------


def typed_entity(view: FeatureViewSpec, entity: Mapping[str, Any]) -> dict[str, EntityValue]:
    """``entity``'s key values typed per the view's entities, or :class:`FeatureDataError` naming each
    missing, unknown or ill-typed key."""
    problems = []
    out: dict[str, EntityValue] = {}
    for spec in view.entities:
        where = f"view {view.name!r}, entity {spec.name!r}"
        if spec.name not in entity or entity[spec.name] is None or entity[spec.name] == "":
            problems.append(Problem(where, "is missing: give every entity key of the view"))
            continue
        value = entity[spec.name]
        typed = _entity_value(spec.type, value)
        if typed is None:
            expected = "an integer" if spec.type is FeatureType.INT64 else "a string or an integer"
            problems.append(Problem(where, f"must be {expected}", value))
        elif isinstance(typed, str) and len(view.entities) > 1 and "|" in typed:
            problems.append(Problem(where, "must not contain '|' (it separates the keys of the item)", value))
        else:
            out[spec.name] = typed
    unknown = sorted(set(entity) - set(view.entity_names))
    for name in unknown:
        problems.append(
            Problem(
                f"view {view.name!r}, entity {name!r}",
                f"is not a key of the view (keys: {', '.join(view.entity_names)})",
            )
        )
    if problems:
        raise FeatureDataError(problems, headline="invalid entity key")
    return out


def _typed_lookups(
    lookups: Sequence[tuple[FeatureViewSpec, Sequence[Mapping[str, Any]]]],
) -> list[list[dict[str, EntityValue]]]:
    """Every lookup's entity typed, or one error listing every bad one (numbered from 1)."""
    problems: list[Problem] = []
    typed: list[list[dict[str, EntityValue]]] = []
    number = 0
    for view, entities in lookups:
        group = []
        for entity in entities:
            number += 1
            try:
                group.append(typed_entity(view, entity))
            except FeatureDataError as err:
                problems += [
                    Problem(f"lookup {number}: {p.location}", p.message, p.value) for p in err.problems
                ]
        typed.append(group)
    if problems:
        raise FeatureDataError(problems, headline="invalid entity key")
    return typed


def _entity_value(kind: FeatureType, value: Any) -> EntityValue | None:
    if isinstance(value, bool):
        return None
    if kind is FeatureType.INT64:
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        else:
            return None
        return number if _INT64[0] <= number <= _INT64[1] else None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


# --- rows to items and back ---------------------------------------------------------------------


def _items(view: FeatureViewSpec, rows: pa.Table) -> list[dict[str, Any]]:
    """One item per entity (the newest row of each; the later row on a tie), checking every row."""
    problems: list[Problem] = []
    columns = set(rows.column_names)
    needed = [*view.entity_names, *view.feature_names, view.timestamp]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise FeatureDataError(
            [Problem(f"view {view.name!r}", f"rows lack column(s) {', '.join(missing)}", rows.column_names)],
            headline="invalid feature rows",
        )
    event_us = _event_times(view, rows[view.timestamp], problems)
    entity_columns = [rows[name].to_pylist() for name in view.entity_names]
    pks: list[str | None] = []
    for i in range(rows.num_rows):
        raw = {name: column[i] for name, column in zip(view.entity_names, entity_columns, strict=True)}
        try:
            pks.append(online_pk(view.name, typed_entity(view, raw), view.entity_names))
        except FeatureDataError as err:
            problems += [Problem(f"row {i + 1}: {p.location}", p.message, p.value) for p in err.problems]
            pks.append(None)
    labels = [pk.partition("#")[2] if pk else f"row {i + 1}" for i, pk in enumerate(pks)]
    attributes = [
        (
            feature.name,
            _attribute_values(view, feature.name, feature.type, rows[feature.name], labels, problems),
        )
        for feature in view.features
    ]
    if problems:
        raise FeatureDataError(problems, headline=f"invalid feature rows for view {view.name!r}")
    ttl_s = view.ttl_hours * 3600
    newest: dict[str, int] = {}
    for i, pk in enumerate(pks):
        assert pk is not None
        if pk not in newest or event_us[i] >= event_us[newest[pk]]:
            newest[pk] = i
    names = [name for name, _ in attributes]
    # one tuple per row, transposed in C; a row becomes its dict in C too unless nulls must go
    by_row = list(zip(*(column for _, column in attributes), strict=True)) if names else []
    has_nulls = any(rows[name].null_count for name in names)
    items = []
    for pk, i in newest.items():
        row = by_row[i] if names else ()
        if has_nulls:
            values = {name: v for name, v in zip(names, row, strict=True) if v is not None}
        else:
            values = dict(zip(names, row, strict=True))
        items.append(
            {
                ONLINE_KEY: {"S": pk},
                ONLINE_EVENT_TIME: {"N": str(event_us[i])},
                ONLINE_TTL_ATTRIBUTE: {"N": str(event_us[i] // 1_000_000 + ttl_s)},
                ONLINE_VALUES: {"S": orjson.dumps(values).decode()},
            }
        )
    return items


def _event_times(view: FeatureViewSpec, column: pa.ChunkedArray, problems: list[Problem]) -> list[int]:
    where = f"view {view.name!r}, column {view.timestamp!r}"
    if not pa.types.is_timestamp(column.type) or column.type.tz is None:
        raise FeatureDataError(
            [Problem(where, "must be a time-zone-aware timestamp column", str(column.type))],
            headline="invalid feature rows",
        )
    if column.null_count:
        problems.append(Problem(where, f"{column.null_count} row(s) have no event time"))
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
    return [0 if v is None else v for v in micros]


def _attribute_values(
    view: FeatureViewSpec,
    name: str,
    kind: FeatureType,
    column: pa.ChunkedArray,
    labels: list[str],
    problems: list[Problem],
) -> list[Any]:
    where = f"view {view.name!r}, feature {name!r}"
    arrow_type = column.type
    fits = {
        FeatureType.INT64: pa.types.is_integer(arrow_type),
        FeatureType.FLOAT64: pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type),
        FeatureType.STRING: pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type),
        FeatureType.BOOL: pa.types.is_boolean(arrow_type),
    }[kind]
    if not (fits or pa.types.is_null(arrow_type)):
        problems.append(Problem(where, f"declared {kind.value}, the rows hold {arrow_type}"))
        return [None] * len(column)
    if kind is not FeatureType.FLOAT64:
        return column.to_pylist()
    floats = pc.cast(column, pa.float64())
    # the check in Arrow, row by row only for the bad ones (is_finite is null for a null)
    bad = pc.indices_nonzero(pc.fill_null(pc.invert(pc.is_finite(floats)), False)).to_pylist()
    values = floats.to_pylist()
    for i in bad:
        problems.append(
            Problem(
                f"entity {labels[i]}, {where}",
                "NaN and infinite values are not stored (leave it null)",
                values[i],
            )
        )
    return values


def _decode(view: FeatureViewSpec, item: dict[str, Any] | None, now_s: float) -> dict[str, Any] | None:
    if item is None or ONLINE_EVENT_TIME not in item:
        return None
    expires = item.get(ONLINE_TTL_ATTRIBUTE)
    # DynamoDB deletes expired items lazily (up to days later): an expired item is a missing one
    if expires is not None and int(expires["N"]) <= now_s:
        return None
    stored = orjson.loads(item[ONLINE_VALUES]["S"]) if ONLINE_VALUES in item else {}
    row: dict[str, Any] = {}
    for feature in view.features:
        value = stored.get(feature.name)
        # orjson hands back what was written (float for a float feature...): convert only the rest
        if value is not None and type(value) is not _PYTHON_TYPES[feature.type]:
            value = _typed(feature.type, value)
        row[feature.name] = value
    row[view.timestamp] = _from_us(int(item[ONLINE_EVENT_TIME]["N"]))
    return row


_PYTHON_TYPES = {
    FeatureType.INT64: int,
    FeatureType.FLOAT64: float,
    FeatureType.BOOL: bool,
    FeatureType.STRING: str,
}


def _typed(kind: FeatureType, value: Any) -> Any:
    """A JSON value as the feature's type (JSON writes a whole float as 1.0, but be lenient)."""
    if kind is FeatureType.INT64:
        return int(value)
    if kind is FeatureType.FLOAT64:
        return float(value)
    if kind is FeatureType.BOOL:
        return bool(value)
    return str(value)


def _name(view: FeatureViewSpec | str) -> str:
    return view if isinstance(view, str) else view.name


def _to_us(moment: datetime, field: str) -> int:
    if moment.tzinfo is None:
        raise FeatureDataError(
            [Problem(field, "must be time-zone aware (e.g. 2026-01-01T00:00:00+00:00)", moment.isoformat())],
            headline="invalid time",
        )
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)


__all__ = [
    "NEWEST_ATTRIBUTE",
    "READ_CHUNK",
    "WRITE_CHUNK",
    "WRITTEN_MAX_ATTRIBUTE",
    "OnlineStore",
    "typed_entity",
]
