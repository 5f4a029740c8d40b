"""The emulator's CloudWatch alarm evaluation: moto stores alarms but never evaluates them.

:class:`AlarmEvaluator` runs a background thread (one evaluation a second by default) that reads
every metric alarm and the raw metric data from moto's in-process backends, evaluates each alarm
with :mod:`tenantml.emulator.alarm_semantics`, and on a state change does what CloudWatch does:

* sets the alarm's state in moto, so ``DescribeAlarms`` shows state, reason and reason data;
* records the transition and every action it ran for ``DescribeAlarmHistory``, which moto 5.2.5
  lacks and this module adds (:func:`install_alarm_history`);
* publishes CloudWatch's alarm notification JSON (subject ``ALARM: "name" in Region``) to each
  SNS topic of ``AlarmActions`` / ``OKActions`` / ``InsufficientDataActions``, through the
  emulator's own SNS API, so subscriptions (SQS queues, the Lambda runtime's functions) receive
  it exactly as any publish.

Where it departs from CloudWatch (also in the README): alarms on metric math (``Metrics``) and
composite alarms are not evaluated; actions other than SNS topics are recorded as failed in the
history; a new alarm starts in INSUFFICIENT_DATA (moto says OK) and an updated alarm keeps its
state, as in CloudWatch. Evaluation is every ``interval`` seconds rather than once a period, and at
once (within ``wake_interval``, 0.1 s) when new metric data arrives; it includes the in-progress
period (see :mod:`~tenantml.emulator.alarm_semantics`), so a breaching datum turns into a
notification within about 0.1-0.2 s.

Needs the emulator in this process (``server.start``); moto is pinned because of the backend
attributes read here (``alarms``, ``metric_data``, ``Alarm.update_state``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import AlarmDefinitionError, EmulatorError, Problem
from tenantml.emulator.alarm_semantics import (
    AlarmDefinition,
    AlarmState,
    PeriodAccumulator,
    PeriodStats,
    epoch,
    evaluate,
    evaluation_range,
    iso_millis,
    period_start,
)

log = logging.getLogger(__name__)

#: the reason moto gives a freshly created (or re-put) alarm, whose state it sets to OK
_MOTO_INITIAL_REASON = "Unchecked: Initial alarm creation"
#: every valid alarm period (10, 20, 30, n * 60 s) is a multiple of this, so buckets of it add up to any period
_BUCKET_SECONDS = 10
#: raw data older than this is dropped from the index (periods x evaluation periods is at most one day)
_KEEP_SECONDS = 2 * 86_400
SNS_SUBJECT_LIMIT = 100

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


@functools.lru_cache(maxsize=1)
def _region_names() -> dict[str, str]:
    import botocore.loaders

    names: dict[str, str] = {}
    for partition in botocore.loaders.create_loader().load_data("endpoints")["partitions"]:
        for code, region in partition.get("regions", {}).items():
            names[code] = region.get("description", code)
    return names


def region_long_name(region: str) -> str:
    """``US East (N. Virginia)`` for ``us-east-1``: the name CloudWatch's notifications carry."""
    return _region_names().get(region, region)


def definition_of(alarm: Any) -> AlarmDefinition:
    """The evaluation settings of a moto ``Alarm``; :class:`AlarmDefinitionError` if unsupported."""
    return AlarmDefinition(
        name=alarm.name,
        period=int(alarm.period or 0),
        evaluation_periods=int(alarm.evaluation_periods or 0),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        threshold=float(alarm.threshold if alarm.threshold is not None else math.nan),
        comparison_operator=alarm.comparison_operator,
        statistic=alarm.statistic or None,
        extended_statistic=alarm.extended_statistic or None,
        treat_missing_data=alarm.treat_missing_data or "missing",
        evaluate_low_sample_count_percentile=alarm.evaluate_low_sample_count_percentile or None,
    )


def _dimensions_key(dimensions: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(d.name), str(d.value)) for d in dimensions or ()))


@dataclass(frozen=True)
class Transition:
    """One alarm state change the evaluator made."""

    account_id: str
    region: str
    alarm_name: str
    old_state: AlarmState
    new_state: AlarmState
    reason: str
    changed_at: datetime
    #: ARNs notified, and ARNs whose action failed
    notified: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass
