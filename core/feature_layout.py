"""Where the feature store keeps what, shared by the offline store, the online store, the stack and
the emulator: S3 prefixes, the online item's key and attributes, the materialization watermark.

Offline (data bucket)::

    features/<view>/...                      raw rows as landed (Parquet or CSV), any name
    feature-store/<view>/event_date=YYYY-MM-DD/<ingest id>.parquet
                                             validated rows: the view's entity, feature and timestamp
                                             columns (timestamps UTC, microseconds) plus ``ingested_at``

The Glue table of a view (database :func:`glue_database`, table = the view's name) is
partitioned by ``event_date`` over ``feature-store/<view>/``.

Online (one DynamoDB table per tenant, partition key ``pk``, TTL attribute ``expires_at``)::

    pk = "<view>#<entity>=<value>[|<entity>=<value>...]"   entities in the view's declared order
    event_timestamp_us  the row's event time (epoch microseconds, N)
    expires_at          event time + the view's TTL (epoch seconds, N): DynamoDB's TTL deletes it
    values              the features as one JSON object {"<feature>": value} (S; a null feature is absent)

    pk = "_watermark#<view>"  ``until_us``: materialized up to (epoch microseconds, exclusive)
    newest_us           the newest event time materialized (the freshness metric's reference)
    written_max_us      the newest event time any write has started to put online (raised before
                        the write): rows at or after it are written without reading what is stored
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: where raw feature rows land in the data bucket (data arrival starts their ingestion)
LANDING_PREFIX = "features/"
#: where the offline store keeps validated rows in the data bucket
OFFLINE_PREFIX = "feature-store/"
PARTITION_COLUMN = "event_date"
INGESTED_AT_COLUMN = "ingested_at"

ONLINE_KEY = "pk"
ONLINE_EVENT_TIME = "event_timestamp_us"
ONLINE_TTL_ATTRIBUTE = "expires_at"
ONLINE_VALUES = "values"
WATERMARK_PREFIX = "_watermark#"
WATERMARK_ATTRIBUTE = "until_us"

#: the Glue table parameter holding the view's spec as JSON: the catalog is where the ``features``
#: job reads a view's definition (entities, types, TTL; a job's environment is too small for it)
VIEW_SPEC_PARAMETER = "tenantml.view"

#: the metric of a view's freshness, in the tenant's own namespace (``core.contract.metrics_namespace``:
#: PutMetricData can be held to a namespace, not to dimension values), dimensions Tenant and View
FRESHNESS_METRIC = "OnlineAgeSeconds"


def landing_prefix(view: str) -> str:
    return f"{LANDING_PREFIX}{view}/"


def view_of_landed_key(key: str) -> str | None:
    """The view a landed object belongs to (``features/<view>/<file>``), or None."""
    if not key.startswith(LANDING_PREFIX):
        return None
    view, _, rest = key[len(LANDING_PREFIX) :].partition("/")
    return view if view and rest and not rest.endswith("/") else None


def offline_prefix(view: str) -> str:
    return f"{OFFLINE_PREFIX}{view}/"


def offline_key(view: str, event_date: str, ingest_id: str) -> str:
    return f"{offline_prefix(view)}{PARTITION_COLUMN}={event_date}/{ingest_id}.parquet"


def glue_database(tenant: str, environment: str) -> str:
    """Glue database names allow lower case, digits and '_' only."""
    return f"tenantml_{tenant}_{environment}_features".replace("-", "_")


def online_pk(view: str, entities: Mapping[str, Any], order: list[str]) -> str:
    """The item key of one entity of ``view``; ``order`` is the view's entity names."""
    return f"{view}#" + "|".join(f"{name}={entities[name]}" for name in order)


def watermark_pk(view: str) -> str:
    return f"{WATERMARK_PREFIX}{view}"


__all__ = [
    "FRESHNESS_METRIC",
    "INGESTED_AT_COLUMN",
    "LANDING_PREFIX",
    "OFFLINE_PREFIX",
    "ONLINE_EVENT_TIME",
    "ONLINE_KEY",
    "ONLINE_TTL_ATTRIBUTE",
    "ONLINE_VALUES",
    "PARTITION_COLUMN",
    "VIEW_SPEC_PARAMETER",
    "WATERMARK_ATTRIBUTE",
    "WATERMARK_PREFIX",
    "glue_database",
    "landing_prefix",
    "offline_key",
    "offline_prefix",
    "online_pk",
    "view_of_landed_key",
    "watermark_pk",
]
