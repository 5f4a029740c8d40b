"""Alerts a person can act on, published to the tenant's ``alerts`` SNS topic.

Two sources: a pipeline run failed (:class:`RunFailureAlert`), or a CloudWatch alarm changed
state (:class:`AlarmAlert` for ALARM, :class:`RecoveryAlert` for OK). Each message says which
tenant, model and version, what happened, what the platform did about it, what to do next and
where the reports are. The same fields travel as SNS message attributes so a subscriber (a chat
bot, a ticketing Lambda, an e-mail filter policy) can route on them without parsing the text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: SNS limits the subject to 100 printable ASCII characters without line breaks
_SUBJECT_LIMIT = 100
#: what to do, by failed step; the default covers steps not listed
_NEXT_STEPS = {
    "ingest": (
        "The data file could not be read. Check that it is a complete Parquet or CSV file within the "
        "size limit, then upload a corrected version to the same key under incoming/."
    ),
    "validate": (
        "The data failed its checks (see the validation report). Fix the export and upload a new "
        "version of the file under incoming/; the current champion keeps serving."
    ),
    "train": (
        "Training crashed. Read the train step log; if the data is fine, retry with "
        "`tenantml train --tenant {tenant} --data {data_uri}`."
    ),
}
_DEFAULT_NEXT_STEP = (
    "Read the step log and the run record; nothing was registered, the current champion keeps serving. "
    "Retry with `tenantml train --tenant {tenant} --data {data_uri}` once the cause is fixed."
)


class RunFailureAlert(BaseModel):
    """What an operator needs to know about one failed run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    model_name: str
    run_id: str
    step: str | None
    reason: str
    data_uri: str | None = None
    run_record_uri: str
    #: the most useful report for this failure (validation report, step log), if one was written
    report_uri: str | None = None
    log_uri: str | None = None
    #: what the failed run had created and removed again (model artifacts, model versions)
    rolled_back: list[str] = []

    @property
    def subject(self) -> str:
        text = f"tenantml {self.tenant}/{self.model_name}: run {self.run_id} failed at {self.step or 'start'}"
        text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
        return text[:_SUBJECT_LIMIT]

    def body(self) -> str:
        next_step = _NEXT_STEPS.get(self.step or "", _DEFAULT_NEXT_STEP).format(
            tenant=self.tenant, data_uri=self.data_uri or "<s3://data-bucket/incoming/...>"
        )
        lines = [
            (
                f"Pipeline run {self.run_id} of model {self.model_name!r} (tenant {self.tenant}) failed "
                f"in step {self.step or '(before the first step)'}."
            ),
            "",
            "Reason:",
            *(f"  {line}" for line in self.reason.strip().splitlines()[:40]),
            "",
            (
                "No model version was registered and no model artifact was kept; the current champion, "
                "if any, is unchanged."
            ),
            *(f"  removed: {item}" for item in self.rolled_back),
            "",
            f"What to do: {next_step}",
            "",
            f"Data:       {self.data_uri or 'unknown'}",
            f"Run record: {self.run_record_uri}",
        ]
        if self.report_uri:
            lines.append(f"Report:     {self.report_uri}")
        if self.log_uri:
            lines.append(f"Step log:   {self.log_uri}")
        return "\n".join(lines) + "\n"

    def attributes(self) -> dict[str, dict[str, str]]:
        values = {
            "tenant": self.tenant,
            "model": self.model_name,
            "run_id": self.run_id,
            "step": self.step or "none",
        }
        return {
            f"tenantml.{name}": {"DataType": "String", "StringValue": value} for name, value in values.items()
        }


