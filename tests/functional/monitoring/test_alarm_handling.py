"""Alarm notifications under moto: one actionable alert per transition, cooldown-limited retrains
through the real pipeline (scikit-learn, evaluation gate, SageMaker registry), and the drift report."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from monitoring_support import REGION, TENANT, inference_payloads
from typer.testing import CliRunner

from core.spec import ModelSpec
from pipelines.monitoring.alarm_actions import AlarmContext, AlarmNotification, handle_alarm_notifications
from pipelines.monitoring.publishing import load_baseline, write_snapshot
from pipelines.monitoring.report import NoSnapshotsError, list_snapshots, publish_drift_report
from pipelines.monitoring.window import compute_window_metrics
from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.arrivals import DataArrival
from pipelines.runs.config import PipelineConfig
from pipelines.runs.pipeline import AwsClients, run_pipeline
from pipelines.runs.records import read_run_record
from pipelines.runs.resources import TenantResources
from pipelines.runs.retraining import CAUSE_METADATA_KEY, read_history
from pipelines.training.executors import make_executor
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
        first = run_pipeline(
            DataArrival(bucket=self.resources.data_bucket, key="incoming/cancer.csv", version_id=version),
            SPEC,
            self.resources,
            self.clients,
            executor=make_executor("local"),
            config=CONFIG,
        )
        assert first.succeeded and first.model_version == 1, first.error
        self.context = AlarmContext(
            resources=self.resources,
            spec=SPEC,
            cooldown_minutes=60,
            clients=self.clients,
            executor=make_executor("local"),
            config=CONFIG,
        )

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


def notification(
    state: str = "ALARM",
    *,
    metric: str = "DriftScore",
    namespace: str = "TenantML/acme",
    changed_at: str = "2026-01-10T09:00:00.000+0000",
    value: float = 3.2,
    threshold: float = 0.25,
    name: str = "tenantml-acme-dev-drift",
    dimensions: list | None = None,
) -> AlarmNotification:
    return AlarmNotification.model_validate(
        {
            "AlarmName": name,
            "AlarmDescription": f"{metric} of model {MODEL} above {threshold}",
            "AlarmArn": f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}",
            "NewStateValue": state,
            "OldStateValue": "OK" if state == "ALARM" else "ALARM",
            "NewStateReason": f"Threshold Crossed: 1 out of the last 1 datapoints [{value} (10/01/26 09:00:00)] was "
            f"greater than the threshold ({threshold}) (minimum 1 datapoint for OK -> ALARM transition).",
            "StateChangeTime": changed_at,
            "Trigger": {
                "MetricName": metric,
                "Namespace": namespace,
                "Statistic": "MAXIMUM",
                "Threshold": threshold,
                "Period": 60,
                "ComparisonOperator": "GreaterThanThreshold",
                "Dimensions": dimensions
                if dimensions is not None
                else [{"name": "Tenant", "value": TENANT}, {"name": "Model", "value": MODEL}],
            },
        }
    )


@pytest.fixture
def platform(aws: None, cancer: pd.DataFrame, tmp_path: Path) -> Platform:
    return Platform(cancer, tmp_path)


def test_given_a_drift_alarm_when_handled_then_one_actionable_alert_and_a_retrain_through_the_gate(platform):
    # given
    platform.snapshot(shift=3.0, at=T0.timestamp() - 60)

    # when
    (outcome,) = handle_alarm_notifications([notification()], platform.context, now=T0)

    # then: one alert that says everything a person needs
    (alert,) = platform.alerts()
    assert alert["Subject"] == "[tenantml] acme/cancer v1: feature drift ALARM"
    body = alert["Message"]
    for expected in (
        "tenant acme",
        "'cancer'",
        "version 1",
        "DriftScore = 3.2",
        "threshold 0.25",
        "Since:     2026-01-10T09:00:00.000+0000",
        "tenantml report --tenant acme",
        f"retrain started: run {outcome.retrain_run_id}",
        outcome.report_uri,
    ):
        assert expected in body, expected
    # exactly the three features the snapshot shifted, each with its PSI, and no other
    section = body.split("Drifted features, worst first (PSI above 0.25):\n")[1].split("\n\n")[0]
    drifted = re.findall(r"^  (.+?) +PSI (\d+\.\d{3})$", section, flags=re.MULTILINE)
    assert len(drifted) == len(section.splitlines()), section
    assert {name for name, _ in drifted} == SHIFTED, section
    assert all(float(psi) > SPEC.drift_threshold for _, psi in drifted), section
    assert outcome.report_uri.startswith("s3://tenantml-acme-dev-artifacts/reports/drift/cancer/")
    attributes = {k: v["Value"] for k, v in alert["MessageAttributes"].items()}
    assert {k: attributes[f"tenantml.{k}"] for k in ("tenant", "model", "version", "metric", "state")} == {
        "tenant": "acme",
        "model": "cancer",
        "version": "1",
        "metric": "DriftScore",
        "state": "ALARM",
    }

    # and the retrain went through the gate and recorded its cause
    assert outcome.retrain == "started" and outcome.retrain_status == "succeeded"
    record = read_run_record(platform.clients.s3, platform.resources.artifacts_bucket, outcome.retrain_run_id)
    assert record.trigger == "alarm:tenantml-acme-dev-drift"
    assert record.gate is not None and record.champion_version == 1
    version = platform.registry.get_model_version(record.model_version)
    assert version.version == 2
    assert version.metadata[CAUSE_METADATA_KEY].startswith(
        "alarm tenantml-acme-dev-drift: DriftScore=3.2 > 0.25 since 2026-01-10T09:00:00.000+0000 on v1"
    )


class _ReportWatcher:
    """The real SNS client, noting at each publish whether the drift report already existed."""

    def __init__(self, sns, s3, bucket: str) -> None:
        self._sns, self._s3, self._bucket = sns, s3, bucket
        self.reports_at_publish: list[list[str]] = []

    def publish(self, **kwargs):
        listed = self._s3.list_objects_v2(Bucket=self._bucket, Prefix="reports/drift/").get("Contents", [])
        self.reports_at_publish.append([o["Key"] for o in listed])
        return self._sns.publish(**kwargs)


class _FailingReportUploads:
    """The real S3 client, except that storing a drift report fails as a denied PutObject would."""

    def __init__(self, s3) -> None:
        self._s3 = s3

    def put_object(self, **kwargs):
        if kwargs["Key"].startswith("reports/drift/"):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
        return self._s3.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._s3, name)


def test_given_a_drift_alarm_when_handled_then_the_alert_goes_out_before_the_report_it_names_is_drawn(
    platform,
):
    # given
    platform.snapshot(shift=3.0, at=T0.timestamp() - 60)
    watcher = _ReportWatcher(platform.clients.sns, platform.clients.s3, platform.resources.artifacts_bucket)
    clients = AwsClients(s3=platform.clients.s3, sagemaker=platform.clients.sagemaker, sns=watcher)
    context = AlarmContext(
        resources=platform.resources,
        spec=SPEC,
        cooldown_minutes=60,
        clients=clients,
        executor=make_executor("local"),
        config=CONFIG,
    )

    # when
    (outcome,) = handle_alarm_notifications([notification()], context, now=T0)

    # then: no report existed when the alert was published, and the one it names exists now, before the retrain's
    assert watcher.reports_at_publish == [[]]
    (alert,) = platform.alerts()
    assert outcome.report_uri == "s3://tenantml-acme-dev-artifacts/reports/drift/cancer/20260110T090000Z.html"
    assert f"Drift report: {outcome.report_uri}" in alert["Message"]
    head = platform.clients.s3.head_object(
        Bucket=platform.resources.artifacts_bucket, Key="reports/drift/cancer/20260110T090000Z.html"
    )
    record = read_run_record(platform.clients.s3, platform.resources.artifacts_bucket, outcome.retrain_run_id)
    assert head["LastModified"] <= record.started_at + timedelta(seconds=1)


def test_given_a_report_that_cannot_be_stored_when_handled_then_the_alert_and_retrain_happen_and_the_failure_is_logged(
    platform, caplog
):
    # given
    platform.snapshot(shift=3.0, at=T0.timestamp() - 60)
    clients = AwsClients(
        s3=_FailingReportUploads(platform.clients.s3),
        sagemaker=platform.clients.sagemaker,
        sns=platform.clients.sns,
    )
    context = AlarmContext(
        resources=platform.resources,
        spec=SPEC,
        cooldown_minutes=60,
        clients=clients,
        executor=make_executor("local"),
        config=CONFIG,
    )

    # when
    with caplog.at_level("WARNING", logger="pipelines.monitoring.alarm_actions"):
        (outcome,) = handle_alarm_notifications([notification()], context, now=T0)

    # then
    (alert,) = platform.alerts()
    assert "reports/drift/cancer/20260110T090000Z.html" in alert["Message"]
    assert outcome.report_uri is None
    assert outcome.retrain == "started" and outcome.retrain_status == "succeeded"
    (warning,) = [r for r in caplog.records if r.name == "pipelines.monitoring.alarm_actions"]
    assert "reports/drift/cancer/20260110T090000Z.html" in warning.getMessage()
    assert "AccessDenied" in warning.getMessage()


def test_given_two_alarms_within_the_cooldown_when_handled_then_one_retrain_and_the_second_says_until_when(
    platform,
):
    # given
    platform.snapshot(shift=3.0, at=T0.timestamp() - 60)
    handle_alarm_notifications([notification()], platform.context, now=T0)
    platform.alerts()

    # when: the error-rate alarm fires 20 minutes later
    later = T0 + timedelta(minutes=20)
    (second,) = handle_alarm_notifications(
        [
            notification(
                metric="ErrorRate",
                name="tenantml-acme-dev-error-rate",
                value=0.2,
                threshold=0.01,
                changed_at="2026-01-10T09:20:00.000+0000",
            )
        ],
        platform.context,
        now=later,
    )

    # then
    assert second.retrain == "skipped" and second.retrain_run_id is not None
    (alert,) = platform.alerts()
    assert alert["Subject"] == "[tenantml] acme/cancer v1: error rate ALARM"
    assert "retrain skipped: cooldown until 2026-01-10 10:00:00 UTC" in alert["Message"]
    assert [v.version for v in platform.registry.list_model_versions()] == [1, 2]
    history = read_history(platform.clients.s3, platform.resources.artifacts_bucket, MODEL)
    assert [(d.status, d.cause.alarm_name) for d in history] == [
        ("skipped", "tenantml-acme-dev-error-rate"),
        ("started", "tenantml-acme-dev-drift"),
    ]

    # when: the next alarm comes after the window
    (third,) = handle_alarm_notifications(
        [notification(changed_at="2026-01-10T10:01:00.000+0000")],
        platform.context,
        now=T0 + timedelta(minutes=61),
    )

    # then
    assert third.retrain == "started" and third.retrain_status == "succeeded"
    assert [v.version for v in platform.registry.list_model_versions()] == [1, 2, 3]


def test_given_the_same_transition_delivered_twice_when_handled_then_one_alert_and_one_retrain(platform):
    # given
    note = notification()

    # when
    first = handle_alarm_notifications([note], platform.context, now=T0)
    again = handle_alarm_notifications([note], platform.context, now=T0 + timedelta(minutes=90))

    # then
    assert [o.action for o in first + again] == ["alerted", "duplicate"]
    assert len(platform.alerts()) == 1
    assert [v.version for v in platform.registry.list_model_versions()] == [1, 2]


def test_given_a_lambda_error_alarm_when_handled_then_it_only_alerts(platform):
    # when
    (outcome,) = handle_alarm_notifications(
        [
            notification(
                metric="Errors",
                namespace="AWS/Lambda",
                name="tenantml-acme-dev-monitor-errors",
                value=2.0,
                threshold=0,
                dimensions=[{"name": "FunctionName", "value": "tenantml-acme-dev-monitor"}],
            )
        ],
        platform.context,
        now=T0,
    )

    # then
    assert outcome.retrain == "not-applicable"
    (alert,) = platform.alerts()
    assert alert["Subject"] == "[tenantml] acme/cancer v1: Errors ALARM"
    assert "no retrain" in alert["Message"]
    assert [v.version for v in platform.registry.list_model_versions()] == [1]
    assert read_history(platform.clients.s3, platform.resources.artifacts_bucket, MODEL) == []


def test_given_an_ok_transition_when_handled_then_a_short_recovered_message(platform):
    # when
    handle_alarm_notifications(
        [notification("OK", changed_at="2026-01-10T09:30:00.000+0000")], platform.context, now=T0
    )

    # then
    (alert,) = platform.alerts()
    assert alert["Subject"] == "[tenantml] acme/cancer v1: feature drift recovered"
    assert "back to OK since 2026-01-10T09:30:00.000+0000" in alert["Message"]
    assert [v.version for v in platform.registry.list_model_versions()] == [1]


def test_given_the_alert_cannot_be_published_then_the_transition_is_released_for_the_retry(platform):
    # given an alerts topic that does not exist (deleted, or a permissions slip)
    gone = platform.resources.model_copy(
        update={"alerts_topic_arn": platform.resources.alerts_topic_arn + "-gone"}
    )
    broken = dataclasses.replace(platform.context, resources=gone)

    # when the first delivery fails to publish, Lambda retries it once the topic is back
    with pytest.raises(ClientError):
        handle_alarm_notifications(
            [notification("OK", changed_at="2026-01-10T09:30:00.000+0000")], broken, now=T0
        )
    (outcome,) = handle_alarm_notifications(
        [notification("OK", changed_at="2026-01-10T09:30:00.000+0000")], platform.context, now=T0
    )

    # then the retry is not taken for a duplicate: the person is told once
    assert outcome.action == "alerted"
    assert len(platform.alerts()) == 1


def test_given_an_alarm_leaving_insufficient_data_for_ok_when_handled_then_nobody_is_told(platform):
    # given: what every new alarm sends once, as soon as it has data
    note = notification("OK", changed_at="2026-01-10T09:30:00.000+0000")
    note = note.model_copy(update={"old_state": "INSUFFICIENT_DATA"})

    # when
    (outcome,) = handle_alarm_notifications([note], platform.context, now=T0)

    # then
    assert outcome.action == "ignored"
    assert platform.alerts() == []


# --- the drift report ---------------------------------------------------------------------------


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
    handle_alarm_notifications([notification()], platform.context, now=T0)
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
    # the retrain on the same data did not beat the champion at the gate: v1 still serves
    assert "1 (champion)" in out and "569" in out
    # the worst feature of the window, with its PSI, is one the snapshot shifted
    (window,) = list_snapshots(platform.clients.s3, platform.resources.artifacts_bucket, MODEL)
    worst, psi = window.worst_feature
    assert worst in SHIFTED
    assert f"{worst} ({psi:.3f})" in out
    assert "tenantml-acme-dev-drift" in out and "ALARM" in out
    assert "started: run" in out and "alarm tenantml-acme-dev-drift" in out


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
