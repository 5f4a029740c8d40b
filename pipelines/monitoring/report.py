"""The drift report: what the monitor saw, as one self-contained HTML page.

Built from the monitoring snapshots in the artifacts bucket (``monitoring/<model>/<version>/``)
and the training baseline of each version (``runs/<run_id>/baseline.json``, found through the
registry): every feature ranked by PSI in the newest window, baseline-vs-live histograms of the
most drifted features, the prediction distribution, PSI per feature across windows, and p99
latency and error rate across windows. Plots are PNGs embedded as base64 (Agg, no GUI backend).

The report goes to ``reports/drift/<model>/<timestamp>.html`` plus ``latest.html`` in the
artifacts bucket, and optionally to a local file.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from core.contract import MONITORING_PREFIX
from core.errors import BaselineNotFoundError, NoSnapshotsError
from pipelines.data.uris import s3_uri

if (
    TYPE_CHECKING
):  # imported when a report is drawn, after the alert: matplotlib ~0.5 s, pipelines.monitoring.baseline
    # and pipelines.monitoring.monitor (pandas, scipy) ~0.9 s that a cold alarm Lambda must not spend before it
    from matplotlib.figure import Figure

    from pipelines.monitoring.baseline import Baseline, CategoricalSummary, NumericSummary

log = logging.getLogger(__name__)

REPORTS_PREFIX = "reports/drift"
#: histograms drawn for this many of the most drifted features (all are ranked in the table)
TOP_FEATURES = 6
#: snapshots read for the time series (the newest ones)
MAX_SNAPSHOTS = 500


class Snapshot(BaseModel):
    """One monitoring window as :func:`pipelines.monitoring.monitor.write_snapshot` stored it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str = ""
    tenant: str
    model: str
    model_version: str
    request_count: int
    error_count: int = 0
    error_rate: float = 0.0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    prediction_drift: float | None = None
    drift_score: float = 0.0
    drift_threshold: float
    drifted_features: list[str] = Field(default_factory=list)
    window_start: float | None = None
    window_end: float | None = None
    features: dict[str, dict[str, Any]] = Field(default_factory=dict)
    histograms: dict[str, list[float]] = Field(default_factory=dict)
    prediction_histogram: list[float] | None = None

    def ranked(self) -> list[tuple[str, float | None]]:
        """Every feature with its PSI, worst first (features without values last)."""
        scores = [(name, f.get("psi")) for name, f in self.features.items()]
        return sorted(scores, key=lambda item: (item[1] is None, -(item[1] or 0.0), item[0]))

    def ranked_drifted(self) -> list[tuple[str, float]]:
        return [(n, float(p)) for n, p in self.ranked() if p is not None and p > self.drift_threshold]

    @property
    def worst_feature(self) -> tuple[str, float] | None:
        ranked = [(n, p) for n, p in self.ranked() if p is not None]
        return (ranked[0][0], float(ranked[0][1])) if ranked else None

    @property
    def ended_at(self) -> datetime | None:
        moment = self.window_end if self.window_end is not None else self.window_start
        return datetime.fromtimestamp(moment, UTC) if moment is not None else None


def list_snapshots(
    s3: Any, bucket: str, model: str, *, version: str | None = None, limit: int = MAX_SNAPSHOTS
) -> list[Snapshot]:
    """The newest ``limit`` snapshots of ``model`` (one version, or all), oldest first."""
    prefix = f"{MONITORING_PREFIX}/{model}/" + (f"{version}/" if version else "")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    # the file name starts with the window start (UTC, sortable): newest last across versions
    keys.sort(key=lambda k: (k.rsplit("/", 1)[-1], k))
    snapshots = []
    for key in keys[-limit:]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        snapshots.append(Snapshot.model_validate_json(body).model_copy(update={"key": key}))
    return snapshots


def latest_snapshot(s3: Any, bucket: str, model: str, *, version: str | None = None) -> Snapshot:
    """The newest snapshot of ``version`` (else of any version); :class:`NoSnapshotsError` if none."""
    for candidate in [version, None] if version else [None]:
        found = list_snapshots(s3, bucket, model, version=candidate, limit=1)
        if found:
            return found[-1]
    raise NoSnapshotsError(
        f"no monitoring snapshot for model {model!r} under s3://{bucket}/{MONITORING_PREFIX}/{model}/ yet: "
        "send traffic to a served version (the monitor writes one snapshot per window), then try again"
    )


