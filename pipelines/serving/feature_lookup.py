"""Features looked up at serving time, for a model trained on feature views.

A request to such a model may carry every feature (handled exactly as for any model), or the
views' entity keys plus any of the features: the ones it leaves out are read from the online store
(:class:`~pipelines.features.online.OnlineStore`), all rows and views of a request in one batched
read, through a per-process cache. Bodies:

- records (JSON objects, or CSV with a header): the entity keys and any features, by name;
- rows (JSON lists, or CSV without a header): as many values as a full row (every feature, in
  signature order), or the key layout: the entity keys (in the views' order), then the features
  no view provides, in signature order. When both layouts have the same length, a row is read
  as full features.

An entity with no live row gets the view's declared defaults; without a default for a feature the
request needs, the answer is 404 naming the entity and the view. The batch handed to the model
(and so to the inference log) holds the values the model saw, looked-up ones included.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import (
    FeatureDataError,
    FeatureNotFoundError,
    FeatureStoreError,
    InferenceInputError,
    ServingConfigError,
)
from core.feature_layout import online_pk
from core.feature_spec import FeatureType, FeatureViewSpec
from pipelines.features.online import OnlineStore, typed_entity
from pipelines.serving import codecs
from pipelines.serving.lookup_cache import ExpiringLru
from pipelines.serving.schema import (
    FeatureBatch,
    InputSchema,
    csv_batch,
    csv_body_rows,
    json_batch,
    json_body_items,
)

#: a looked-up row (``{feature: value, <timestamp column>: datetime}``) or None: no live row
Row = dict[str, Any] | None


@dataclass
class _Need:
    """One record's lookup in one view: the features it leaves out and the entity's item key."""

    record: int
    view: FeatureViewSpec
    missing: list[str]
    entity: dict[str, Any]
    pk: str


@dataclass
class PendingLookup:
    """A parsed request that needs features from the store; ``misses`` are what the cache lacks."""

    records: list[dict[str, Any]]
    needs: list[_Need]
    found: dict[str, Row] = field(default_factory=dict)
    misses: dict[str, tuple[FeatureViewSpec, dict[str, Any]]] = field(default_factory=dict)


class FeatureLookup:
    """Parses requests for a model with feature views and completes them from the online store."""

    def __init__(
        self,
        store: OnlineStore,
        views: Sequence[FeatureViewSpec],
        schema: InputSchema,
        *,
        cache_size: int = 10_000,
        cache_ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.schema = schema
        self.clock = clock
        self.cache_ttl_seconds = cache_ttl_seconds
        self.cache: ExpiringLru[str, Row] = ExpiringLru(cache_size if cache_ttl_seconds > 0 else 0)
        self.stats: Counter[str] = Counter()
        inputs = schema.name_set
        self.views = [v for v in views if any(f in inputs for f in v.feature_names)]
        if not self.views:
            raise ServingConfigError(
                f"none of the features of view(s) {', '.join(v.name for v in views)} is an input of the "
                "model: check model.feature_views against the features it was trained on"
            )
        #: per view, the model inputs it provides
        self.provided = {v.name: [f for f in v.feature_names if f in inputs] for v in self.views}
        self.defaults = {v.name: {f.name: f.default for f in v.features} for v in self.views}
        key_types: dict[str, FeatureType] = {}
        for view in self.views:
            for entity in view.entities:
                if key_types.setdefault(entity.name, entity.type) is not entity.type:
                    raise ServingConfigError(
                        f"entity {entity.name!r} is {key_types[entity.name].value} in one view and "
                        f"{entity.type.value} in view {view.name!r}: one request key cannot be both"
                    )
        self.key_names = list(key_types)
        looked_up = {name for names in self.provided.values() for name in names}
        #: the key layout of a row: entity keys, then what no view provides, in signature order
        self.request_only = [n for n in schema.names if n not in looked_up and n not in key_types]
        self.key_layout = self.key_names + self.request_only
        self.columns = frozenset(self.key_names) | schema.name_set

    # --- parsing -----------------------------------------------------------------------------

    def parse(self, body: bytes, in_format: str) -> FeatureBatch | PendingLookup:
        """A full batch (the request carries every feature), or a lookup to complete."""
        schema = self.schema
        if in_format == codecs.CSV:
            rows = csv_body_rows(body)
            header = [cell.strip() for cell in rows[0]]
            if any(cell in self.columns for cell in header):
                if set(header) == schema.name_set:
                    return csv_batch(rows, schema)
                return self._pending(self._header_records(header, rows[1:]))
            if len(rows[0]) != len(self.key_layout) or len(rows[0]) == schema.n_features:
                return csv_batch(rows, schema)
            return self._pending(self._layout_records(rows))
        items, where = json_body_items(body)
        first = items[0]
        if isinstance(first, list):
            if len(first) != len(self.key_layout) or len(first) == schema.n_features:
                return json_batch(items, where, schema)
            return self._pending(self._layout_records(items))
        if isinstance(first, dict) and all(
            isinstance(item, dict) and item.keys() == schema.name_set for item in items
        ):
            return json_batch(items, where, schema)
        if not all(isinstance(item, dict) for item in items):
            return json_batch(items, where, schema)  # today's error for mixed or odd items
        return self._pending([self._checked_record(i + 1, item) for i, item in enumerate(items)])

    def _header_records(self, header: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise InferenceInputError(f"CSV header: duplicated column(s) {', '.join(map(repr, duplicated))}")
        if not rows:
            raise InferenceInputError("the CSV body has a header but no rows", code="empty_body")
        records = []
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise InferenceInputError(
                    f"row {i + 1}: expected {len(header)} values (as in the header), got {len(row)}"
                )
            records.append(self._checked_record(i + 1, dict(zip(header, row, strict=True))))
        return records

    def _layout_records(self, rows: list[Any]) -> list[dict[str, Any]]:
        n = len(self.key_layout)
        records = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != n:
                raise InferenceInputError(
                    f"row {i + 1}: expected {n} values like row 1 (the key layout: "
                    f"{', '.join(self.key_layout)})"
                )
            records.append(dict(zip(self.key_layout, row, strict=True)))
        return records

    def _checked_record(self, number: int, record: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(k for k in record if k not in self.columns)
        if unknown:
            raise InferenceInputError(
                f"record {number}: unknown field(s) {', '.join(map(repr, unknown))}; a record holds the "
                f"entity keys ({', '.join(self.key_names)}) and any of the model's features"
            )
        # as for any model: a feature no view can provide must be there (null for a missing value),
        # so that a typo does not silently become a missing value
        absent = [name for name in self.request_only if name not in record]
        if absent:
            raise InferenceInputError(
                f"record {number}: missing field(s) {', '.join(map(repr, absent))}; no feature view "
                "provides them (use null for a missing value)"
            )
        return record

    # --- looking up --------------------------------------------------------------------------

    def _pending(self, records: list[dict[str, Any]]) -> PendingLookup:
        pending = PendingLookup(records=records, needs=[])
        now = self.clock()
        for number, record in enumerate(records, start=1):
            for view in self.views:
                missing = [f for f in self.provided[view.name] if f not in record]
                if not missing:
                    continue
                raw = {name: record.get(name) for name in view.entity_names}
                try:
                    entity = typed_entity(view, raw)
                except FeatureDataError as err:
                    problems = "; ".join(str(p) for p in err.problems)
                    raise InferenceInputError(
                        f"record {number}: {problems} (the request leaves out its feature(s) "
                        f"{', '.join(missing)})"
                    ) from None
                pk = online_pk(view.name, entity, view.entity_names)
                pending.needs.append(_Need(number, view, missing, entity, pk))
                if pk in pending.found or pk in pending.misses:
                    continue
                hit, row = self.cache.get(pk, now)
                if hit:
                    self.stats["cache_hits"] += 1
                    pending.found[pk] = row
                else:
                    self.stats["cache_misses"] += 1
                    pending.misses[pk] = (view, entity)
        return pending

    def fetch(self, pending: PendingLookup) -> None:
        """Read what the cache lacks, in one batched call (blocking: run it off the event loop)."""
        if not pending.misses:
            return
        by_view: dict[str, tuple[FeatureViewSpec, list[str], list[dict[str, Any]]]] = {}
        for pk, (view, entity) in pending.misses.items():
            group = by_view.setdefault(view.name, (view, [], []))
            group[1].append(pk)
            group[2].append(entity)
        lookups = [(view, entities) for view, _, entities in by_view.values()]
        self.stats["store_reads"] += 1
        try:
            results = self.store.get_many(lookups)
        except (FeatureStoreError, BotoCoreError, ClientError) as err:
            raise self._unavailable(err) from err
        now = self.clock()
        for (view, pks, _), rows in zip(by_view.values(), results, strict=True):
            for pk, row in zip(pks, rows, strict=True):
                pending.found[pk] = row
                expires = now + self.cache_ttl_seconds
                if row is not None:
                    # never serve a cached row past its own TTL
                    expires = min(expires, row[view.timestamp].timestamp() + view.ttl_hours * 3600)
                self.cache.put(pk, row, expires)

    def complete(self, pending: PendingLookup) -> FeatureBatch:
        """The batch the model sees: request values, then looked-up ones, then defaults."""
        records = pending.records
        filled: list[dict[str, Any]] = [dict(r) for r in records]
        for need in pending.needs:
            row = pending.found[need.pk]
            target = filled[need.record - 1]
            if row is not None:
                for name in need.missing:
                    target[name] = row[name]
                continue
            defaults = self.defaults[need.view.name]
            if any(defaults[name] is None for name in need.missing):
                err = FeatureNotFoundError(need.view.name, need.entity)
                raise InferenceInputError(
                    f"record {need.record}: {err}; the view declares no default for "
                    f"{', '.join(n for n in need.missing if defaults[n] is None)}",
                    status_code=404,
                    code="feature_not_found",
                )
            self.stats["defaults"] += 1
            for name in need.missing:
                target[name] = defaults[name]
        names = self.schema.names
        rows = [[record.get(name) for name in names] for record in filled]
        return self.schema.batch_from_rows(rows)

    @staticmethod
    def _unavailable(err: Exception) -> InferenceInputError:
        return InferenceInputError(
            f"the online feature store could not be read ({type(err).__name__}: {err}); retry the request",
            status_code=503,
            code="feature_store_unavailable",
        )

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats, "cached": len(self.cache)}


def dynamodb_client(
    region: str | None, endpoint_url: str | None, *, role_arn: str | None = None, session: Any = None
) -> Any:
    """A DynamoDB client for serving: short timeouts (a slow lookup should fail the request, not
    hold it), signing as ``session`` (botocore) or ``role_arn`` (assumed through STS) if given."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=32,
    )
    if session is None and role_arn:
        from pipelines.role_session import role_session

        session = role_session(
            role_arn, region=region, endpoint_url=endpoint_url, session_name="tenantml-serving-features"
        )
    boto_session = boto3.Session(botocore_session=session) if session is not None else boto3.Session()
    return boto_session.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)


__all__ = ["FeatureLookup", "PendingLookup", "dynamodb_client"]
