"""The drift report and ``tenantml monitor`` under moto, for a champion registered by the pipeline's
step commands (the alarm Lambda's own tests are in tests/functional/runs/test_runs_alarm_handler.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest
from monitoring_support import REGION, TENANT, inference_payloads
from registered_version import register_version
from typer.testing import CliRunner

from core.spec import ModelSpec
from pipelines.monitoring.publishing import load_baseline, write_snapshot
from pipelines.monitoring.report import NoSnapshotsError, list_snapshots, publish_drift_report
from pipelines.monitoring.window import compute_window_metrics
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.clients import AwsClients
from pipelines.runs.config import PipelineConfig
from pipelines.runs.resources import TenantResources
from tenantml.cli import app

MODEL = "cancer"
SPEC = ModelSpec(
    name=MODEL,
    problem="classification",
    target="target",
    primary_metric="roc_auc",
    minimum_metric=0.9,
    estimator="logistic_regression",
    search_trials=2,
    search_timeout_seconds=60,
    drift_threshold=0.25,
)
CONFIG = PipelineConfig(n_trials=2, cv_folds=3, importance_repeats=1, importance_rows=100)
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]
#: the breast-cancer columns ``Platform.snapshot`` multiplies: the only ones that can drift
SHIFTED = {"mean radius", "mean texture", "mean perimeter"}


def _resources(session: boto3.session.Session) -> TenantResources:
    s3 = session.client("s3")
    names = {kind: f"tenantml-{TENANT}-dev-{kind}" for kind in ("data", "artifacts", "models")}
    for name in names.values():
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    topic = session.client("sns").create_topic(Name=f"tenantml-{TENANT}-dev-alerts")["TopicArn"]
    group = f"tenantml-{TENANT}-dev-{MODEL}"
    SageMakerModelRegistry(session.client("sagemaker"), group).ensure_group()
    return TenantResources(
        data_bucket=names["data"],
        artifacts_bucket=names["artifacts"],
        models_bucket=names["models"],
        alerts_topic_arn=topic,
        model_package_group=group,
        training_role_arn="arn:aws:iam::123456789012:role/training",
        kms_key_arn=f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000",
        tenant=TENANT,
        region=REGION,
    )


class Platform:
    """The tenant's platform under moto, with a champion (v1) trained on the breast-cancer data."""

    def __init__(self, cancer: pd.DataFrame, tmp_path: Path) -> None:
        self.session = boto3.session.Session(region_name=REGION)
        self.resources = _resources(self.session)
        self.clients = AwsClients.create(region=REGION, session=self.session)
        self.sqs = self.session.client("sqs")
        self.inbox = self.sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.session.client("sns").subscribe(
            TopicArn=self.resources.alerts_topic_arn, Protocol="sqs", Endpoint=queue_arn
        )
        self.registry = SageMakerModelRegistry(self.clients.sagemaker, self.resources.model_package_group)
        self.cancer = cancer
        data = tmp_path / "cancer.csv"
        cancer.to_csv(data, index=False)
        self.clients.s3.upload_file(str(data), self.resources.data_bucket, "incoming/cancer.csv")
        version = self.clients.s3.head_object(Bucket=self.resources.data_bucket, Key="incoming/cancer.csv")[
            "VersionId"
        ]
        first = register_version(
            self.resources,
            SPEC,
            DataArrival(bucket=self.resources.data_bucket, key="incoming/cancer.csv", version_id=version),
            tmp_path / "run",
            run_id="run-champion",
        )
        assert first.succeeded and first.model_version == 1, first.error

    def snapshot(self, *, shift: float, at: float, latency_ms: float = 20.0) -> str:
        """One monitoring window of version 1's traffic, with the first features shifted by ``shift``x."""
        frame = self.cancer.drop(columns=["target"]).copy()
        assert set(frame.columns[:3]) == SHIFTED
        for column in frame.columns[:3]:
            frame[column] = frame[column] * shift
        baseline = load_baseline(self.clients.s3, self.registry, self.resources.artifacts_bucket, "1")
        metrics = compute_window_metrics(
            inference_payloads(frame, timestamp=at, latency_ms=latency_ms),
            baseline,
            drift_threshold=SPEC.drift_threshold,
        )
        return write_snapshot(
            self.clients.s3,
            self.resources.artifacts_bucket,
            tenant=TENANT,
            model=MODEL,
            version="1",
            metrics=metrics,
            suffix=str(int(at)),
        )

    def alerts(self) -> list[dict]:
        received = []
        while batch := self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
        return received


@pytest.fixture
def platform(aws: None, cancer: pd.DataFrame, tmp_path: Path) -> Platform:
    return Platform(cancer, tmp_path)


def test_given_no_snapshot_when_the_report_is_asked_for_then_a_named_error_says_what_to_do(
    platform, tmp_path
):
    # when
    with pytest.raises(NoSnapshotsError) as caught:
        publish_drift_report(
            platform.clients.s3,
            platform.resources,
            SPEC,
            tenant=TENANT,
            sagemaker=platform.clients.sagemaker,
            out=tmp_path / "r.html",
        )

    # then
    assert "no monitoring snapshot for model 'cancer' of tenant acme" in str(caught.value)
    assert "send traffic" in str(caught.value)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("windows", [1, 6])