@dataclass(frozen=True)
class DriftReport:
    html: str
    s3_uri: str
    latest_uri: str
    local_path: Path | None = None
    snapshots: int = 0


def drift_report_key(model: str, generated_at: datetime) -> str:
    """Where :func:`publish_drift_report` stores the report generated at ``generated_at``.

    Known before rendering, so an alert can name the report and go out first.
    """
    return f"{REPORTS_PREFIX}/{model}/{generated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.html"


def publish_drift_report(
    s3: Any,
    resources: Any,
    spec: Any,
    *,
    tenant: str,
    sagemaker: Any = None,
    out: Path | None = None,
    now: datetime | None = None,
) -> DriftReport:
    """Render the report from the bucket's snapshots, store it in the bucket (and at ``out``)."""
    bucket = resources.artifacts_bucket
    snapshots = list_snapshots(s3, bucket, spec.name)
    if not snapshots:
        raise NoSnapshotsError(
            f"no monitoring snapshot for model {spec.name!r} of tenant {tenant} under "
            f"s3://{bucket}/{MONITORING_PREFIX}/{spec.name}/ yet: send traffic to a served version "
            "(the monitor writes one snapshot per window), then run the report again"
        )
    baselines = _baselines(s3, sagemaker, resources, {s.model_version for s in snapshots})
    now = now or datetime.now(UTC)
    html = render_drift_report(snapshots, baselines, tenant=tenant, model=spec.name, generated_at=now)
    key = drift_report_key(spec.name, now)
    latest = f"{REPORTS_PREFIX}/{spec.name}/latest.html"
    for target in (key, latest):
        s3.put_object(
            Bucket=bucket, Key=target, Body=html.encode("utf-8"), ContentType="text/html; charset=utf-8"
        )
    local = None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        local = out
    return DriftReport(
        html=html,
        s3_uri=s3_uri(bucket, key),
        latest_uri=s3_uri(bucket, latest),
        local_path=local,
        snapshots=len(snapshots),
    )


def render_drift_report(
    snapshots: Sequence[Snapshot],
    baselines: dict[str, Baseline | None],
    *,
    tenant: str,
    model: str,
    generated_at: datetime,
) -> str:
    """The HTML report for ``snapshots`` (oldest first, at least one)."""
    if not snapshots:
        raise NoSnapshotsError(f"no monitoring snapshot for model {model!r}: nothing to report")
    latest = snapshots[-1]
    baseline = baselines.get(latest.model_version)
    ranked = latest.ranked()
    top = [name for name, score in ranked if score is not None][:TOP_FEATURES]
    histograms = [
        {
            "name": name,
            "psi": latest.features[name].get("psi"),
            "png": _png(
                _histogram_figure(
                    name, baseline.features.get(name) if baseline else None, latest.histograms.get(name) or []
                )
            ),
        }
        for name in top
    ]
    prediction_png = None
    reference = (baseline.prediction_distribution or baseline.target_distribution) if baseline else None
    if latest.prediction_histogram:
        prediction_png = _png(_histogram_figure("prediction", reference, latest.prediction_histogram))
    rows = [
        {
            "name": name,
            "psi": score,
            "kind": latest.features[name].get("kind"),
            "count": latest.features[name].get("count"),
            "ks": latest.features[name].get("ks_statistic"),
            "drifted": score is not None and score > latest.drift_threshold,
        }
        for name, score in ranked
    ]
    from pipelines.reports import render_template

    return render_template(
        "drift_report.html.j2",
        tenant=tenant,
        model=model,
        generated_at=f"{generated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        latest=latest,
        window=_window_text(latest),
        snapshots=len(snapshots),
        versions=sorted({s.model_version for s in snapshots}, key=lambda v: (len(v), v)),
        rows=rows,
        histograms=histograms,
        prediction_png=prediction_png,
        baseline_missing=baseline is None,
        psi_png=_png(_psi_over_time(snapshots, top)),
        health_png=_png(_health_over_time(snapshots)),
    )


# --- plots ------------------------------------------------------------------------------------------


