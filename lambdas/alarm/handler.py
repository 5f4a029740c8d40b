"""Alarm: a CloudWatch alarm changed state and notified the tenant's internal alarms topic.

Slim: for an ALARM on a model-health metric (drift, live quality, error rate, p99 latency in the tenant's
namespace) it takes the retrain cooldown (:mod:`pipelines.runs.cooldown`, a conditional S3 write)
and, if it won, starts the pipeline state machine with trigger ``retrain`` and the alarm as the
cause, on the newest dataset under ``incoming/``. Every decision is published to the ``alerts``
topic, where people subscribe. Platform alarms (function errors, dead letters) only alert.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from core.contract import LIVE_QUALITY_METRIC, is_platform_namespace
from pipelines.runs.cooldown import claim_cooldown
from pipelines.runs.execution_input import pipeline_input, retrain_run_id
from pipelines.runs.pipeline_start import (
    STATE_MACHINE_ENV,
    model_name,
    newest_dataset,
    required_env,
    start_pipeline,
)

logger = Logger()
#: the model-health metrics a new model can fix (live quality: the primary metric on labelled traffic)
RETRAINING_METRICS = frozenset({"DriftScore", "ErrorRate", "LatencyMs", LIVE_QUALITY_METRIC})
DEFAULT_COOLDOWN_MINUTES = 60
_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    """Made on first use (never at import), then reused by warm invocations."""
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def alarm_notifications(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The alarm state changes in an SNS event; other messages on the topic are skipped."""
    notes = []
    for record in SNSEvent(event).records:
        try:
            body = json.loads(record.sns.message)
        except ValueError:
            continue
        if isinstance(body, dict) and "AlarmName" in body and "NewStateValue" in body:
            notes.append(body)
    return notes


def retrains(note: dict[str, Any]) -> bool:
    trigger = note.get("Trigger") or {}
    namespace = trigger.get("Namespace")
    return trigger.get("MetricName") in RETRAINING_METRICS and (
        namespace is None or is_platform_namespace(namespace)
    )


def _cooldown_minutes(environ: Any) -> int:
    try:
        return int(
            json.loads(environ.get("TENANTML_MONITORING_SPEC") or "{}").get("retrain_cooldown_minutes")
        )
    except (TypeError, ValueError):
        return DEFAULT_COOLDOWN_MINUTES


def decide(note: dict[str, Any], environ: Any, now: datetime) -> dict[str, Any]:
    """Start a retrain for one ALARM notification unless the cooldown or missing data says no."""
    env = required_env(
        environ, STATE_MACHINE_ENV, "TENANTML_TENANT", "TENANTML_ARTIFACTS_BUCKET", "TENANTML_DATA_BUCKET"
    )
    model = model_name(environ)
    cause = {
        "alarm_name": note["AlarmName"],
        "metric": (note.get("Trigger") or {}).get("MetricName"),
        "threshold": (note.get("Trigger") or {}).get("Threshold"),
        "changed_at": note.get("StateChangeTime"),
        "reason": note.get("NewStateReason"),
    }
    data = newest_dataset(_client("s3"), env["TENANTML_DATA_BUCKET"])
    if data is None:
        return {
            "retrain": "skipped",
            "reason": f"no dataset under s3://{env['TENANTML_DATA_BUCKET']}/incoming/",
        }
    run_id = retrain_run_id(model, now)
    holder = {
        "run_id": run_id,
        "started_at": now.isoformat(),
        "until": (now + timedelta(minutes=_cooldown_minutes(environ))).isoformat(),
        "cause": cause,
    }
    winner = claim_cooldown(_client("s3"), env["TENANTML_ARTIFACTS_BUCKET"], model, holder, now)
    if winner is not holder:  # another alarm holds the cooldown (its run id may equal ours within a minute)
        return {
            "retrain": "skipped",
            "run_id": winner["run_id"],
            "reason": f"cooldown until {winner['until']} (retrain run {winner['run_id']})",
        }
    body = pipeline_input(
        run_id=run_id,
        tenant=env["TENANTML_TENANT"],
        model=model,
        trigger="retrain",
        bucket=data["bucket"],
        key=data["key"],
        version_id=data["version_id"],
        cause=cause,
    )
    outcome = start_pipeline(_client("stepfunctions"), env[STATE_MACHINE_ENV], body)
    return {"retrain": outcome, "run_id": run_id, "data": data}


def _alert(note: dict[str, Any], decision: dict[str, Any]) -> None:
    topic = os.environ.get("TENANTML_ALERTS_TOPIC_ARN")
    if not topic:
        return
    state = note["NewStateValue"]
    subject = f"[tenantml {os.environ.get('TENANTML_TENANT', '')}] {note['AlarmName']} is {state}"
    text = {"alarm": note["AlarmName"], "state": state, "reason": note.get("NewStateReason"), **decision}
    _client("sns").publish(TopicArn=topic, Subject=subject[:99], Message=json.dumps(text, indent=2))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcomes = []
    for note in alarm_notifications(event):
        state = note["NewStateValue"]
        # every alarm leaves INSUFFICIENT_DATA for OK once after it is created: only leaving ALARM is news
        if state not in ("ALARM", "OK") or (state == "OK" and note.get("OldStateValue") != "ALARM"):
            outcomes.append({"alarm": note["AlarmName"], "state": state, "action": "ignored"})
            continue
        decision: dict[str, Any] = {"retrain": "not-applicable"}
        if state == "ALARM" and retrains(note):
            decision = decide(note, os.environ, datetime.now(UTC))
        logger.info(f"alarm {note['AlarmName']} {state}: {decision}", extra=decision)
        _alert(note, decision)
        outcomes.append({"alarm": note["AlarmName"], "state": state, "action": "alerted", **decision})
    return {"outcomes": outcomes}
