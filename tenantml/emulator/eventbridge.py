"""EventBridge in the emulator: rule targets moto cannot reach, schedules, and SageMaker job events.

moto 5.2.5 matches events against rules (``Rule.send_to_targets``) but delivers only to log
groups, archives, SQS queues and other buses; any other target raises ``NotImplementedError``
inside ``PutEvents``, and schedule rules never fire. :func:`enable` extends that one router
(no second one) in the emulator's moto extension layer:

- **SNS topics** get the event as the message (published in the topic's backend, so SQS and
  Lambda subscribers receive it as from any publish) when the topic policy allows
  ``events.amazonaws.com`` to ``sns:Publish`` for the rule (``aws:SourceArn``,
  ``aws:SourceAccount``), as on AWS; otherwise the event is dropped and counted
  (:func:`failed_invocations`);
- **Lambda functions** are invoked asynchronously by the emulator's runtime (retries, DLQ);
- **state machines** get ``StartExecution`` with the event as input, **signed as the target's
  ``RoleArn``** with credentials from the emulator's STS, so under IAM enforcement the role must
  allow ``states:StartExecution`` on the machine (a target without a role is refused, as the
  EventBridge API refuses it). Deliveries run in the background, as EventBridge's are; a failed
  one is logged (AWS counts it in ``FailedInvocations``).

moto's empty event pattern matches every event, so a schedule rule (no pattern) would also fire
on every ``PutEvents``; here it receives only its own scheduled events, as on AWS.

A :class:`Scheduler` fires ``rate(...)`` and ``cron(...)`` rules (``Scheduled Event`` from
``aws.events``, ``resources`` = the rule's ARN) once per period. :func:`job_state_change` is a
:class:`~tenantml.emulator.jobs.JobRunner` listener that puts ``SageMaker Training Job State
Change`` / ``SageMaker Processing Job State Change`` events (source ``aws.sagemaker``, the job's
description as ``detail``) on the job account's default bus whenever a job's status changes.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("tenantml.emulator.eventbridge")

#: target services this module delivers to (moto keeps the others)
OUR_TARGETS = ("sns", "lambda", "states")
SAGEMAKER_SOURCE = "aws.sagemaker"
DETAIL_TYPES = {
    "training": "SageMaker Training Job State Change",
    "processing": "SageMaker Processing Job State Change",
}

EVENTS_PRINCIPAL = "events.amazonaws.com"
SCHEDULED_EVENT = "Scheduled Event"

_state: dict[str, Any] = {"endpoint": None, "patched": False, "scheduler": None}
_lock = threading.Lock()
#: rule ARN -> deliveries that failed (AWS's FailedInvocations)
_failed: dict[str, int] = {}


def is_scheduled_event(rule: Any, event: dict[str, Any]) -> bool:
    """Whether ``event`` is the schedule's own event for ``rule`` (what :class:`Scheduler` sends it)."""
    return (
        event.get("source") == "aws.events"
        and event.get("detail-type") == SCHEDULED_EVENT
        and event.get("resources") == [rule.arn]
    )


# --- delivery -------------------------------------------------------------------------------