def _figure(size: tuple[float, float] = (6.0, 3.6)) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bin_labels(summary: NumericSummary | CategoricalSummary | None, count: int) -> list[str]:
    from pipelines.monitoring.baseline import CategoricalSummary, NumericSummary

    if isinstance(summary, CategoricalSummary):
        return [*[c for c in summary.frequencies if c != "__other__"], "other"][:count]
    if isinstance(summary, NumericSummary) and len(summary.bin_edges) >= 2:
        edges = summary.bin_edges
        return [f"{edges[i]:.3g}–{edges[i + 1]:.3g}" for i in range(len(edges) - 1)][:count]
    return [str(i + 1) for i in range(count)]


def _histogram_figure(
    name: str, summary: NumericSummary | CategoricalSummary | None, live: list[float]
) -> Figure:
    from pipelines.monitoring.baseline import CategoricalSummary, NumericSummary

    figure = _figure()
    ax = figure.add_subplot()
    expected: list[float] = []
    if isinstance(summary, NumericSummary):
        expected = list(summary.expected_proportions)
    elif isinstance(summary, CategoricalSummary):
        expected = [v for c, v in summary.frequencies.items() if c != "__other__"]
        expected.append(summary.frequencies.get("__other__", 0.0))
    width = max(len(expected), len(live), 1)
    labels = _bin_labels(summary, width)
    labels += [str(i + 1) for i in range(len(labels), width)]
    positions = list(range(width))
    if expected:
        ax.bar(
            [p - 0.2 for p in positions[: len(expected)]],
            expected,
            width=0.4,
            label="baseline (training)",
            color="#8c959f",
        )
    if live:
        ax.bar(
            [p + 0.2 for p in positions[: len(live)]],
            live,
            width=0.4,
            label="live (latest window)",
            color="#cf222e",
        )
    ax.set_xticks(positions, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of values")
    ax.set_title(name if summary is not None else f"{name} (no baseline found)")
    ax.legend(fontsize=8)
    return figure


def _times(snapshots: Sequence[Snapshot]) -> list[datetime]:
    fallback = datetime.now(UTC)
    return [s.ended_at or fallback for s in snapshots]


def _psi_over_time(snapshots: Sequence[Snapshot], features: list[str]) -> Figure:
    figure = _figure((7.0, 3.8))
    ax = figure.add_subplot()
    times = _times(snapshots)
    for name in features:
        values = [s.features.get(name, {}).get("psi") for s in snapshots]
        ax.plot(
            times, [float("nan") if v is None else v for v in values], marker="o", markersize=3, label=name
        )
    ax.axhline(snapshots[-1].drift_threshold, color="#cf222e", linestyle="--", linewidth=1, label="threshold")
    ax.set_ylabel("PSI")
    ax.set_title("Drift per feature across windows")
    ax.legend(fontsize=7, ncols=2)
    figure.autofmt_xdate()
    return figure


def _health_over_time(snapshots: Sequence[Snapshot]) -> Figure:
    figure = _figure((7.0, 4.6))
    latency, errors = figure.subplots(2, 1, sharex=True)
    times = _times(snapshots)
    latency.plot(
        times,
        [s.latency_p99_ms if s.latency_p99_ms is not None else float("nan") for s in snapshots],
        marker="o",
        markersize=3,
        color="#0969da",
    )
    latency.set_ylabel("p99 latency (ms)")
    latency.set_title("Health across windows")
    errors.plot(times, [s.error_rate for s in snapshots], marker="o", markersize=3, color="#cf222e")
    errors.set_ylabel("error rate")
    figure.autofmt_xdate()
    return figure


def _window_text(snapshot: Snapshot) -> str:
    def at(value: float | None) -> str:
        return "?" if value is None else f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M:%S} UTC"

    return f"{at(snapshot.window_start)} – {at(snapshot.window_end)}"


def _baselines(s3: Any, sagemaker: Any, resources: Any, versions: set[str]) -> dict[str, Baseline | None]:
    from pipelines.monitoring.publishing import load_baseline
    from pipelines.registry.factory import open_registry

    if sagemaker is None:
        return {}
    registry = open_registry(sagemaker, resources.model_package_group)
    found: dict[str, Baseline | None] = {}
    for version in versions:
        try:
            found[version] = load_baseline(s3, registry, resources.artifacts_bucket, version)
        except BaselineNotFoundError as err:
            log.info("no baseline for version %s: %s", version, err)
            found[version] = None
    return found


__all__ = [
    "REPORTS_PREFIX",
    "DriftReport",
    "NoSnapshotsError",
    "Snapshot",
    "drift_report_key",
    "latest_snapshot",
    "list_snapshots",
    "publish_drift_report",
    "render_drift_report",
]
