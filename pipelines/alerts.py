"""Alerts a person can act on, published to the tenant's SNS topic when a pipeline run fails.

The message says which tenant, model and run failed, in which step, why, what to do next and
where the run's reports and logs are. The same fields travel as SNS message attributes so a
subscriber (a chat bot, a ticketing Lambda) can route on them without parsing the text.
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


__all__ = ["RunFailureAlert", "publish_run_failure"]