class _Known:
    """What the evaluator last saw of one alarm (moto replaces the object on every PutMetricAlarm)."""

    alarm: Any
    state: str
    updated: datetime


@dataclass
class _BackendView:
    """The evaluator's index over one moto CloudWatch backend (one account and region)."""

    backend: Any
    account_id: str
    region: str
    scanned: int = 0
    #: series -> unit -> 10 s bucket start -> accumulator
    series: dict[SeriesKey, dict[str | None, dict[int, PeriodAccumulator]]] = field(default_factory=dict)
    known: dict[str, _Known] = field(default_factory=dict)
    pruned_at: float = 0.0

    def ingest(self, now_s: float) -> None:
        """Index the data points moto received since the last call (its list only ever grows)."""
        data = self.backend.metric_data
        if len(data) < self.scanned:  # not expected: moto replaces the backend on reset
            self.series.clear()
            self.scanned = 0
        new = data[self.scanned :]
        self.scanned += len(new)
        for datum in new:
            key = (datum.namespace, datum.name, _dimensions_key(datum.dimensions))
            bucket = period_start(epoch(datum.timestamp), _BUCKET_SECONDS)
            acc = (
                self.series.setdefault(key, {})
                .setdefault(datum.unit, {})
                .setdefault(bucket, PeriodAccumulator())
            )
            if hasattr(datum, "sample_count"):
                acc.add_statistic_set(
                    float(datum.sample_count), float(datum.sum), float(datum.min), float(datum.max)
                )
            else:
                acc.add_value(float(datum.value))
        if now_s - self.pruned_at > 60:
            self.pruned_at = now_s
            oldest = now_s - _KEEP_SECONDS
            for units in self.series.values():
                for buckets in units.values():
                    for start in [s for s in buckets if s < oldest]:
                        del buckets[start]

    def periods(self, alarm: Any, definition: AlarmDefinition, now: datetime) -> dict[int, PeriodStats]:
        """Per-period statistics of the alarm's metric (exact dimension set, and unit if it names one)."""
        units = self.series.get((alarm.namespace, alarm.metric_name, _dimensions_key(alarm.dimensions)))
        if not units:
            return {}
        wanted = [b for u, b in units.items() if alarm.unit in (None, u)]
        out: dict[int, PeriodStats] = {}
        for start in evaluation_range(definition, now):
            acc = PeriodAccumulator()
            for buckets in wanted:
                for sub in range(start, start + definition.period, _BUCKET_SECONDS):
                    part = buckets.get(sub)
                    if part is not None:
                        acc.merge(part)
            if acc.count > 0:
                out[start] = acc.freeze()
        return out


def _cloudwatch_backends() -> Iterator[tuple[str, str, Any]]:
    """Every moto CloudWatch backend that exists, without creating any (plain ``dict`` access)."""
    from moto.cloudwatch.models import cloudwatch_backends

    for account_id, per_region in list(dict.items(cloudwatch_backends)):
        for region, backend in list(dict.items(per_region)):
            yield account_id, region, backend


def _data_fingerprint() -> tuple[tuple[int, int, int], ...]:
    """Per backend with alarms: (identity, data points received, alarms); moto's lists only grow."""
    return tuple(
        (id(backend), len(backend.metric_data), len(backend.alarms))
        for _, _, backend in _cloudwatch_backends()
        if backend.alarms
    )


# --- DescribeAlarmHistory ---------------------------------------------------------------------

_HISTORY_ATTR = "tenantml_alarm_history"


def _history(backend: Any) -> list[dict[str, Any]]:
    items = getattr(backend, _HISTORY_ATTR, None)
    if items is None:
        items = []
        setattr(backend, _HISTORY_ATTR, items)
    return items


_history_installed = False