def publish_run_failure(sns: Any, topic_arn: str, alert: RunFailureAlert) -> str:
    """Publish ``alert`` to the tenant's topic; return the SNS message id."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=alert.subject,
        Message=alert.body(),
        MessageAttributes=alert.attributes(),
    )
    return str(response["MessageId"])


class AlarmAlert(BaseModel):
    """An alarm went to ALARM: what, since when, why (drifted features), what happens now, where to look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    model_name: str
    #: the version serving when the alarm fired (champion alias, else the newest snapshot's)
    version: str | None
    alarm_name: str
    kind: str
    title: str
    metric: str
    value: float | None = None
    threshold: float | None = None
    since: str | None = None
    reason: str = ""
    description: str | None = None
    #: (feature, PSI) above the drift threshold, worst first
    drifted_features: list[tuple[str, float]] = []
    drift_threshold: float | None = None
    #: what the platform is doing about it (retrain started, skipped because of the cooldown, ...)
    action: str = "nothing yet"
    report_uri: str | None = None

    @property
    def subject(self) -> str:
        version = f" v{self.version}" if self.version else ""
        return _subject(f"[tenantml] {self.tenant}/{self.model_name}{version}: {self.title} ALARM")

    def body(self) -> str:
        version = self.version or "unknown (no champion and no monitoring snapshot yet)"
        lines = [
            (
                f"{self.title.capitalize()} of model {self.model_name!r} (tenant {self.tenant}, version {version}) "
                "is in ALARM."
            ),
            "",
            f"Alarm:     {self.alarm_name}",
            f"Metric:    {self.metric} = {_number(self.value)} (threshold {_number(self.threshold)})",
            f"Since:     {self.since or 'unknown'}",
        ]
        if self.description:
            lines.append(f"About:     {self.description}")
        if self.reason:
            lines.append(f"CloudWatch: {self.reason}")
        lines.append("")
        if self.drifted_features:
            limit = f" (PSI above {self.drift_threshold:g})" if self.drift_threshold is not None else ""
            lines.append(f"Drifted features, worst first{limit}:")
            lines += [f"  {name:<32} PSI {score:.3f}" for name, score in self.drifted_features[:20]]
            if len(self.drifted_features) > 20:
                lines.append(f"  ... and {len(self.drifted_features) - 20} more (see the report)")
        elif self.kind == "drift":
            lines.append("Drifted features: none above the threshold in the latest monitoring snapshot.")
        lines += ["", f"What the platform does: {self.action}", ""]
        if self.report_uri:
            lines.append(f"Drift report: {self.report_uri}")
        else:
            lines.append("Drift report: none yet (no monitoring snapshot for this model)")
        lines.append(f"Render it locally: tenantml report --tenant {self.tenant}")
        lines.append(f"Watch it live:     tenantml monitor --tenant {self.tenant}")
        return "\n".join(lines) + "\n"

    def attributes(self) -> dict[str, dict[str, str]]:
        return _attributes(
            {
                "tenant": self.tenant,
                "model": self.model_name,
                "version": self.version or "unknown",
                "metric": self.metric,
                "state": "ALARM",
                "alarm": self.alarm_name,
            }
        )


class RecoveryAlert(BaseModel):
    """An alarm went back to OK."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    model_name: str
    version: str | None
    alarm_name: str
    metric: str
    title: str
    since: str | None = None

    @property
    def subject(self) -> str:
        version = f" v{self.version}" if self.version else ""
        return _subject(f"[tenantml] {self.tenant}/{self.model_name}{version}: {self.title} recovered")

    def body(self) -> str:
        return (
            f"{self.title.capitalize()} of model {self.model_name!r} (tenant {self.tenant}, version "
            f"{self.version or 'unknown'}) is back to OK since {self.since or 'now'} (alarm {self.alarm_name}).\n"
        )

    def attributes(self) -> dict[str, dict[str, str]]:
        return _attributes(
            {
                "tenant": self.tenant,
                "model": self.model_name,
                "version": self.version or "unknown",
                "metric": self.metric,
                "state": "OK",
                "alarm": self.alarm_name,
            }
        )


def publish_alert(sns: Any, topic_arn: str, alert: AlarmAlert | RecoveryAlert) -> str:
    """Publish an alarm alert to the tenant's ``alerts`` topic; return the SNS message id."""
    response = sns.publish(
        TopicArn=topic_arn, Subject=alert.subject, Message=alert.body(), MessageAttributes=alert.attributes()
    )
    return str(response["MessageId"])


def _subject(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:_SUBJECT_LIMIT]


def _number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.4g}"


def _attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        f"tenantml.{name}": {"DataType": "String", "StringValue": value} for name, value in values.items()
    }


__all__ = ["AlarmAlert", "RecoveryAlert", "RunFailureAlert", "publish_alert", "publish_run_failure"]
