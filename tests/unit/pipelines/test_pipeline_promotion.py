from __future__ import annotations

import pytest

from core.spec import ModelSpec
from pipelines.evaluation.gate import decide_promotion
from pipelines.registry.interface import ApprovalStatus


@pytest.fixture
def auc_spec() -> ModelSpec:
    return ModelSpec(
        problem="classification",
        target="y",
        primary_metric="roc_auc",
        minimum_metric=0.8,
        promotion_margin=0.01,
    )


@pytest.fixture
def rmse_spec() -> ModelSpec:
    return ModelSpec(
        problem="regression",
        target="y",
        primary_metric="rmse",
        minimum_metric=60.0,
        promotion_margin=0.5,
        estimator="ridge",
    )


def test_first_model_is_approved_when_it_meets_the_minimum(auc_spec):
    decision = decide_promotion({"roc_auc": 0.85}, None, auc_spec)
    assert decision.approved and decision.status == "approved"
    assert decision.approval_status is ApprovalStatus.APPROVED
    assert decision.reasons == [
        "candidate roc_auc 0.85 meets the minimum (at least 0.8)",
        "no champion yet: the minimum is the only bar",
    ]


def test_first_model_below_the_minimum_is_pending(auc_spec):
    decision = decide_promotion({"roc_auc": 0.79}, None, auc_spec)
    assert not decision.approved and decision.status == "pending"
    assert decision.approval_status is ApprovalStatus.PENDING
    assert decision.reasons[0] == "candidate roc_auc 0.79 misses the minimum (at least 0.8)"


@pytest.mark.parametrize(
    ("candidate", "champion", "approved"),
    [(0.92, 0.90, True), (0.91, 0.90, True), (0.905, 0.90, False), (0.90, 0.90, False), (0.85, 0.90, False)],
)
def test_candidate_must_beat_the_champion_by_the_margin(auc_spec, candidate, champion, approved):
    decision = decide_promotion({"roc_auc": candidate}, {"roc_auc": champion}, auc_spec)
    assert decision.approved is approved
    assert (decision.candidate, decision.champion) == (candidate, champion)


def test_zero_margin_still_requires_an_improvement(auc_spec):
    spec = auc_spec.model_copy(update={"promotion_margin": 0.0})
    assert not decide_promotion({"roc_auc": 0.9}, {"roc_auc": 0.9}, spec).approved
    assert decide_promotion({"roc_auc": 0.9001}, {"roc_auc": 0.9}, spec).approved


@pytest.mark.parametrize(
    ("candidate", "champion", "approved"),
    [
        (50.0, 55.0, True),
        (54.5, 55.0, True),
        (54.8, 55.0, False),
        (56.0, 55.0, False),
        (61.0, None, False),
        (59.0, None, True),
    ],
)
def test_lower_is_better_for_rmse(rmse_spec, candidate, champion, approved):
    champion_metrics = None if champion is None else {"rmse": champion}
    decision = decide_promotion({"rmse": candidate}, champion_metrics, rmse_spec)
    assert decision.approved is approved
    assert decision.higher_is_better is False


def test_rmse_reason_explains_the_direction(rmse_spec):
    decision = decide_promotion({"rmse": 54.0}, {"rmse": 55.0}, rmse_spec)
    assert decision.reasons == [
        "candidate rmse 54 meets the minimum (at most 60)",
        (
            "candidate rmse 54 vs champion 55: improvement +1 (lower is better); "
            "beats the champion by the margin 0.5"
        ),
    ]


def test_missing_or_nan_metrics_hold_the_candidate(auc_spec):
    assert decide_promotion({"accuracy": 0.99}, None, auc_spec).reasons == [
        "the candidate has no finite roc_auc; evaluate it on the holdout first"
    ]
    assert not decide_promotion({"roc_auc": float("nan")}, None, auc_spec).approved
    held = decide_promotion({"roc_auc": 0.95}, {"accuracy": 0.9}, auc_spec)
    assert not held.approved
    assert "the champion has no finite roc_auc" in held.reasons[1]