def _target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: ``Input``, ``InputPath``, ``InputTransformer`` or the event."""
    from moto.events.models import EventTemplateParser

    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        value: Any = event
        for part in str(target["InputPath"]).removeprefix("$").strip(".").split("."):
            value = value.get(part) if isinstance(value, dict) and part else value
        return value
    transformer = target.get("InputTransformer")
    if transformer and transformer.get("InputTemplate"):
        return transform(transformer["InputTemplate"], transformer.get("InputPathsMap") or {}, event)
    if transformer:
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
    return event


def transform(template: str, paths: dict[str, str], event: dict[str, Any]) -> Any:
    """An input transformer as EventBridge applies it.

    moto's parser pastes values in unescaped and then parses the result as JSON, so a failure
    reason holding a quote or a newline broke the delivery. EventBridge escapes a string value
    (a template quotes its string placeholders), writes other values as JSON, leaves a path the
    event lacks empty, and sends a template that is not JSON (plain text) as that text.
    """
    from jsonpath_ng.ext import parse

    text = template
    for name, path in paths.items():
        found = parse(path).find(event)
        value = found[0].value if found else ""
        rendered = json.dumps(value, default=str)[1:-1] if isinstance(value, str) else json.dumps(value)
        text = text.replace(f"<{name}>", rendered)
    text = text.replace("<aws.events.event.json>", json.dumps(event, default=str))
    try:
        return json.loads(text)
    except ValueError:
        return text


def _start_execution(machine_arn: str, role_arn: str | None, payload: Any, region: str) -> None:
    import boto3
    from botocore.config import Config

    from tenantml.emulator.iam_enforcement import role_credentials

    if not role_arn:
        log.warning("EventBridge target %s has no RoleArn; nothing was started", machine_arn)
        return
    credentials = role_credentials(role_arn, "EventBridge", region)
    client = boto3.client(
        "stepfunctions",
        region_name=region,
        endpoint_url=_state["endpoint"],
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )
    # EventBridge names each execution itself (moto would name it "None" and refuse the second)
    client.start_execution(
        stateMachineArn=machine_arn, name=str(uuid.uuid4()), input=json.dumps(payload, default=str)
    )


def _invoke_function(function_arn: str, payload: Any) -> None:
    from tenantml.emulator.runtime.moto_hooks import find_function, installed_runtime

    runtime, spec = installed_runtime(), find_function(function_arn)
    if runtime is None or spec is None:
        log.warning(
            "EventBridge could not deliver to %s: no such function or no Lambda runtime", function_arn
        )
        return
    runtime.invoke_async(spec, json.dumps(payload, default=str).encode(), source="events")


class DeliveryRefusedError(Exception):
    """The target's resource policy does not let EventBridge deliver for this rule."""


def _publish(topic_arn: str, payload: Any, rule_arn: str | None) -> None:
    from moto.sns.models import sns_backends

    from tenantml.emulator.resource_policies import service_allowed

    account, region = topic_arn.split(":")[4], topic_arn.split(":")[3]
    backend = sns_backends[account][region]
    topic = backend.get_topic(topic_arn)
    # EventBridge publishes as events.amazonaws.com: only the topic policy can let it (AWS drops the
    # event otherwise and counts a FailedInvocation), for this very rule when it names aws:SourceArn
    context = {"aws:SourceArn": rule_arn or "", "aws:SourceAccount": (rule_arn or "::::").split(":")[4]}
    if not service_allowed(topic._policy_json, EVENTS_PRINCIPAL, "sns:Publish", topic_arn, context):
        raise DeliveryRefusedError(
            f"the policy of topic {topic_arn} does not allow {EVENTS_PRINCIPAL} to sns:Publish"
            f" for rule {rule_arn}"
        )
    message = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    backend.publish(message=message, arn=topic_arn)


def failed_invocations(rule_arn: str) -> int:
    """How many deliveries of ``rule_arn`` failed (AWS's ``FailedInvocations`` metric of the rule)."""
    with _lock:
        return _failed.get(rule_arn, 0)


def _in_background(what: str, call: Callable[[], None], rule_arn: str | None = None) -> None:
    def run() -> None:
        try:
            call()
        except Exception as err:  # noqa: BLE001 - a failed delivery never fails PutEvents (AWS: FailedInvocations)
            log.warning("EventBridge delivery to %s failed: %s", what, err)
            if rule_arn:
                with _lock:
                    _failed[rule_arn] = _failed.get(rule_arn, 0) + 1

    threading.Thread(target=run, name="tenantml-eventbridge", daemon=True).start()


def _service(target: dict[str, Any]) -> str:
    parts = str(target.get("Arn", "")).split(":")
    return parts[2] if len(parts) > 2 else ""


