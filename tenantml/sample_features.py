"""Bundled feature data for demos: what ``tenantml up`` lands for a tenant whose model names feature views.

Generated from the tenant's own spec, so it fits any views a team declares: for each view, a
few hundred entities with a snapshot of every feature every 12 hours over the last ten days (the
newest an hour ago, so lookups find live rows), a share of them corrected later when the view has a
``created_timestamp``; and an entity table (every view's keys, an ``event_timestamp``, the model's
target) whose labels are drawn from the feature values *as of each row's event time*. A training
set that saw later values would learn a noisier relation, so the demo model's quality depends on
the point-in-time join being right.

Seeded: the values are the same on every run; only the timestamps follow the clock (validation
refuses rows from the future, and lookups rows older than the view's TTL).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.feature_layout import landing_prefix
from core.feature_spec import FeatureType, FeatureViewSpec

#: snapshots per entity, one every SNAPSHOT_HOURS, the newest NEWEST_AGE before now
SNAPSHOTS = 20
SNAPSHOT_HOURS = 12
NEWEST_AGE = timedelta(hours=1)
ENTITIES_PER_VIEW = 200
ENTITY_ROWS = 3000
#: the share of snapshots rewritten later (same event time, later created time, new values)
CORRECTED_SHARE = 0.03
EVENT_TIMESTAMP = "event_timestamp"
_CATEGORIES = 3


@dataclass(frozen=True)
class FeatureSample:
    """Each view's rows (as they land under ``features/<view>/``) and the entity table to join."""

    views: dict[str, pd.DataFrame]
    entities: pd.DataFrame
    target: str

    def entity_columns(self) -> list[str]:
        return [c for c in self.entities.columns if c not in (EVENT_TIMESTAMP, self.target)]


def _entity_values(view: FeatureViewSpec, count: int) -> dict[str, list[object]]:
    values: dict[str, list[object]] = {}
    for entity in view.entities:
        if entity.type == FeatureType.INT64:
            values[entity.name] = [i + 1 for i in range(count)]
        else:
            stem = entity.name.removesuffix("_id") or entity.name
            values[entity.name] = [f"{stem}-{i:03d}" for i in range(count)]
    return values


def _snapshots(view: FeatureViewSpec, rng: np.random.Generator, first: datetime) -> pd.DataFrame:
    """Every entity's snapshots: a per-entity level plus a random walk, so values move over time."""
    keys = _entity_values(view, ENTITIES_PER_VIEW)
    times = [first + timedelta(hours=SNAPSHOT_HOURS * s) for s in range(SNAPSHOTS)]
    frame = pd.DataFrame({name: np.repeat(np.array(v, dtype=object), SNAPSHOTS) for name, v in keys.items()})
    for entity in view.entities:
        if entity.type == FeatureType.INT64:
            frame[entity.name] = frame[entity.name].astype("int64")
    frame[view.timestamp] = pd.DatetimeIndex(times * ENTITIES_PER_VIEW, tz=UTC).as_unit("us")
    for feature in view.features:
        level = np.repeat(rng.normal(0.0, 1.0, ENTITIES_PER_VIEW), SNAPSHOTS)
        walk = rng.normal(0.0, 0.35, (ENTITIES_PER_VIEW, SNAPSHOTS)).cumsum(axis=1).ravel()
        signal = level + walk
        if feature.type == FeatureType.FLOAT64:
            frame[feature.name] = np.round(50.0 + 20.0 * signal, 2)
        elif feature.type == FeatureType.INT64:
            frame[feature.name] = np.maximum(0, np.round(5 + 3 * signal)).astype("int64")
        elif feature.type == FeatureType.BOOL:
            frame[feature.name] = signal > 0
        else:
            bins = np.digitize(signal, [-0.5, 0.5])
            frame[feature.name] = [f"{feature.name}-{b}" for b in bins]
    if view.created_timestamp:
        frame[view.created_timestamp] = frame[view.timestamp] + timedelta(minutes=5)
        corrected = frame.sample(frac=CORRECTED_SHARE, random_state=int(rng.integers(1 << 31))).copy()
        corrected[view.created_timestamp] = corrected[view.created_timestamp] + timedelta(minutes=30)
        for feature in view.features:
            corrected[feature.name] = (
                frame[feature.name]
                .sample(n=len(corrected), random_state=int(rng.integers(1 << 31)))
                .to_numpy()
            )
        frame = pd.concat([frame, corrected], ignore_index=True)
    return frame


