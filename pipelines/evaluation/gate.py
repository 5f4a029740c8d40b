"""The promotion gate: may a candidate model replace the champion without a human?

A candidate is approved when its primary metric meets the spec's ``minimum_metric`` and, if there
is a champion, improves on the champion's value (measured on the same holdout) by more than zero
and by at least ``promotion_margin``; "better" follows the metric's direction (lower rmse is
better). Otherwise it is held as pending for manual approval, with the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from core.spec import ModelSpec
from pipelines.registry.interface import ApprovalStatus


class GateDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approved: bool
    metric: str
    higher_is_better: bool
    candidate: float | None
    champion: float | None
    minimum: float
    margin: float
    reasons: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["approved", "pending"]:
        return "approved" if self.approved else "pending"

    @property
    def approval_status(self) -> ApprovalStatus:
        """The registry status to give the candidate version."""
        return ApprovalStatus.APPROVED if self.approved else ApprovalStatus.PENDING


def decide_promotion(
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    spec: ModelSpec,
) -> GateDecision:
    """Approve or hold a candidate by ``spec.primary_metric``; ``champion_metrics`` is ``None``
    when no champion exists yet."""
    metric = spec.primary_metric
    higher = spec.higher_is_better
    candidate = _value(candidate_metrics, metric)
    champion = _value(champion_metrics, metric) if champion_metrics is not None else None
    reasons: list[str] = []
    approved = True

    if candidate is None:
        approved = False
        reasons.append(f"the candidate has no finite {metric}; evaluate it on the holdout first")
    else:
        meets = candidate >= spec.minimum_metric if higher else candidate <= spec.minimum_metric
        bound = "at least" if higher else "at most"
        verdict = "meets" if meets else "misses"
        reasons.append(
            f"candidate {metric} {candidate:.6g} {verdict} the minimum ({bound} {spec.minimum_metric:.6g})"
        )
        approved &= meets

        if champion_metrics is None:
            reasons.append("no champion yet: the minimum is the only bar")
        elif champion is None:
            approved = False
            reasons.append(f"the champion has no finite {metric} on this holdout; a human must compare them")
        else:
            improvement = candidate - champion if higher else champion - candidate
            beats = improvement > 0 and improvement >= spec.promotion_margin
            reasons.append(
                f"candidate {metric} {candidate:.6g} vs champion {champion:.6g}: improvement "
                f"{improvement:+.6g} ({'higher' if higher else 'lower'} is better); "
                f"{'beats' if beats else 'does not beat'} the champion "
                f"by the margin {spec.promotion_margin:g}"
            )
            approved &= beats

    return GateDecision(
        approved=approved,
        metric=metric,
        higher_is_better=higher,
        candidate=candidate,
        champion=champion,
        minimum=spec.minimum_metric,
        margin=spec.promotion_margin,
        reasons=reasons,
    )


def _value(metrics: Mapping[str, float] | None, name: str) -> float | None:
    if metrics is None or name not in metrics:
        return None
    value = float(metrics[name])
    return value if math.isfinite(value) else None


__all__ = ["GateDecision", "decide_promotion"]