def deliver(target: dict[str, Any], event: dict[str, Any], region: str, rule_arn: str | None = None) -> None:
    """Send ``event`` (already matched by the rule ``rule_arn``) to one SNS, Lambda or Step Functions target."""
    arn = str(target["Arn"])
    service = _service(target)
    if isinstance(event.get("time"), (int, float)):  # moto keeps epoch seconds; AWS sends ISO 8601
        event["time"] = datetime.fromtimestamp(float(event["time"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = _target_input(target, event)
    if service == "sns":
        _in_background(arn, lambda: _publish(arn, payload, rule_arn), rule_arn)
    elif service == "lambda":
        _in_background(arn, lambda: _invoke_function(arn, payload), rule_arn)
    elif service == "states":
        _in_background(arn, lambda: _start_execution(arn, target.get("RoleArn"), payload, region), rule_arn)


def _patch_moto() -> None:
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        # moto's empty pattern matches every event: a schedule rule would fire on each PutEvents
        schedule_only = self.scheduled_expression and not self.event_pattern.get_pattern()
        if schedule_only and not is_scheduled_event(self, original_event):
            return
        ours = [t for t in self.targets if _service(t) in OUR_TARGETS]
        rest = [t for t in self.targets if t not in ours]
        if rest:
            others = copy.copy(self)  # moto's router on the targets it knows, without touching the rule
            others.targets = rest
            original(others, original_event, transform_input)
        for target in ours:
            deliver(target, copy.deepcopy(original_event), self.region_name, self.arn)

    Rule.send_to_targets = send_to_targets


def put_event(
    account_id: str, region: str, source: str, detail_type: str, detail: dict, resources: list[str]
) -> None:
    """Put one event on the account's default bus, as the AWS service ``source`` does."""
    from moto.events.models import events_backends

    entries = events_backends[account_id][region].put_events(
        [
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "Resources": resources,
            }
        ]
    )
    if entries and "ErrorCode" in entries[0]:
        log.warning("event %s from %s was refused: %s", detail_type, source, entries[0])


# --- SageMaker job events -------------------------------------------------------------------


def _millis(value: Any) -> Any:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else value


def job_detail(job: Any, status: str) -> dict[str, Any]:
    """The ``detail`` of a job state change: the job's description, as AWS documents the event."""
    record, request = job.record, job.request
    prefix = "Training" if job.kind == "training" else "Processing"
    detail: dict[str, Any] = {
        f"{prefix}JobName": job.name,
        f"{prefix}JobArn": record.arn,
        f"{prefix}JobStatus": status,
        "RoleArn": request.get("RoleArn"),
        "CreationTime": _millis(getattr(record, "creation_time", None)),
        "LastModifiedTime": _millis(getattr(record, "last_modified_time", None)),
        "Environment": request.get("Environment") or {},
    }
    if getattr(record, "failure_reason", None):
        detail["FailureReason"] = record.failure_reason
    if job.kind == "training":
        detail.update(
            {
                "SecondaryStatus": record.secondary_status,
                "AlgorithmSpecification": request.get("AlgorithmSpecification"),
                "HyperParameters": request.get("HyperParameters") or {},
                "InputDataConfig": request.get("InputDataConfig") or [],
                "OutputDataConfig": request.get("OutputDataConfig"),
                "ResourceConfig": request.get("ResourceConfig"),
                "StoppingCondition": request.get("StoppingCondition"),
                "TrainingStartTime": _millis(record.training_start_time),
                "TrainingEndTime": _millis(record.training_end_time),
            }
        )
        if status == "Completed" and record.model_artifacts:
            detail["ModelArtifacts"] = record.model_artifacts
    else:
        detail.update(
            {
                "AppSpecification": request.get("AppSpecification"),
                "ProcessingInputs": request.get("ProcessingInputs") or [],
                "ProcessingOutputConfig": request.get("ProcessingOutputConfig"),
                "ProcessingResources": request.get("ProcessingResources"),
                "StoppingCondition": request.get("StoppingCondition"),
                "ProcessingStartTime": _millis(record.processing_start_time),
                "ProcessingEndTime": _millis(record.processing_end_time),
            }
        )
        if getattr(record, "exit_message", None):
            detail["ExitMessage"] = record.exit_message
    return {k: v for k, v in detail.items() if v is not None}


def job_state_change(job: Any, status: str) -> None:
    """A :class:`~tenantml.emulator.jobs.JobRunner` listener: the job's state change on the default bus."""
    put_event(
        job.account_id,
        job.region,
        SAGEMAKER_SOURCE,
        DETAIL_TYPES[job.kind],
        job_detail(job, status),
        [job.record.arn],
    )


# --- schedules ------------------------------------------------------------------------------

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _cron_field(spec: str, value: int, low: int) -> bool:
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, 10_000
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = int(part)
            end = start if step == 1 else 10_000
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


def cron_matches(expression: str, moment: datetime) -> bool:
    """``cron(minutes hours day-of-month month day-of-week year)`` at ``moment`` (UTC, numeric fields only)."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        return False
    minute, hour, dom, month, dow, year = fields
    weekday = (moment.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday
    return (
        _cron_field(minute, moment.minute, 0)
        and _cron_field(hour, moment.hour, 0)
        and _cron_field(dom, moment.day, 1)
        and _cron_field(month, moment.month, 1)
        and _cron_field(dow, weekday, 1)
        and _cron_field(year, moment.year, 1970)
    )


class Scheduler:
    """Fires the schedule rules of every account and region once per period (a daemon thread)."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        #: rule ARN -> when it last fired (or, for a rule first seen, when it was first seen)
        self._last: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="tenantml-eventbridge-scheduler", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick(datetime.now(UTC))
            except Exception:  # the scheduler keeps running whatever one rule does
                log.exception("the EventBridge scheduler failed a tick")

    def _due(self, rule: Any, now: datetime) -> bool:
        expression = str(rule.scheduled_expression).strip()
        last = self._last.get(rule.arn)
        if last is None:
            self._last[rule.arn] = now  # first seen: a rate rule fires one period later
            return False
        rate = _RATE.match(expression)
        if rate:
            period = timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2).rstrip("s")])
            return now - last >= period
        if expression.startswith("cron("):
            minute = now.replace(second=0, microsecond=0)
            return minute > last.replace(second=0, microsecond=0) and cron_matches(expression, minute)
        return False

    def tick(self, now: datetime) -> int:
        """Fire every schedule rule due at ``now``; returns how many fired."""
        from moto.events.models import events_backends

        fired = 0
        for account, regions in list(events_backends.items()):
            for region, backend in list(regions.items()):
                for bus in list(backend.event_buses.values()):
                    for rule in list(bus.rules.values()):
                        if not rule.scheduled_expression or rule.state != "ENABLED":
                            continue
                        if not self._due(rule, now):
                            continue
                        self._last[rule.arn] = now
                        event = {
                            "version": "0",
                            "id": str(uuid.uuid4()),
                            "detail-type": SCHEDULED_EVENT,
                            "source": "aws.events",
                            "account": account,
                            "time": now.timestamp(),  # moto's router converts it, as deliver() does
                            "region": region,
                            "resources": [rule.arn],
                            "detail": {},
                        }
                        rule.send_to_targets(event)
                        fired += 1
        return fired


def enable(endpoint: str, *, schedules: bool = True) -> Scheduler | None:
    """Deliver to SNS, Lambda and Step Functions targets, and fire schedules (process-wide; idempotent)."""
    with _lock:
        _state["endpoint"] = endpoint.rstrip("/")
        if not _state["patched"]:
            _patch_moto()
            _state["patched"] = True
        if schedules and _state["scheduler"] is None:
            _state["scheduler"] = Scheduler().start()
        return _state["scheduler"]


__all__ = [
    "DETAIL_TYPES",
    "EVENTS_PRINCIPAL",
    "OUR_TARGETS",
    "SAGEMAKER_SOURCE",
    "Scheduler",
    "cron_matches",
    "deliver",
    "enable",
    "failed_invocations",
    "is_scheduled_event",
    "job_detail",
    "job_state_change",
    "put_event",
    "transform",
]