def test_given_snapshots_when_the_report_is_rendered_then_it_ranks_plots_and_is_stored(
    platform, tmp_path, windows
):
    # given
    for i in range(windows):
        platform.snapshot(shift=1.0 + i * 0.5, at=T0.timestamp() + 60 * i, latency_ms=20 + i)

    # when
    report = publish_drift_report(
        platform.clients.s3,
        platform.resources,
        SPEC,
        tenant=TENANT,
        sagemaker=platform.clients.sagemaker,
        out=tmp_path / "r.html",
        now=T0,
    )

    # then
    html = (tmp_path / "r.html").read_text()
    assert report.snapshots == windows and f"{windows} monitoring window(s)" in html
    assert html.count("data:image/png;base64,") == 6 + 1 + 2  # top features, predictions, two time series
    assert report.s3_uri == "s3://tenantml-acme-dev-artifacts/reports/drift/cancer/20260110T090000Z.html"
    latest = (
        platform.clients.s3.get_object(
            Bucket=platform.resources.artifacts_bucket, Key="reports/drift/cancer/latest.html"
        )["Body"]
        .read()
        .decode()
    )
    assert latest == html
    rows = html.split("Features ranked by PSI")[1].split("</table>")[0]
    assert rows.count("<tr>") == 31  # header + 30 features
    if windows > 1:
        # the three shifted features come first
        top = {row.split("</td>")[0].removeprefix("<td>") for row in rows.split("<tr>")[2:5]}
        assert top == SHIFTED
    assert len(list_snapshots(platform.clients.s3, platform.resources.artifacts_bucket, MODEL)) == windows


# --- the CLI ------------------------------------------------------------------------------------


def _outputs(platform: Platform, tmp_path: Path) -> Path:
    r = platform.resources
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "data_bucket_name": r.data_bucket,
                "artifacts_bucket_name": r.artifacts_bucket,
                "models_bucket_name": r.models_bucket,
                "alerts_topic_arn": r.alerts_topic_arn,
                "model_package_group_name": r.model_package_group,
                "training_role_arn": r.training_role_arn,
                "kms_key_arn": r.kms_key_arn,
            }
        )
    )
    return path


def _tenants_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "tenants"
    directory.mkdir()
    (directory / "acme.yaml").write_text(
        'name: acme\nenvironment: dev\nregion: eu-west-1\nowners: [ml@example.com]\nimage_tag: "1.0.0"\n'
        "compute:\n  kind: ec2\n  instance_types: [m6i.large]\n"
        "model:\n  name: cancer\n  problem: classification\n  target: target\n  primary_metric: roc_auc\n"
        "  minimum_metric: 0.9\n"
    )
    return directory


def test_given_a_running_platform_when_report_and_monitor_once_run_then_both_print_what_they_found(
    platform, tmp_path
):
    # given
    platform.snapshot(shift=3.0, at=T0.timestamp())
    cloudwatch = platform.session.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="tenantml-acme-dev-drift",
        MetricName="DriftScore",
        Namespace="TenantML/acme",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0.25,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="tenantml-acme-dev-drift", StateValue="ALARM", StateReason="drift")
    common = [
        "--tenant",
        "acme",
        "--tenants",
        str(_tenants_dir(tmp_path)),
        "--outputs",
        str(_outputs(platform, tmp_path)),
    ]
    runner = CliRunner()

    # when
    reported = runner.invoke(app, ["report", *common, "--out", str(tmp_path / "drift.html")])
    monitored = runner.invoke(app, ["monitor", *common, "--once"], env={"COLUMNS": "200"})

    # then
    assert reported.exit_code == 0, reported.output
    assert str(tmp_path / "drift.html") in reported.output
    assert "s3://tenantml-acme-dev-artifacts/reports/drift/cancer/" in reported.output
    assert (tmp_path / "drift.html").read_text().startswith("<!doctype html>")
    assert monitored.exit_code == 0, monitored.output
    out = monitored.output
    # v1, registered by the pipeline's steps, serves
    assert "1 (champion)" in out and "569" in out
    # the worst feature of the window, with its PSI, is one the snapshot shifted
    (window,) = list_snapshots(platform.clients.s3, platform.resources.artifacts_bucket, MODEL)
    worst, psi = window.worst_feature
    assert worst in SHIFTED
    assert f"{worst} ({psi:.3f})" in out
    assert "tenantml-acme-dev-drift" in out and "ALARM" in out


def test_given_no_snapshot_when_report_runs_then_it_exits_with_the_named_error(platform, tmp_path):
    # when
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--tenant",
            "acme",
            "--tenants",
            str(_tenants_dir(tmp_path)),
            "--outputs",
            str(_outputs(platform, tmp_path)),
        ],
    )

    # then
    assert result.exit_code == 1, result.output
    assert "no monitoring snapshot for model 'cancer'" in result.output