def install_alarm_history() -> None:
    """Answer ``DescribeAlarmHistory`` from the items the evaluator records (moto 5.2.5 answers 500).

    Filters: AlarmName, AlarmTypes, HistoryItemType, StartDate, EndDate, ScanBy, MaxRecords (no
    NextToken: a laptop's history fits one page). Process-wide and idempotent.
    """
    global _history_installed
    if _history_installed:
        return
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    def describe_alarm_history(self: Any) -> Any:
        name = self._get_param("AlarmName")
        types = self._get_param("AlarmTypes") or []
        item_type = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        newest_first = (self._get_param("ScanBy") or "TimestampDescending") == "TimestampDescending"
        limit = int(self._get_param("MaxRecords") or 100)
        items = [
            item
            for item in list(_history(self.cloudwatch_backend))
            if (not name or item["AlarmName"] == name)
            and (not types or item["AlarmType"] in types)
            and (not item_type or item["HistoryItemType"] == item_type)
            and (start is None or item["Timestamp"] >= _aware(start))
            and (end is None or item["Timestamp"] <= _aware(end))
        ]
        items.sort(key=lambda i: i["Timestamp"], reverse=newest_first)
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    CloudWatchResponse.describe_alarm_history = describe_alarm_history
    _history_installed = True


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


# --- notifications ----------------------------------------------------------------------------


def notification_message(
    alarm: Any, account_id: str, region: str, old: str, new: str, reason: str, changed_at: datetime
) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an SNS alarm action."""
    if alarm.extended_statistic:
        statistic = {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic}
    else:
        statistic = {"StatisticType": "Statistic", "Statistic": str(alarm.statistic or "").upper()}
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": iso_millis(_aware(alarm.configuration_updated_timestamp)),
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": iso_millis(changed_at),
        "Region": region_long_name(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            **statistic,
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions or ()],
            "Period": int(alarm.period),
            "EvaluationPeriods": int(alarm.evaluation_periods),
            "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": float(alarm.threshold),
            "TreatMissingData": alarm.treat_missing_data or "missing",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        },
    }


def notification_subject(state: str, alarm_name: str, region: str) -> str:
    """``ALARM: "name" in US East (N. Virginia)``, cut to SNS's 100-character subject limit."""
    return f'{state}: "{alarm_name}" in {region_long_name(region)}'[:SNS_SUBJECT_LIMIT]


#: publishes one message to an action ARN; raises on failure
Publisher = Callable[[str, str, str], None]


# --- the evaluator ----------------------------------------------------------------------------

_running_lock = threading.Lock()
_running: AlarmEvaluator | None = None


