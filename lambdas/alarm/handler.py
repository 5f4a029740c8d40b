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

from core.contract import LIVE_QUALITY_METRIC, MONITORING_PREFIX, is_platform_namespace
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
#: what people call the metric an alarm watches
METRIC_KINDS = {
    "DriftScore": "drift",
    LIVE_QUALITY_METRIC: "live quality",
    "ErrorRate": "error rate",
    "LatencyMs": "latency",
}
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


def latest_snapshot(s3: Any, bucket: str, model: str) -> dict[str, Any] | None:
    """The newest monitoring window the monitor stored (``monitoring/<model>/<version>/<start>.json``)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{MONITORING_PREFIX}/{model}/"
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    if not keys:
        return None
    newest = max(keys, key=lambda k: (k.rsplit("/", 1)[-1], k))
    return json.loads(s3.get_object(Bucket=bucket, Key=newest)["Body"].read())


def alarm_cause(note: dict[str, Any], snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """Why a retrain is asked for, in the shape ``tenantml monitor`` and ``models show`` read."""
    trigger = note.get("Trigger") or {}
    cause: dict[str, Any] = {
        "alarm_name": note["AlarmName"],
        "metric": trigger.get("MetricName") or "unknown",
        "threshold": trigger.get("Threshold"),
        "changed_at": note.get("StateChangeTime"),
        "drifted_features": [],
    }
    if snapshot is not None:
        threshold = float(snapshot.get("drift_threshold") or 0.0)
        scored = [(n, f.get("psi")) for n, f in (snapshot.get("features") or {}).items()]
        drifted = sorted(((n, p) for n, p in scored if p is not None and p > threshold), key=lambda i: -i[1])
        cause.update(version=snapshot.get("model_version"), drifted_features=[n for n, _ in drifted])
        if cause["metric"] == "DriftScore":
            cause["value"] = snapshot.get("drift_score")
    return cause


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
    cause = alarm_cause(note, latest_snapshot(_client("s3"), env["TENANTML_ARTIFACTS_BUCKET"], model))
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
    decision = {"retrain": outcome, "run_id": run_id, "data": data, "cause": cause}
    _write_history(env["TENANTML_ARTIFACTS_BUCKET"], model, now, holder, data)
    return decision


def _write_history(
    bucket: str, model: str, now: datetime, holder: dict[str, Any], data: dict[str, Any]
) -> None:
    """The started retrain, as ``tenantml monitor`` lists the history (``retraining/<model>/history/``)."""
    entry = {
        "model_name": model,
        "status": "started",
        "cause": holder["cause"],
        "decided_at": now.isoformat(),
        "run_id": holder["run_id"],
        "cooldown_until": holder["until"],
        "data_uri": f"s3://{data['bucket']}/{data['key']}",
    }
    key = f"retraining/{model}/history/{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{holder['run_id']}.json"
    _client("s3").put_object(
        Bucket=bucket, Key=key, Body=json.dumps(entry).encode(), ContentType="application/json"
    )


def _alert(note: dict[str, Any], decision: dict[str, Any]) -> None:
    topic = os.environ.get("TENANTML_ALERTS_TOPIC_ARN")
    if not topic:
        return
    _client("sns").publish(
        TopicArn=topic, **alert_message(note, decision, os.environ.get("TENANTML_TENANT", ""))
    )


def alert_message(note: dict[str, Any], decision: dict[str, Any], tenant: str) -> dict[str, str]:
    """What people read: which alarm, why, what the platform does about it, where to look."""
    state = note["NewStateValue"]
    metric = (note.get("Trigger") or {}).get("MetricName") or ""
    kind = METRIC_KINDS.get(metric, "alarm")
    lines = [f"{tenant}: {kind} {state} ({note['AlarmName']}) since {note.get('StateChangeTime') or '?'}"]
    if note.get("NewStateReason"):
        lines.append(f"Why: {note['NewStateReason']}")
    drifted = (decision.get("cause") or {}).get("drifted_features") or []
    if drifted:
        lines.append(f"Drifted features, worst first: {', '.join(drifted)}")
    retrain = decision.get("retrain")
    if retrain in ("started", "duplicate"):
        lines.append(
            f"Retrain: run {decision.get('run_id')} started; the new version faces the evaluation gate"
        )
    elif retrain == "skipped":
        lines.append(f"Retrain: skipped, {decision.get('reason')}")
    if kind in ("drift", "live quality"):
        lines.append(
            f"See: tenantml report --tenant {tenant} (the drift report), tenantml monitor --tenant {tenant}"
        )
    subject = f"[tenantml {tenant}] {kind} {state}: {note['AlarmName']}"
    return {"Subject": subject[:99], "Message": "\n".join(lines)}


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
