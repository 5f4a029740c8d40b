"""CloudWatch metric alarm evaluation as a pure function: definition + datapoints + now -> state.

This follows the CloudWatch User Guide ("Evaluating an alarm", "How alarm state is evaluated when
data is missing", "Percentile-based alarms and low data samples"); the emulator's engine
(:mod:`tenantml.emulator.alarm_evaluator`) feeds it from moto and acts on the result. Choices where the
documentation leaves room, each pinned by ``tests/unit/emulator/test_alarm_semantics.py``:

* **Periods** are aligned to multiples of the period since the epoch (``12:03:00`` for a 60 s
  period). The **in-progress period counts**: CloudWatch itself evaluates the latest period while
  its data is still arriving, and on a laptop with 60 s periods waiting for the period to close
  would delay every alert by up to a minute. So a breaching datum put now shows up in the very
  next evaluation.
* **Evaluation range**: CloudWatch retrieves "a higher number of data points than Evaluation
  Periods"; its tables use 5 for 3 evaluation periods, so the range here is N + 2 periods, the
  last one being the in-progress period.
* **Missing data** (the documented rules, every row of both documented tables is a test):
  with at least N datapoints present in the range, the N most recent present ones are evaluated
  and the treatment does not matter; with fewer, missing periods (the most recent ones) fill the
  gap: ``breaching`` / ``notBreaching`` count them as such; ``ignore`` and ``missing`` decide on
  the present datapoints (ALARM with at least M breaching, OK with any non-breaching one) and
  otherwise keep the state (``ignore``) or go to INSUFFICIENT_DATA (``missing``), except that
  ``missing`` goes to ALARM when the oldest evaluated datapoint is a real breaching one (the
  documented "X - - - -" row). With no datapoint at all: INSUFFICIENT_DATA, keep, ALARM, OK.
* **Percentiles** (``p99``, ``p99.9``) use the nearest-rank method on every value the period
  holds, with counts (``Values``/``Counts`` in PutMetricData). CloudWatch interpolates on its own
  sketch, so results can differ slightly between two close values. A period that holds a
  statistic set (``StatisticValues``) with Minimum != Maximum has no percentile (its values are
  unknown) and counts as missing, as in CloudWatch.
* ``EvaluateLowSampleCountPercentile=ignore`` keeps the current state while a present evaluated
  datapoint has fewer samples than 10/(1-p) (p >= 0.5) or 10/p (p < 0.5).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from core.errors import AlarmDefinitionError, Problem

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
STATES: tuple[AlarmState, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
#: comparison operator -> (breaches?, the words CloudWatch's reason uses)
COMPARISONS = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$")
#: how many more periods than Evaluation Periods an evaluation looks at (the documented tables use 5 for 3)
EXTRA_RANGE_PERIODS = 2


def percentile_of(name: str) -> float | None:
    """0.99 for ``p99``, 0.999 for ``p99.9``; None when ``name`` is not a percentile statistic."""
    match = _PERCENTILE.match(name)
    return float(match.group(1)) / 100 if match else None


@dataclass(frozen=True, kw_only=True)
class AlarmDefinition:
    """What evaluation needs of a metric alarm (PutMetricAlarm's fields, same names in snake case)."""

    name: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    statistic: str | None = None
    extended_statistic: str | None = None
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    evaluate_low_sample_count_percentile: str | None = None

    def __post_init__(self) -> None:
        where = f"alarm {self.name!r}"
        problems = []
        if (self.statistic is None) == (self.extended_statistic is None):
            problems.append(
                Problem(
                    f"{where}: Statistic/ExtendedStatistic",
                    "set exactly one of them",
                    [self.statistic, self.extended_statistic],
                )
            )
        elif self.statistic is not None and self.statistic not in STATISTICS:
            problems.append(
                Problem(f"{where}: Statistic", f"must be one of {', '.join(STATISTICS)}", self.statistic)
            )
        elif self.extended_statistic is not None and percentile_of(self.extended_statistic) is None:
            problems.append(
                Problem(
                    f"{where}: ExtendedStatistic",
                    "the emulator evaluates percentiles only (p0 to p100, e.g. p99 or p99.9)",
                    self.extended_statistic,
                )
            )
        if self.period not in (10, 20, 30) and (self.period <= 0 or self.period % 60):
            problems.append(
                Problem(f"{where}: Period", "must be 10, 20, 30 or a multiple of 60 seconds", self.period)
            )
        if self.evaluation_periods < 1:
            problems.append(
                Problem(f"{where}: EvaluationPeriods", "must be at least 1", self.evaluation_periods)
            )
        elif not 1 <= self.m <= self.evaluation_periods:
            problems.append(
                Problem(
                    f"{where}: DatapointsToAlarm",
                    "must be between 1 and EvaluationPeriods",
                    self.datapoints_to_alarm,
                )
            )
        if self.comparison_operator not in COMPARISONS:
            problems.append(
                Problem(
                    f"{where}: ComparisonOperator",
                    f"the emulator evaluates {', '.join(COMPARISONS)}",
                    self.comparison_operator,
                )
            )
        if self.treat_missing_data not in TREATMENTS:
            problems.append(
                Problem(
                    f"{where}: TreatMissingData",
                    f"must be one of {', '.join(TREATMENTS)}",
                    self.treat_missing_data,
                )
            )
        if self.evaluate_low_sample_count_percentile not in (None, "", "evaluate", "ignore"):
            problems.append(
                Problem(
                    f"{where}: EvaluateLowSampleCountPercentile",
                    "must be evaluate or ignore",
                    self.evaluate_low_sample_count_percentile,
                )
            )
        if not math.isfinite(self.threshold):
            problems.append(Problem(f"{where}: Threshold", "must be a finite number", self.threshold))
        if problems:
            raise AlarmDefinitionError(problems)

    @property
    def m(self) -> int:
        """Datapoints to alarm (M of "M out of N"); defaults to Evaluation Periods."""
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def statistic_name(self) -> str:
        return self.statistic or self.extended_statistic or ""


# --- raw data and per-period statistics ------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One raw value (``Value``, or one of ``Values`` with its count)."""

    timestamp: datetime
    value: float
    count: float = 1.0


@dataclass(frozen=True)
class StatisticSet:
    """One ``StatisticValues`` datum: the individual values are unknown."""

    timestamp: datetime
    sample_count: float
    sum: float
    minimum: float
    maximum: float


Sample = Value | StatisticSet


@dataclass(frozen=True)
class PeriodStats:
    """Everything a statistic needs about one period's data."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float
    #: sorted (value, count) pairs; None when a statistic set hides the values
    values: tuple[tuple[float, float], ...] | None

    def statistic(self, name: str) -> float | None:
        """The statistic's value for this period; None when it cannot be computed (no percentile)."""
        if self.sample_count <= 0:
            return None
        if name == "SampleCount":
            return self.sample_count
        if name == "Sum":
            return self.sum
        if name == "Average":
            return self.sum / self.sample_count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        p = percentile_of(name)
        if p is None:
            raise ValueError(f"unknown statistic {name!r}")
        return None if self.values is None else nearest_rank(self.values, p)


def nearest_rank(values: Sequence[tuple[float, float]], p: float) -> float:
    """The nearest-rank percentile of sorted (value, count) pairs: the smallest value with at
    least ``ceil(p * n)`` samples at or below it."""
    total = sum(c for _, c in values)
    rank = max(1.0, math.ceil(p * total - 1e-9))
    seen = 0.0
    for value, count in values:
        seen += count
        if seen >= rank:
            return value
    return values[-1][0]


class PeriodAccumulator:
    """Adds samples up into :class:`PeriodStats` (mutable: the engine keeps one per bucket)."""

    __slots__ = ("count", "maximum", "minimum", "total", "values")

    def __init__(self) -> None:
        self.count = 0.0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.values: Counter[float] | None = Counter()

    def add_value(self, value: float, count: float = 1.0) -> None:
        if count <= 0:
            return
        self.count += count
        self.total += value * count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if self.values is not None:
            self.values[value] += count

    def add_statistic_set(self, sample_count: float, total: float, minimum: float, maximum: float) -> None:
        if sample_count <= 0:
            return
        self.count += sample_count
        self.total += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        if self.values is not None:
            if minimum == maximum:  # every value is known after all
                self.values[minimum] += sample_count
            else:
                self.values = None

    def add(self, sample: Sample) -> None:
        if isinstance(sample, StatisticSet):
            self.add_statistic_set(sample.sample_count, sample.sum, sample.minimum, sample.maximum)
        else:
            self.add_value(sample.value, sample.count)

    def merge(self, other: PeriodAccumulator) -> None:
        if other.count <= 0:
            return
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if self.values is not None:
            if other.values is None:
                self.values = None
            else:
                self.values.update(other.values)

    def freeze(self) -> PeriodStats:
        values = None if self.values is None else tuple(sorted(self.values.items()))
        return PeriodStats(self.count, self.total, self.minimum, self.maximum, values)


def epoch(ts: datetime) -> float:
    """Seconds since the epoch; a naive datetime is UTC (moto keeps timestamps naive in UTC)."""
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def period_start(seconds: float, period: int) -> int:
    """The start of the period holding ``seconds``, aligned to a multiple of ``period`` since the epoch."""
    return int(seconds // period) * period


def aggregate(samples: Iterable[Sample], period: int) -> dict[int, PeriodStats]:
    """Per-period statistics of ``samples``, keyed by period start (epoch seconds)."""
    buckets: dict[int, PeriodAccumulator] = {}
    for sample in samples:
        buckets.setdefault(period_start(epoch(sample.timestamp), period), PeriodAccumulator()).add(sample)
    return {start: acc.freeze() for start, acc in buckets.items()}


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Datapoint:
    """One period of the evaluation range."""

    start: int
    #: the statistic's value; None for a missing datapoint
    value: float | None
    sample_count: float = 0.0
    #: None for a missing datapoint that the treatment did not fill
    breaching: bool | None = None

    @property
    def missing(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Evaluation:
    state: AlarmState
    #: CloudWatch's StateReason and StateReasonData for ``state``
    reason: str
    reason_data: str
    #: the N datapoints the decision rests on, oldest first (filled ones have no value)
    evaluated: tuple[Datapoint, ...]
    #: the whole evaluation range, oldest first
    range: tuple[Datapoint, ...] = field(repr=False)
    #: True when the treatment (``ignore``, low sample count) kept the current state
    retained: bool = False


def _when(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%d/%m/%y %H:%M:%S")


def iso_millis(moment: datetime | float) -> str:
    """CloudWatch's timestamp format in notifications and reason data: ``2025-11-25T16:04:00.000+0000``."""
    when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, (int, float)) else moment.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _fmt(value: float) -> str:
    return repr(float(value))


def _plural(n: int, word: str = "datapoint") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _low_sample_limit(p: float) -> float | None:
    if p <= 0 or p >= 1:
        return None  # p0 and p100 are the minimum and maximum: always significant
    return 10 / (1 - p) if p >= 0.5 else 10 / p


def evaluation_range(definition: AlarmDefinition, now: datetime) -> list[int]:
    """Starts of the periods an evaluation at ``now`` looks at, oldest first, ending with the in-progress one."""
    current = period_start(epoch(now), definition.period)
    count = definition.evaluation_periods + EXTRA_RANGE_PERIODS
    return [current - (count - 1 - i) * definition.period for i in range(count)]


def evaluate(
    definition: AlarmDefinition,
    periods: Mapping[int, PeriodStats],
    now: datetime,
    current_state: AlarmState = "INSUFFICIENT_DATA",
) -> Evaluation:
    """The state ``definition`` is in at ``now`` given per-period statistics (see :func:`aggregate`)."""
    breaches, _ = COMPARISONS[definition.comparison_operator]
    stat = definition.statistic_name
    points = []
    for start in evaluation_range(definition, now):
        stats = periods.get(start)
        value = stats.statistic(stat) if stats is not None else None
        if value is None:
            points.append(Datapoint(start, None))
        else:
            points.append(Datapoint(start, value, stats.sample_count, breaches(value, definition.threshold)))
    return _decide(definition, tuple(points), now, current_state)


def evaluate_samples(
    definition: AlarmDefinition,
    samples: Iterable[Sample],
    now: datetime,
    current_state: AlarmState = "INSUFFICIENT_DATA",
) -> Evaluation:
    """:func:`evaluate` on raw samples."""
    return evaluate(definition, aggregate(samples, definition.period), now, current_state)


def _decide(
    definition: AlarmDefinition, points: tuple[Datapoint, ...], now: datetime, current_state: AlarmState
) -> Evaluation:
    n, m, treatment = definition.evaluation_periods, definition.m, definition.treat_missing_data
    present = [p for p in points if not p.missing]

    def result(
        state: AlarmState, evaluated: Sequence[Datapoint], retained: bool = False, note: str = ""
    ) -> Evaluation:
        evaluated = tuple(sorted(evaluated, key=lambda p: p.start))
        reason = note or _reason(definition, state, evaluated, current_state)
        return Evaluation(
            state, reason, _reason_data(definition, evaluated, now), evaluated, points, retained
        )

    p = percentile_of(definition.extended_statistic or "")
    if definition.evaluate_low_sample_count_percentile == "ignore" and p is not None:
        limit = _low_sample_limit(p)
        low = [d for d in present[-n:] if limit is not None and d.sample_count < limit]
        if low:
            return result(
                current_state,
                present[-n:],
                retained=True,
                note=f"Low sample count: {_plural(len(low))} had fewer than {limit:g} samples; "
                f"the state is kept (EvaluateLowSampleCountPercentile: ignore).",
            )

    if len(present) >= n:
        evaluated = present[-n:]
        breaching = sum(1 for d in evaluated if d.breaching)
        return result("ALARM" if breaching >= m else "OK", evaluated)

    # fewer real datapoints than N: the most recent missing periods fill the gap, as few as possible
    missing = [d for d in points if d.missing]
    fills = missing[len(missing) - (n - len(present)) :]
    if treatment in ("breaching", "notBreaching"):
        filled = [Datapoint(d.start, None, 0.0, treatment == "breaching") for d in fills]
        evaluated = [*present, *filled]
        breaching = sum(1 for d in evaluated if d.breaching)
        return result("ALARM" if breaching >= m else "OK", evaluated)

    evaluated = sorted([*present, *fills], key=lambda d: d.start)
    breaching = sum(1 for d in present if d.breaching)
    if breaching >= m:
        return result("ALARM", evaluated)
    if any(not d.breaching for d in present):
        return result("OK", evaluated)
    if treatment == "ignore":
        return result(
            current_state,
            evaluated,
            retained=True,
            note=f"Missing data: {_plural(len(fills))} missing; the state is kept (TreatMissingData: ignore).",
        )
    if present and not evaluated[0].missing:
        return result("ALARM", evaluated)
    return result("INSUFFICIENT_DATA", evaluated)


def _reason(
    definition: AlarmDefinition, state: AlarmState, evaluated: Sequence[Datapoint], old: AlarmState
) -> str:
    n, m = definition.evaluation_periods, definition.m
    _, words = COMPARISONS[definition.comparison_operator]
    if state == "INSUFFICIENT_DATA":
        unknown = sum(1 for d in evaluated if d.breaching is None)
        return f"Insufficient Data: {_plural(unknown)} {'was' if unknown == 1 else 'were'} unknown."
    wanted = state == "ALARM"
    matching = [d for d in evaluated if d.breaching is wanted]
    shown = ", ".join(
        f"{_fmt(d.value)} ({_when(d.start)})" for d in reversed(matching) if d.value is not None
    )
    verb = "was" if len(matching) == 1 else "were"
    minimum = m if wanted else n - m + 1
    return (
        f"Threshold Crossed: {len(matching)} out of the last {n} datapoints [{shown}] {verb} "
        f"{'' if wanted else 'not '}{words} the threshold ({_fmt(definition.threshold)}) "
        f"(minimum {_plural(minimum)} for {old} -> {state} transition)."
    )


def _reason_data(definition: AlarmDefinition, evaluated: Sequence[Datapoint], now: datetime) -> str:
    newest_first = list(reversed(evaluated))
    data = {
        "version": "1.0",
        "queryDate": iso_millis(now),
        "startDate": iso_millis(evaluated[0].start) if evaluated else iso_millis(now),
        ("statistic" if definition.statistic else "extendedStatistic"): definition.statistic_name,
        "period": definition.period,
        "recentDatapoints": [d.value for d in evaluated if d.value is not None],
        "threshold": definition.threshold,
        "evaluatedDatapoints": [
            {
                "timestamp": iso_millis(d.start),
                **({"sampleCount": d.sample_count, "value": d.value} if d.value is not None else {}),
            }
            for d in newest_first
        ],
    }
    return json.dumps(data)


__all__ = [
    "COMPARISONS",
    "STATES",
    "STATISTICS",
    "TREATMENTS",
    "AlarmDefinition",
    "AlarmState",
    "Datapoint",
    "Evaluation",
    "PeriodAccumulator",
    "PeriodStats",
    "Sample",
    "StatisticSet",
    "Value",
    "aggregate",
    "evaluate",
    "evaluate_samples",
    "evaluation_range",
    "iso_millis",
    "nearest_rank",
    "percentile_of",
]