class AlarmEvaluator:
    """Evaluates every metric alarm of the in-process emulator, ``interval`` seconds apart.

    ``start()`` runs it in a daemon thread; ``evaluate_once(now)`` is one pass (tests call it with
    a chosen ``now``). One alarm that cannot be evaluated is logged once and skipped; nothing
    stops the thread but ``stop()``. Only one evaluator may run per process, because moto's
    backends are process-wide and two would notify twice.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        interval: float = 1.0,
        publisher: Publisher | None = None,
        wake_interval: float = 0.1,
    ) -> None:
        if interval <= 0:
            raise EmulatorError(f"alarm evaluation interval must be positive, got {interval!r}")
        if wake_interval <= 0:
            raise EmulatorError(f"alarm wake-up interval must be positive, got {wake_interval!r}")
        self.endpoint = endpoint
        self.interval = interval
        #: how often the thread looks (cheaply) for new metric data or alarms between ticks
        self.wake_interval = wake_interval
        self._publisher = publisher
        #: one administrator session per account whose topics the alarms notify
        self._session: dict[str, Any] | None = None
        self._views: dict[int, _BackendView] = {}
        self._logged: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        #: one pass at a time: two concurrent passes could both see a transition and notify twice
        self._pass_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: the most recent transitions, newest last
        self.transitions: deque[Transition] = deque(maxlen=1000)
        #: seconds the last pass took (``benchmarks/alarm_bench.py`` prints it)
        self.last_pass_seconds = 0.0

    # lifecycle

    def start(self) -> AlarmEvaluator:
        global _running
        with _running_lock:
            if _running is not None and _running is not self:
                raise EmulatorError(
                    f"alarm evaluation already runs in this process (for {_running.endpoint}); stop it first"
                )
            _running = self
        install_alarm_history()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tenantml-alarm-evaluator")
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        global _running
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with _running_lock:
            if _running is self:
                _running = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # a breaching data point is evaluated within ``wake_interval``, not up to ``interval`` later;
        # the tick still runs so alarms with no new data move on (missing data, periods ending)
        next_tick = 0.0
        seen: tuple[tuple[int, int, int], ...] | None = None
        while not self._stop.is_set():
            changes = _data_fingerprint()
            if time.monotonic() >= next_tick or changes != seen:
                seen = changes  # taken before the pass: data arriving during it wakes the next poll
                try:
                    self.evaluate_once()
                except Exception:
                    log.exception("alarm evaluation pass failed; continuing")
                next_tick = time.monotonic() + self.interval
            self._stop.wait(max(0.0, min(self.wake_interval, next_tick - time.monotonic())))

    # one pass

    def evaluate_once(self, now: datetime | None = None) -> list[Transition]:
        """Evaluate every alarm once; returns the transitions made (and runs their actions)."""
        with self._pass_lock:
            return self._evaluate_pass(now)

    def _evaluate_pass(self, now: datetime | None) -> list[Transition]:
        clock = time.perf_counter()
        now = now or datetime.now(UTC)
        now_s = now.timestamp()
        made: list[Transition] = []
        live: set[int] = set()
        for account_id, region, backend in _cloudwatch_backends():
            if not backend.alarms:
                continue
            view = self._views.get(id(backend))
            if view is None or view.backend is not backend:
                view = self._views[id(backend)] = _BackendView(backend, account_id, region)
            live.add(id(backend))
            view.ingest(now_s)
            for alarm in list(backend.alarms.values()):
                try:
                    transition = self._evaluate_alarm(view, alarm, now)
                except AlarmDefinitionError as err:
                    self._log_once(alarm, str(err), logging.WARNING)
                    continue
                except Exception as err:  # noqa: BLE001 - one bad alarm never stops the others
                    self._log_once(alarm, f"{type(err).__name__}: {err}", logging.ERROR, exc_info=True)
                    continue
                if transition is not None:
                    made.append(transition)
            for name in set(view.known) - set(
                backend.alarms
            ):  # deleted: a new one by that name starts afresh
                del view.known[name]
        for gone in set(self._views) - live:
            del self._views[gone]
        self.transitions.extend(made)
        self.last_pass_seconds = time.perf_counter() - clock
        return made

    def _log_once(self, alarm: Any, message: str, level: int, exc_info: bool = False) -> None:
        key = (getattr(alarm, "alarm_arn", "?"), message)
        if key not in self._logged:
            self._logged.add(key)
            log.log(
                level,
                "alarm %s is not evaluated: %s",
                getattr(alarm, "name", "?"),
                message,
                exc_info=exc_info,
            )

    def _current_state(self, view: _BackendView, alarm: Any) -> str:
        """The alarm's state as CloudWatch would have it, fixing what moto's PutMetricAlarm sets."""
        known = view.known.get(alarm.name)
        if known is None or known.alarm is not alarm:
            if alarm.state_reason == _MOTO_INITIAL_REASON:
                if known is not None:  # an update: CloudWatch leaves the state unchanged
                    alarm.state_value = known.state
                else:  # a new alarm: CloudWatch starts it in INSUFFICIENT_DATA
                    alarm.state_value = "INSUFFICIENT_DATA"
            view.known[alarm.name] = _Known(alarm, alarm.state_value, alarm.state_updated_timestamp)
        return alarm.state_value

    def _evaluate_alarm(self, view: _BackendView, alarm: Any, now: datetime) -> Transition | None:
        old = self._current_state(view, alarm)
        if alarm.rule is not None or alarm.metric_data_queries:
            raise AlarmDefinitionError(
                [
                    Problem(
                        f"alarm {alarm.name!r}: AlarmRule/Metrics",
                        "composite and metric math alarms are not evaluated by the emulator",
                    )
                ]
            )
        definition = definition_of(alarm)
        result = evaluate(definition, view.periods(alarm, definition, now), now, old)  # type: ignore[arg-type]
        if result.retained or result.state == old:
            return None
        alarm.update_state(result.reason, result.reason_data, result.state)
        changed_at = _aware(alarm.state_updated_timestamp)
        view.known[alarm.name] = _Known(alarm, result.state, alarm.state_updated_timestamp)
        history = _history(view.backend)
        history.append(_state_item(alarm, old, result.state, result.reason, result.reason_data, changed_at))
        notified, failed = self._run_actions(view, alarm, old, result.state, result.reason, changed_at)
        log.info("alarm %s: %s -> %s (%s)", alarm.name, old, result.state, result.reason)
        return Transition(
            view.account_id,
            view.region,
            alarm.name,
            old,
            result.state,
            result.reason,  # type: ignore[arg-type]
            changed_at,
            tuple(notified),
            tuple(failed),
        )

    def _run_actions(
        self, view: _BackendView, alarm: Any, old: str, new: str, reason: str, changed_at: datetime
    ) -> tuple[list[str], list[str]]:
        if not alarm.actions_enabled:
            return [], []
        arns = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }[new] or []
        if not arns:
            return [], []
        message = notification_message(alarm, view.account_id, view.region, old, new, reason, changed_at)
        body = json.dumps(message)
        subject = notification_subject(new, alarm.name, view.region)
        notified, failed = [], []
        history = _history(view.backend)
        for arn in arns:
            try:
                self._publish(arn, subject, body)
            except Exception as err:  # noqa: BLE001 - CloudWatch records a failed action and carries on
                failed.append(arn)
                log.warning("alarm %s: action %s failed: %s", alarm.name, arn, err)
                history.append(_action_item(alarm, arn, new, changed_at, error=str(err)))
            else:
                notified.append(arn)
                history.append(_action_item(alarm, arn, new, changed_at, message=message))
        return notified, failed

    def _publish(self, arn: str, subject: str, body: str) -> None:
        if self._publisher is not None:
            self._publisher(arn, subject, body)
            return
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            raise EmulatorError(f"the emulator runs SNS topic actions only, not {arn}")
        # as the topic account's administrator (CloudWatch acts for the alarm's owner): under IAM
        # enforcement another account's keys, or unknown ones, would be refused
        if self._session is None:
            self._session = {}
        account = parts[4]
        session = self._session.get(account)
        if session is None:
            from tenantml.emulator.session import make_session

            session = self._session[account] = make_session(
                self.endpoint, parts[3], account_id=account or None
            )
        session.client("sns", parts[3]).publish(TopicArn=arn, Subject=subject, Message=body)


def _state_item(
    alarm: Any, old: str, new: str, reason: str, reason_data: str, at: datetime
) -> dict[str, Any]:
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": alarm.history[-1][1] if alarm.history else ""},
        "newState": {"stateValue": new, "stateReason": reason, "stateReasonData": json.loads(reason_data)},
    }
    return {
        "AlarmName": alarm.name,
        "AlarmType": "MetricAlarm",
        "Timestamp": at,
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old} to {new}",
        "HistoryData": json.dumps(data),
    }


def _action_item(
    alarm: Any,
    arn: str,
    state: str,
    at: datetime,
    *,
    message: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    if error is None:
        summary = f"Successfully executed action {arn}"
        data = {
            "actionState": "Succeeded",
            "stateUpdateTimestamp": int(at.timestamp() * 1000),
            "notificationResource": arn,
            "publishedMessage": message,
        }
    else:
        summary = f"Failed to execute action {arn}"
        data = {
            "actionState": "Failed",
            "stateUpdateTimestamp": int(at.timestamp() * 1000),
            "notificationResource": arn,
            "error": error,
        }
    return {
        "AlarmName": alarm.name,
        "AlarmType": "MetricAlarm",
        "Timestamp": at + timedelta(microseconds=1),  # after its state update, as in CloudWatch
        "HistoryItemType": "Action",
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    }


__all__ = [
    "AlarmEvaluator",
    "Transition",
    "definition_of",
    "install_alarm_history",
    "notification_message",
    "notification_subject",
    "region_long_name",
]
