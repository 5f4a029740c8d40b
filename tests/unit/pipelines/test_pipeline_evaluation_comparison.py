"""The evaluation report of a run: two real scikit-learn models evaluated on one holdout, the gate's
decision, and the HTML parsed back (stdlib HTMLParser) cell by cell."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import DataValidationError
from pipelines.data.datasets import split_holdout
from pipelines.evaluation.comparison import (
    COMPARISON_HTML,
    COMPARISON_JSON,
    compare,
    read_result,
    write_comparison_report,
)
from pipelines.evaluation.evaluate import evaluate_model
from pipelines.evaluation.gate import decide_promotion


class _Report(HTMLParser):
    """Rows of the ``metrics`` and ``plots`` tables, the decision paragraph and the reasons list."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, list[str]] = {}
        self.plots: dict[str, list[str]] = {}
        self.decision = ""
        self.reasons: list[str] = []
        self._row: tuple[dict, str] | None = None
        self._cells: list[str] | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "tr" and "data-metric" in attrs:
            self._row = (self.metrics, attrs["data-metric"])
            self._row[0][self._row[1]] = []
        elif tag == "tr" and "data-plot" in attrs:
            self._row = (self.plots, attrs["data-plot"])
            self._row[0][self._row[1]] = []
        elif tag == "td" and self._row is not None:
            self._cells = []
        elif tag == "img" and self._cells is not None:
            self._cells.append("img:" + attrs["src"][:22])
        elif tag == "p" and attrs.get("id") == "decision":
            self._in = "decision"
        elif tag == "li" and self._in == "reasons-list":
            self._in = "reason"
            self.reasons.append("")
        elif tag == "ul" and attrs.get("id") == "reasons":
            self._in = "reasons-list"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cells is not None and self._row is not None:
            self._row[0][self._row[1]].append(" ".join("".join(self._cells).split()))
            self._cells = None
        elif tag == "tr":
            self._row = None
        elif tag == "p" and self._in == "decision":
            self._in = None
        elif tag == "li" and self._in == "reason":
            self._in = "reasons-list"
        elif tag == "ul" and self._in == "reasons-list":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._cells is not None:
            self._cells.append(data)
        elif self._in == "decision":
            self.decision += data
        elif self._in == "reason":
            self.reasons[-1] += data


@pytest.fixture
def evaluated(cancer, classification_spec, tmp_path: Path):
    """A strong candidate and a weakened champion (heavy regularisation, two features), one holdout."""
    train, holdout = split_holdout(cancer, classification_spec, seed=0)
    X, y = train.drop(columns="target"), train["target"]
    candidate = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)).fit(X, y)
    champion = make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=500)).fit(
        X[["mean radius", "mean texture"]], y
    )
    kwargs = {"importance_rows": 100, "importance_repeats": 1}
    ours = evaluate_model(candidate, holdout, classification_spec, tmp_path / "candidate", **kwargs)
    theirs = evaluate_model(champion, holdout, classification_spec, tmp_path / "champion", **kwargs)
    return ours, theirs


def test_the_report_shows_both_models_the_differences_the_margin_and_the_decision(
    evaluated, classification_spec, tmp_path: Path
):
    # given both models evaluated on one holdout, and the gate's decision between them
    ours, theirs = evaluated
    spec = classification_spec.model_copy(update={"promotion_margin": 0.005})
    decision = decide_promotion(ours.metrics, theirs.metrics, spec)
    assert decision.approved  # the stronger candidate beats the weakened champion

    # when the report is written
    write_comparison_report(
        tmp_path / "candidate", tmp_path / "champion", decision, tmp_path / "out", champion_version=7
    )

    # then every metric row holds the candidate, the champion (version 7), the difference and, for
    # the primary metric only, the margin the spec requires
    page = _Report()
    page.feed((tmp_path / "out" / COMPARISON_HTML).read_text(encoding="utf-8"))
    assert set(page.metrics) == set(ours.metrics)
    for name, value in ours.metrics.items():
        _label, candidate, champion, difference, margin = page.metrics[name]
        assert candidate == f"{value:.4f}" and champion == f"{theirs.metrics[name]:.4f}"
        assert difference == f"{value - theirs.metrics[name]:+.4f}"
        assert margin == ("0.005" if name == "roc_auc" else "-")
    assert "lower is better" in page.metrics["log_loss"][0]
    # and the plots are side by side, both embedded
    assert page.plots["roc_curve"] == [
        "img:data:image/png;base64, candidate: roc curve",
        "img:data:image/png;base64, champion: roc curve",
    ]
    # and the decision and its reasons are there
    assert page.decision.split()[0] == "approved"
    assert page.reasons == decision.reasons
    assert any("vs champion" in reason and "beats the champion" in reason for reason in page.reasons)
    # and the JSON says the same
    data = json.loads((tmp_path / "out" / COMPARISON_JSON).read_text())
    assert data["champion_version"] == 7 and data["decision"]["status"] == "approved"
    roc = next(m for m in data["metrics"] if m["name"] == "roc_auc")
    assert roc["improvement"] == pytest.approx(ours.metrics["roc_auc"] - theirs.metrics["roc_auc"])


def test_a_held_candidate_is_reported_pending_with_why(evaluated, classification_spec, tmp_path: Path):
    # given the weak model as the candidate against the strong champion
    ours, theirs = evaluated
    decision = decide_promotion(theirs.metrics, ours.metrics, classification_spec)

    # when reported
    write_comparison_report(
        tmp_path / "champion", tmp_path / "candidate", decision, tmp_path / "out", champion_version=3
    )

    # then it says pending, and why
    page = _Report()
    page.feed((tmp_path / "out" / COMPARISON_HTML).read_text(encoding="utf-8"))
    assert page.decision.split()[0] == "pending" and "held for a human" in page.decision
    assert any("does not beat the champion" in reason for reason in page.reasons)
    assert float(page.metrics["roc_auc"][3]) < 0


def test_without_a_champion_the_report_says_so_and_has_empty_champion_cells(
    evaluated, classification_spec, tmp_path: Path
):
    ours, _ = evaluated
    decision = decide_promotion(ours.metrics, None, classification_spec)
    write_comparison_report(tmp_path / "candidate", None, decision, tmp_path / "out")
    page = _Report()
    page.feed((tmp_path / "out" / COMPARISON_HTML).read_text(encoding="utf-8"))
    assert {row[2] for row in page.metrics.values()} == {"-"}
    assert page.plots["roc_curve"][1] == "-"
    assert "no champion yet" in (tmp_path / "out" / COMPARISON_HTML).read_text()


def test_results_from_different_holdouts_are_refused(evaluated, cancer, classification_spec, tmp_path):
    ours, theirs = evaluated
    other = theirs.model_copy(update={"holdout_sha256": "f" * 64})
    with pytest.raises(DataValidationError) as raised:
        compare(ours, other, decide_promotion(ours.metrics, other.metrics, classification_spec))
    assert "same holdout" in str(raised.value)
    assert read_result(tmp_path / "candidate") == ours
