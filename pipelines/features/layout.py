"""The feature store's names contract, kept in :mod:`core.feature_layout` so that the stacks (which
may not import ``pipelines``) and the emulator share it with the offline and online stores."""

from __future__ import annotations

from core.feature_layout import (
    FRESHNESS_METRIC,
    INGESTED_AT_COLUMN,
    LANDING_PREFIX,
    OFFLINE_PREFIX,
    ONLINE_EVENT_TIME,
    ONLINE_KEY,
    ONLINE_TTL_ATTRIBUTE,
    ONLINE_VALUES,
    PARTITION_COLUMN,
    WATERMARK_ATTRIBUTE,
    WATERMARK_PREFIX,
    glue_database,
    landing_prefix,
    offline_key,
    offline_prefix,
    online_pk,
    view_of_landed_key,
    watermark_pk,
)

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
