"""Materialization: the latest offline rows of a view into the online store, then its watermark.

The caller reads the window's latest row per entity from the offline store
(``OfflineStore.latest_rows(view, since=, until=)``) and hands it to :func:`write_latest`. Running
one window twice writes the same items (an equal event time rewrites the same values), so a run
that died between the write and the watermark is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.contract import metrics_namespace
from core.errors import FeatureDataError, Problem
from core.feature_layout import FRESHNESS_METRIC
from core.feature_spec import FeatureViewSpec
from pipelines.features.online import OnlineStore, Progress


@dataclass(frozen=True)
class Window:
    """Event times ``since`` (inclusive) to ``until`` (exclusive) to materialize."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    #: rows handed in (the latest per entity within the window)
    rows: int
    written: int
    #: rows not written: older than the entity's online row, or already past the view's TTL
    skipped: int
    #: the view's watermark after the run (never moved backwards)
    watermark: datetime
    #: the newest event time online for the view (what the freshness metric measures), None if none
    newest: datetime | None


def window(
    online: OnlineStore,
    view: FeatureViewSpec,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
) -> Window:
    """The incremental window: from ``since`` (default: the view's watermark) to ``until``
    (default: ``now``), never starting before ``now`` minus the view's TTL (older rows would be
    expired online anyway). ``until`` after ``now`` is refused: a watermark in the future would
    skip rows that land later with earlier event times."""
    _aware(now, "now")
    until = now if until is None else _aware(until, "until")
    problems = []
    if until > now:
        problems.append(Problem("until", f"is after now ({now.isoformat()})", until.isoformat()))
    start = online.watermark(view) if since is None else _aware(since, "since")
    oldest_live = now - timedelta(hours=view.ttl_hours)
    start = oldest_live if start is None else max(start, oldest_live)
    if start > until:
        problems.append(Problem("since", f"is after until ({until.isoformat()})", start.isoformat()))
    if problems:
        raise FeatureDataError(problems, headline=f"invalid materialization window for view {view.name!r}")
    return Window(since=start, until=until)


def write_latest(
    online: OnlineStore,
    view: FeatureViewSpec,
    latest: pa.Table,
    *,
    until: datetime,
    now: datetime,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Write ``latest`` (one row per entity) and then advance the view's watermark to ``until``."""
    _aware(until, "until")
    written = online.write(view, latest, now=now, progress=progress)
    current = online.watermark(view)
    newest = online.newest(view)
    if latest.num_rows:
        batch_newest = pc.max(latest[view.timestamp]).as_py()
        newest = batch_newest if newest is None else max(newest, batch_newest)
    watermark = until if current is None else max(current, until)
    online.set_watermark(view, watermark, newest=newest)
    return MaterializeResult(
        view=view.name,
        rows=latest.num_rows,
        written=written,
        skipped=latest.num_rows - written,
        watermark=watermark,
        newest=newest,
    )


def publish_freshness(
    cloudwatch: Any, tenant: str, view: FeatureViewSpec | str, online_newest: datetime | None, now: datetime
) -> float | None:
    """Put the age in seconds of the view's newest online row (dimensions Tenant, View); returns
    it, or None when the view has nothing online (no datapoint: the alarm's missing-data rule
    decides)."""
    name = view if isinstance(view, str) else view.name
    if online_newest is None:
        return None
    age = max(0.0, (_aware(now, "now") - _aware(online_newest, "online_newest")).total_seconds())
    cloudwatch.put_metric_data(
        Namespace=metrics_namespace(tenant),
        MetricData=[
            {
                "MetricName": FRESHNESS_METRIC,
                "Dimensions": [{"Name": "Tenant", "Value": tenant}, {"Name": "View", "Value": name}],
                "Timestamp": now,
                "Value": age,
                "Unit": "Seconds",
            }
        ],
    )
    return age


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise FeatureDataError(
            [Problem(field, "must be time-zone aware (e.g. 2026-01-01T00:00:00+00:00)", moment.isoformat())],
            headline="invalid time",
        )
    return moment


__all__ = ["MaterializeResult", "Window", "publish_freshness", "window", "write_latest"]
