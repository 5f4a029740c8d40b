"""Latency percentiles, one definition for every reader: nearest rank, as CloudWatch computes them.

The rollout gate, the monitor's snapshots and the alarms CloudWatch evaluates must agree on what
"p99 latency" is, or a version can pass the gate with a p99 the alarm then calls a breach. CloudWatch
uses the nearest-rank method (the smallest value with at least p % of the samples at or below it),
so the platform does too; numpy's default (linear interpolation) gives other values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank_index(count: int, percent: float) -> int:
    """The 0-based index of the ``percent`` percentile in ``count`` ascending samples (``count`` > 0)."""
    if count <= 0:
        raise ValueError("a percentile of no samples is undefined")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], not {percent}")
    return max(0, math.ceil(percent / 100 * count) - 1)


def percentile(samples: Sequence[float], percent: float) -> float | None:
    """The nearest-rank ``percent`` percentile of ``samples``; ``None`` for no samples."""
    if len(samples) == 0:
        return None
    return float(sorted(samples)[nearest_rank_index(len(samples), percent)])