def _score_terms(view: FeatureViewSpec, frame: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Each row's contribution to the label: standardized numbers, booleans and categories, weighted."""
    score = pd.Series(0.0, index=frame.index)
    for feature in view.features:
        column = frame[feature.name]
        weight = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0))
        if feature.type in (FeatureType.FLOAT64, FeatureType.INT64):
            numbers = column.astype("float64")
            spread = float(numbers.std()) or 1.0
            term = (numbers - float(numbers.mean())) / spread
        elif feature.type == FeatureType.BOOL:
            term = column.astype("float64").where(column.notna()) * 2 - 1
        else:
            term = column.map(
                lambda v: (int(str(v).rsplit("-", 1)[-1]) - 1) if isinstance(v, str) else np.nan
            )
        score = score + weight * term.astype("float64").fillna(0.0)
    return score


def as_of_values(view: FeatureViewSpec, rows: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Each entity row with the view's values as of its event time (the latest at or before it,
    within the TTL; of two rows for one time, the later created), computed independently of the
    store's own join."""
    order = [view.timestamp, *([view.created_timestamp] if view.created_timestamp else [])]
    latest = (
        snapshots.sort_values(order)
        .drop_duplicates([*view.entity_names, view.timestamp], keep="last")
        .sort_values(view.timestamp)
    )
    left = rows.reset_index().sort_values(EVENT_TIMESTAMP)
    joined = pd.merge_asof(
        left,
        latest[[*view.entity_names, view.timestamp, *view.feature_names]],
        left_on=EVENT_TIMESTAMP,
        right_on=view.timestamp,
        by=view.entity_names,
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(hours=view.ttl_hours),
    )
    return joined.set_index("index").sort_index()


def feature_sample(
    views: list[FeatureViewSpec], *, target: str, problem: str, now: datetime | None = None, seed: int = 0
) -> FeatureSample:
    """The sample rows of ``views`` and an entity table labelled from their as-of values."""
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    first = now - NEWEST_AGE - timedelta(hours=SNAPSHOT_HOURS * (SNAPSHOTS - 1))
    rng = np.random.default_rng(seed)
    frames = {view.name: _snapshots(view, rng, first) for view in views}
    # events fall after each entity's first snapshot and before the newest, in whole seconds
    span = int((now - NEWEST_AGE - first).total_seconds())
    offsets = np.sort(rng.integers(SNAPSHOT_HOURS * 3600, span, ENTITY_ROWS))
    entities = pd.DataFrame(
        {EVENT_TIMESTAMP: pd.DatetimeIndex([first + timedelta(seconds=int(s)) for s in offsets])}
    )
    for view in views:
        pick = rng.integers(0, ENTITIES_PER_VIEW, ENTITY_ROWS)
        for name, values in _entity_values(view, ENTITIES_PER_VIEW).items():
            column = np.array(values, dtype=object)[pick]
            entities[name] = column.astype("int64") if isinstance(values[0], int) else column
    score = pd.Series(0.0, index=entities.index)
    for view in views:
        score = score + _score_terms(view, as_of_values(view, entities, frames[view.name]), rng)
    score = score / max(1.0, float(score.std()))
    if problem == "regression":
        entities[target] = np.round(score * 10 + rng.normal(0.0, 1.0, len(score)), 3)
    else:
        chance = 1 / (1 + np.exp(-3.0 * score))
        entities[target] = (rng.uniform(size=len(score)) < chance).astype("int64")
    keys = [c for c in entities.columns if c not in (EVENT_TIMESTAMP, target)]
    return FeatureSample(views=frames, entities=entities[[*keys, EVENT_TIMESTAMP, target]], target=target)


def sample_feature_key(view: str) -> str:
    """Where ``up`` lands a view's sample rows: under the view's landing prefix, as a team would."""
    return f"{landing_prefix(view)}sample/{view}.parquet"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def probe_requests(sample: FeatureSample, limit: int = 50) -> list[str]:
    """One-row CSV requests (a header and one row) that carry only entity keys, for the endpoint's bake."""
    columns = sample.entity_columns()
    frame = sample.entities[columns].drop_duplicates().head(limit)
    header = ",".join(columns)
    return [f"{header}\n{','.join(str(v) for v in row)}" for row in frame.itertuples(index=False)]


__all__ = [
    "EVENT_TIMESTAMP",
    "FeatureSample",
    "as_of_values",
    "feature_sample",
    "parquet_bytes",
    "probe_requests",
    "sample_feature_key",
]
