"""Live quality from logged class probabilities, against moto: a real classifier's predictions and
probabilities written by the server's encoder (formats 6 and 7), labels delivered under labels/,
the monitor joining them and publishing roc_auc and log_loss as training's evaluation computes
them; records without probabilities (older formats) fall back to the predicted labels."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from monitoring_support import MODEL, REGION, TENANT, kinesis_event
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from core.contract import LABELLED_ROWS_METRIC, LIVE_QUALITY_METRIC, metrics_namespace
from core.spec import ModelSpec, ProblemType
from pipelines.inference_log.encoding import RecordEncoder
from pipelines.monitoring.labelled_traffic import write_logged_predictions
from pipelines.monitoring.labels import labels_csv
from pipelines.monitoring.monitor import monitor_batch
from pipelines.monitoring.quality import QualitySettings, measure_live_quality, read_live_quality
from pipelines.monitoring.window import decode_records

DATA = "acme-dev-data"
FEATURES = ["mean radius", "mean texture", "mean perimeter"]
ROWS_PER_REQUEST = 3
#: the one feature the classifier uses
USED = "mean texture"


def _spec(metric: str, minimum: float = 0.5) -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        problem=ProblemType.CLASSIFICATION,
        target="target",
        primary_metric=metric,
        minimum_metric=minimum,
    )


@pytest.fixture
def data_bucket(clients) -> str:
    clients.s3.create_bucket(Bucket=DATA, CreateBucketConfiguration={"LocationConstraint": REGION})
    return DATA


@pytest.fixture(scope="module")
def weak_model(cancer: pd.DataFrame) -> LogisticRegression:
    """A classifier on one of the logged features: good enough to rank, wrong often enough that
    the AUC of its labels (its balanced accuracy) is well below the AUC of its probabilities."""
    return LogisticRegression(max_iter=1000).fit(cancer[[USED]], cancer["target"])


def _log(
    model: LogisticRegression,
    rows: pd.DataFrame,
    *,
    with_probabilities: bool,
    first: int = 0,
    version: str = "1",
) -> tuple[list[bytes], pd.DataFrame]:
    """Frames as the server writes them, one request per ROWS_PER_REQUEST rows, and what the model
    said per (request id, row)."""
    encoder = RecordEncoder(FEATURES, classes=model.classes_ if with_probabilities else None)
    frames, truth = [], []
    now = time.time() - 60
    for i in range(len(rows) // ROWS_PER_REQUEST):
        part = rows.iloc[i * ROWS_PER_REQUEST : (i + 1) * ROWS_PER_REQUEST]
        numeric = part[FEATURES].to_numpy(dtype="float64")
        probabilities = model.predict_proba(part[[USED]])
        predictions = model.classes_[probabilities.argmax(axis=1)]
        request_id = f"req-{version}-{first + i:04d}"
        frames.append(
            encoder.encode(
                request_id=request_id,
                model_version=version,
                timestamp=now + i / 100,
                latency_ms=5.0,
                error=False,
                numeric=numeric,
                predictions=predictions,
                probabilities=probabilities,
            )
        )
        for r in range(len(part)):
            truth.append(
                {
                    "request_id": request_id,
                    "row": r,
                    "target": part["target"].iloc[r],
                    "prediction": predictions[r],
                    "probabilities": probabilities[r],
                }
            )
    return frames, pd.DataFrame(truth)


def _deliver(s3, truth: pd.DataFrame, key: str = "labels/2026-12-07/batch.csv") -> None:
    s3.put_object(
        Bucket=DATA,
        Key=key,
        Body=labels_csv(list(truth["request_id"]), list(truth["row"]), list(truth["target"]), "target"),
    )


def _monitor_settings(settings, spec: ModelSpec):
    return dataclasses.replace(
        settings, data_bucket=DATA, model_spec=spec, quality_min_rows=20, quality_period_seconds=60
    )


def _stat(cloudwatch, metric_name: str, metric: str) -> float | None:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace(TENANT),
        MetricName=metric_name,
        Dimensions=[
            {"Name": "Tenant", "Value": TENANT},
            {"Name": "Model", "Value": MODEL},
            {"Name": "Metric", "Value": metric},
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max(p["Maximum"] for p in points) if points else None


def _proba(truth: pd.DataFrame) -> np.ndarray:
    return np.stack(truth["probabilities"].to_numpy())


def test_given_logged_probabilities_the_live_roc_auc_is_sklearns_on_them_not_on_the_labels(
    clients, settings, cancer, data_bucket, weak_model
):
    # given 40 requests of 3 rows logged with probabilities, labels back for 30 of them
    frames, truth = _log(weak_model, cancer.sample(120, random_state=7), with_probabilities=True)
    labelled = truth.iloc[: 30 * ROWS_PER_REQUEST]
    _deliver(clients.s3, labelled)
    exact = roc_auc_score(labelled["target"], _proba(labelled)[:, 1])
    approximate = roc_auc_score(labelled["target"], labelled["prediction"].astype(int))
    assert exact - approximate > 0.05  # the data tells the two apart

    # when the monitor runs over the stream's records
    result = monitor_batch(kinesis_event(frames), _monitor_settings(settings, _spec("roc_auc")), clients)

    # then the live roc_auc is the exact one, published and recorded as such
    quality = result.quality
    assert quality is not None and quality.labelled_rows == 90
    assert quality.value == pytest.approx(exact, abs=1e-12)
    assert (quality.scores, quality.reason) == ("probabilities", "")
    assert quality.by_version == {"1": (pytest.approx(exact, abs=1e-12), 90)}
    assert _stat(clients.cloudwatch, LIVE_QUALITY_METRIC, "roc_auc") == pytest.approx(exact, abs=1e-12)
    stored = read_live_quality(clients.s3, settings.artifacts_bucket, MODEL)
    assert stored["scores"] == "probabilities" and stored["value"] == pytest.approx(exact, abs=1e-12)


def test_given_logged_probabilities_log_loss_is_measured_and_published(
    clients, settings, cancer, data_bucket, weak_model
):
    frames, truth = _log(weak_model, cancer.sample(90, random_state=3), with_probabilities=True)
    _deliver(clients.s3, truth)

    result = monitor_batch(
        kinesis_event(frames), _monitor_settings(settings, _spec("log_loss", minimum=0.9)), clients
    )

    expected = log_loss(truth["target"], _proba(truth), labels=[0, 1])
    assert result.quality is not None and result.quality.value == pytest.approx(expected, rel=1e-12)
    assert _stat(clients.cloudwatch, LIVE_QUALITY_METRIC, "log_loss") == pytest.approx(expected, rel=1e-12)
    assert _stat(clients.cloudwatch, LABELLED_ROWS_METRIC, "log_loss") == 90


def test_given_rows_logged_without_probabilities_roc_auc_falls_back_to_the_labels_and_says_why(
    clients, settings, cancer, data_bucket, weak_model
):
    # given one server still writing format 4 (no probabilities) beside one writing format 6
    rows = cancer.sample(120, random_state=11)
    old, old_truth = _log(weak_model, rows.iloc[:60], with_probabilities=False)
    new, new_truth = _log(weak_model, rows.iloc[60:], with_probabilities=True, first=1000)
    truth = pd.concat([old_truth, new_truth], ignore_index=True)
    _deliver(clients.s3, truth)

    # when the monitor measures
    result = monitor_batch(kinesis_event(old + new), _monitor_settings(settings, _spec("roc_auc")), clients)

    # then the value is today's label-score approximation, and the record says why
    quality = result.quality
    assert quality is not None
    assert quality.value == pytest.approx(roc_auc_score(truth["target"], truth["prediction"].astype(int)))
    assert quality.scores == "predicted labels"
    assert quality.reason == (
        "roc_auc on predicted labels as scores, approximate: 60 of 120 labelled rows were logged without "
        "class probabilities (an older log format, or a model without predict_proba)"
    )
    assert read_live_quality(clients.s3, settings.artifacts_bucket, MODEL)["reason"] == quality.reason


def test_given_rows_logged_without_probabilities_log_loss_is_not_published_and_the_count_is(
    clients, settings, cancer, data_bucket, weak_model
):
    frames, truth = _log(weak_model, cancer.sample(60, random_state=5), with_probabilities=False)
    _deliver(clients.s3, truth)

    result = monitor_batch(
        kinesis_event(frames), _monitor_settings(settings, _spec("log_loss", minimum=0.9)), clients
    )

    assert result.quality is not None and result.quality.value is None
    assert result.quality.reason == (
        "log_loss needs class probabilities: 60 of 60 labelled rows were logged without class probabilities "
        "(an older log format, or a model without predict_proba)"
    )
    assert _stat(clients.cloudwatch, LIVE_QUALITY_METRIC, "log_loss") is None
    assert _stat(clients.cloudwatch, LABELLED_ROWS_METRIC, "log_loss") == 60


def test_each_version_is_measured_on_what_it_logged(clients, settings, cancer, data_bucket, weak_model):
    # given version 1 logged without probabilities (an old server) and version 2 with them
    rows = cancer.sample(120, random_state=13)
    old, old_truth = _log(weak_model, rows.iloc[:60], with_probabilities=False, version="1")
    new, new_truth = _log(weak_model, rows.iloc[60:], with_probabilities=True, version="2")
    records = [r.record for r in decode_records(kinesis_event(old + new)).records]
    for version in ("1", "2"):
        mine = [r for r in records if r["model_version"] == version]
        write_logged_predictions(clients.s3, settings.artifacts_bucket, MODEL, version, mine, version)
    _deliver(clients.s3, pd.concat([old_truth, new_truth], ignore_index=True))

    # when live quality is measured
    quality = measure_live_quality(
        clients.s3,
        clients.cloudwatch,
        QualitySettings(
            tenant=TENANT,
            artifacts_bucket=settings.artifacts_bucket,
            data_bucket=DATA,
            spec=_spec("roc_auc"),
            min_rows=20,
        ),
    )

    # then version 2's value is exact, version 1's the label-score approximation
    assert quality.by_version == {
        "1": (pytest.approx(roc_auc_score(old_truth["target"], old_truth["prediction"].astype(int))), 60),
        "2": (pytest.approx(roc_auc_score(new_truth["target"], _proba(new_truth)[:, 1]), abs=1e-12), 60),
    }


def test_a_multiclass_live_roc_auc_is_one_vs_rest_on_the_logged_probabilities(clients, settings, data_bucket):
    # given an iris classifier's requests logged with its three class probabilities
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=50).fit(X[:, :1], y)  # one feature: often wrong, still ranks
    encoder = RecordEncoder(["sepal length"], classes=model.classes_)
    frames, truth = [], []
    for i in range(0, 150, 5):
        probabilities = model.predict_proba(X[i : i + 5, :1])
        frames.append(
            encoder.encode(
                request_id=f"iris-{i}",
                model_version="1",
                timestamp=time.time() - 30,
                latency_ms=1.0,
                error=False,
                numeric=X[i : i + 5, :1],
                predictions=model.classes_[probabilities.argmax(axis=1)],
                probabilities=probabilities,
            )
        )
        truth += [{"request_id": f"iris-{i}", "row": r, "target": int(y[i + r])} for r in range(5)]
    records = [r.record for r in decode_records(kinesis_event(frames)).records]
    write_logged_predictions(clients.s3, settings.artifacts_bucket, MODEL, "1", records, "1")
    _deliver(clients.s3, pd.DataFrame(truth))

    # when live quality is measured
    quality = measure_live_quality(
        clients.s3,
        clients.cloudwatch,
        QualitySettings(
            tenant=TENANT,
            artifacts_bucket=settings.artifacts_bucket,
            data_bucket=DATA,
            spec=_spec("roc_auc"),
            min_rows=20,
        ),
    )

    # then it is scikit-learn's one-vs-rest macro AUC on those probabilities
    expected = roc_auc_score(
        y, model.predict_proba(X[:, :1]), multi_class="ovr", average="macro", labels=[0, 1, 2]
    )
    assert quality.labelled_rows == 150 and quality.scores == "probabilities"
    assert quality.value == pytest.approx(expected, abs=1e-12)
