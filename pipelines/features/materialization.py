"""One materialization pass over a tenant's views: offline -> online, watermark, freshness.

Shared by ``tenantml features materialize`` and the ``features`` job (landed data and the
schedule). Per view: the incremental window (:func:`materialize.window`), the window's latest row
per entity from the offline store, written online without ever replacing a newer value, the
watermark advanced, and the age of the view's newest online row published.

After a landed file is ingested, the window starts at the earliest event date of the file
(:func:`since_for_ingest`), whatever the watermark says: rows that arrive late, with event times
the watermark has already passed, reach the online store too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from core.feature_spec import FeatureViewSpec
from pipelines.features.ingest import IngestResult
from pipelines.features.materialize import MaterializeResult, publish_freshness, window, write_latest
from pipelines.features.offline import OfflineStore
from pipelines.features.online import OnlineStore, Progress

#: (view name) -> a progress callback for that view's writes (the CLI's progress bar), or None
ProgressFactory = Callable[[str], Progress | None]


def since_for_ingest(result: IngestResult) -> datetime | None:
    """The start of the earliest event date a landed file wrote (its partitions are UTC dates)."""
    dates = sorted(p.rsplit("=", 1)[-1] for p in result.partitions)
    return datetime.fromisoformat(dates[0]).replace(tzinfo=UTC) if dates else None


def materialize_views(
    offline: OfflineStore,
    online: OnlineStore,
    views: Sequence[FeatureViewSpec],
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: ProgressFactory | None = None,
    cloudwatch: Any = None,
    tenant: str | None = None,
) -> list[MaterializeResult]:
    """Materialize each of ``views``; with ``cloudwatch`` and ``tenant``, publish each view's freshness."""
    results = []
    for view in views:
        span = window(online, view, since=since, until=until, now=now)
        latest = offline.latest_rows(view, since=span.since, until=span.until)
        result = write_latest(
            online,
            view,
            latest,
            until=span.until,
            now=now,
            progress=progress(view.name) if progress else None,
        )
        if cloudwatch is not None and tenant is not None:
            publish_freshness(cloudwatch, tenant, view, result.newest, now)
        results.append(result)
    return results


__all__ = ["ProgressFactory", "materialize_views", "since_for_ingest"]
