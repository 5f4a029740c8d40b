"""CloudWatch alarm evaluation semantics (tenantml.emulator.alarm_semantics), against the User Guide."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import AlarmDefinitionError
from tenantml.emulator.alarm_semantics import (
    AlarmDefinition,
    StatisticSet,
    Value,
    evaluate_samples,
    evaluation_range,
    nearest_rank,
)

#: 30 s into the in-progress 60 s period that starts at 16:04:00
NOW = datetime(2025, 11, 26, 16, 4, 30, tzinfo=UTC)
PERIOD_START = datetime(2025, 11, 26, 16, 4, tzinfo=UTC)


def alarm(**overrides: object) -> AlarmDefinition:
    fields: dict = {
        "name": "drift",
        "period": 60,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 3,
        "threshold": 0.5,
        "comparison_operator": "GreaterThanThreshold",
        "statistic": "Maximum",
        "treat_missing_data": "missing",
    }
    fields.update(overrides)
    return AlarmDefinition(**fields)


def samples_from(pattern: str) -> list[Value]:
    """The documentation's notation, oldest first: X breaching, 0 not breaching, - missing."""
    marks = pattern.split()
    assert len(marks) == 5, "the documented range is 5 datapoints for 3 evaluation periods"
    out = []
    for age, mark in enumerate(reversed(marks)):  # the last mark is the in-progress period
        at = PERIOD_START - timedelta(minutes=age) + timedelta(seconds=5)
        if mark != "-":
            out.append(Value(at, 1.0 if mark == "X" else 0.0))
    return out


RETAIN = "retain"

# "How alarm state is evaluated when data is missing": Datapoints to Alarm = Evaluation Periods = 3
TABLE_3_OF_3 = [
    ("0 - X - X", "OK", "OK", "OK", "OK"),
    ("0 - - - -", "OK", "OK", "OK", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - - - X", "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("X - - - -", "ALARM", RETAIN, "ALARM", "OK"),
]
# the same section, 2 out of 3
TABLE_2_OF_3 = [
    ("0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", "OK", "OK", "ALARM", "OK"),
    ("- - - - X", "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
]
TREATMENT_COLUMNS = ("missing", "ignore", "breaching", "notBreaching")


def _table_cases() -> list:
    cases = []
    for m, table in ((3, TABLE_3_OF_3), (2, TABLE_2_OF_3)):
        for pattern, *expected in table:
            for treatment, state in zip(TREATMENT_COLUMNS, expected, strict=True):
                cases.append(pytest.param(m, pattern, treatment, state, id=f"{m}of3 [{pattern}] {treatment}"))
    return cases


@pytest.mark.parametrize(("m", "pattern", "treatment", "expected"), _table_cases())
def test_every_row_of_the_documented_missing_data_tables(
    m: int, pattern: str, treatment: str, expected: str
) -> None:
    definition = alarm(datapoints_to_alarm=m, treat_missing_data=treatment)
    for current in ("OK", "ALARM"):
        result = evaluate_samples(definition, samples_from(pattern), NOW, current)
        if expected == RETAIN:
            assert (result.state, result.retained) == (current, True)
        else:
            assert result.state == expected
            assert not result.retained
        assert len(result.evaluated) == 3  # the number of datapoints evaluated is always N


def test_the_evaluation_range_is_n_plus_two_periods_ending_with_the_in_progress_one() -> None:
    starts = evaluation_range(alarm(), NOW)
    assert [datetime.fromtimestamp(s, UTC).strftime("%H:%M:%S") for s in starts] == [
        "16:00:00",
        "16:01:00",
        "16:02:00",
        "16:03:00",
        "16:04:00",
    ]


def test_periods_are_aligned_to_multiples_of_the_period_and_the_in_progress_one_counts() -> None:
    definition = alarm(evaluation_periods=1, datapoints_to_alarm=1)
    # a breach at 16:03:59.999 belongs to the 16:03 period, which is in the range
    last_ms = evaluate_samples(definition, [Value(PERIOD_START - timedelta(milliseconds=1), 1.0)], NOW)
    assert last_ms.state == "ALARM"
    assert last_ms.evaluated[0].start == int((PERIOD_START - timedelta(minutes=1)).timestamp())
    # a breach put a second ago, in the in-progress period, is evaluated at once
    now = evaluate_samples(definition, [Value(NOW - timedelta(seconds=1), 0.0), Value(NOW, 1.0)], NOW)
    assert now.state == "ALARM"
    assert now.evaluated[0].start == int(PERIOD_START.timestamp())
    # a breach older than the range is not seen at all
    old = evaluate_samples(definition, [Value(PERIOD_START - timedelta(minutes=3, seconds=1), 1.0)], NOW)
    assert old.state == "INSUFFICIENT_DATA"


def test_m_out_of_n_uses_the_most_recent_n_present_datapoints() -> None:
    two_of_three = alarm(datapoints_to_alarm=2)
    assert evaluate_samples(two_of_three, samples_from("X X 0 0 X"), NOW).state == "OK"  # [0 0 X]
    assert evaluate_samples(two_of_three, samples_from("0 0 X 0 X"), NOW).state == "ALARM"  # [X 0 X]
    assert evaluate_samples(alarm(datapoints_to_alarm=1), samples_from("X X 0 0 0"), NOW).state == "OK"


@pytest.mark.parametrize(
    ("operator", "value", "breaches"),
    [
        ("GreaterThanThreshold", 0.5, False),
        ("GreaterThanThreshold", 0.51, True),
        ("GreaterThanOrEqualToThreshold", 0.5, True),
        ("GreaterThanOrEqualToThreshold", 0.49, False),
        ("LessThanThreshold", 0.5, False),
        ("LessThanThreshold", 0.49, True),
        ("LessThanOrEqualToThreshold", 0.5, True),
        ("LessThanOrEqualToThreshold", 0.51, False),
    ],
)
def test_comparison_operators_at_and_around_the_threshold(
    operator: str, value: float, breaches: bool
) -> None:
    definition = alarm(evaluation_periods=1, datapoints_to_alarm=1, comparison_operator=operator)
    assert evaluate_samples(definition, [Value(NOW, value)], NOW).state == ("ALARM" if breaches else "OK")


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("SampleCount", 4.0), ("Sum", 10.0), ("Average", 2.5), ("Minimum", 1.0), ("Maximum", 4.0)],
)
def test_statistics_of_one_period(statistic: str, expected: float) -> None:
    definition = alarm(evaluation_periods=1, datapoints_to_alarm=1, statistic=statistic, threshold=expected)
    samples = [Value(NOW, 1.0), Value(NOW, 3.0), Value(NOW - timedelta(seconds=20), 2.0), Value(NOW, 4.0)]
    at = evaluate_samples(definition, samples, NOW)
    assert at.state == "OK"  # equal is not greater
    assert at.evaluated[0].value == pytest.approx(expected)
    above = evaluate_samples(
        alarm(evaluation_periods=1, datapoints_to_alarm=1, statistic=statistic, threshold=expected - 0.01),
        samples,
        NOW,
    )
    assert above.state == "ALARM"


def test_statistic_sets_count_in_every_statistic() -> None:
    definition = alarm(evaluation_periods=1, datapoints_to_alarm=1, statistic="Average", threshold=5.0)
    samples = [StatisticSet(NOW, sample_count=4, sum=40.0, minimum=1.0, maximum=20.0), Value(NOW, 0.0)]
    result = evaluate_samples(definition, samples, NOW)
    assert result.evaluated[0].value == pytest.approx(8.0)
    assert result.evaluated[0].sample_count == 5


def test_p99_is_the_nearest_rank_over_values_with_counts() -> None:
    p99 = alarm(
        evaluation_periods=1, datapoints_to_alarm=1, statistic=None, extended_statistic="p99", threshold=250.0
    )
    # 990 fast requests and 10 slow ones: the 990th value is still fast
    fast = [Value(NOW, 12.0, count=990), Value(NOW, 900.0, count=10)]
    result = evaluate_samples(p99, fast, NOW)
    assert (result.state, result.evaluated[0].value) == ("OK", 12.0)
    # one more slow request moves the 990th rank to the slow value
    slow = [Value(NOW, 12.0, count=989), Value(NOW, 900.0, count=11)]
    result = evaluate_samples(p99, slow, NOW)
    assert (result.state, result.evaluated[0].value) == ("ALARM", 900.0)
    assert json.loads(result.reason_data)["extendedStatistic"] == "p99"


def test_nearest_rank_and_fractional_percentiles() -> None:
    values = [(float(v), 1.0) for v in range(1, 1001)]
    assert nearest_rank(values, 0.5) == 500.0
    assert nearest_rank(values, 0.999) == 999.0
    assert nearest_rank(values, 1.0) == 1000.0
    assert nearest_rank(values, 0.0) == 1.0
    p999 = alarm(
        evaluation_periods=1,
        datapoints_to_alarm=1,
        statistic=None,
        extended_statistic="p99.9",
        threshold=998.5,
    )
    assert evaluate_samples(p999, [Value(NOW, v) for v, _ in values], NOW).state == "ALARM"


def test_a_percentile_over_a_statistic_set_is_missing_unless_its_values_are_known() -> None:
    p99 = alarm(
        evaluation_periods=1, datapoints_to_alarm=1, statistic=None, extended_statistic="p99", threshold=1.0
    )
    unknown = [StatisticSet(NOW, sample_count=10, sum=50.0, minimum=1.0, maximum=9.0)]
    assert evaluate_samples(p99, unknown, NOW).state == "INSUFFICIENT_DATA"
    known = [StatisticSet(NOW, sample_count=10, sum=50.0, minimum=5.0, maximum=5.0)]
    assert evaluate_samples(p99, known, NOW).state == "ALARM"


def test_low_sample_count_percentiles_keep_the_state_only_when_asked() -> None:
    fields = {
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "statistic": None,
        "extended_statistic": "p99",
        "threshold": 100.0,
    }
    few = [Value(NOW, 500.0, count=50)]  # p99 needs 10 / (1 - 0.99) = 1000 samples
    kept = evaluate_samples(alarm(**fields, evaluate_low_sample_count_percentile="ignore"), few, NOW, "OK")
    assert (kept.state, kept.retained) == ("OK", True)
    assert "fewer than 1000 samples" in kept.reason
    assert (
        evaluate_samples(
            alarm(**fields, evaluate_low_sample_count_percentile="evaluate"), few, NOW, "OK"
        ).state
        == "ALARM"
    )
    assert evaluate_samples(alarm(**fields), few, NOW, "OK").state == "ALARM"
    many = [Value(NOW, 500.0, count=1000)]
    assert (
        evaluate_samples(
            alarm(**fields, evaluate_low_sample_count_percentile="ignore"), many, NOW, "OK"
        ).state
        == "ALARM"
    )


def test_the_alarm_reason_reads_like_cloudwatch() -> None:
    definition = alarm(datapoints_to_alarm=2, threshold=0.2)
    samples = [
        Value(PERIOD_START + timedelta(seconds=3), 0.41),
        Value(PERIOD_START - timedelta(seconds=50), 0.38),
        Value(PERIOD_START - timedelta(minutes=2), 0.1),
    ]
    result = evaluate_samples(definition, samples, NOW, "OK")
    assert result.state == "ALARM"
    assert result.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [0.41 (26/11/25 16:04:00), 0.38 (26/11/25 16:03:00)] "
        "were greater than the threshold (0.2) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    data = json.loads(result.reason_data)
    assert data["statistic"] == "Maximum"
    assert data["period"] == 60
    assert data["recentDatapoints"] == [0.1, 0.38, 0.41]
    assert data["evaluatedDatapoints"][0] == {
        "timestamp": "2025-11-26T16:04:00.000+0000",
        "sampleCount": 1.0,
        "value": 0.41,
    }


def test_the_ok_and_insufficient_data_reasons() -> None:
    definition = alarm(evaluation_periods=1, datapoints_to_alarm=1, threshold=0.2)
    ok = evaluate_samples(definition, [Value(NOW, 0.05)], NOW, "ALARM")
    assert ok.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.05 (26/11/25 16:04:00)] was not "
        "greater than the threshold (0.2) (minimum 1 datapoint for ALARM -> OK transition)."
    )
    nothing = evaluate_samples(alarm(), [], NOW, "OK")
    assert nothing.state == "INSUFFICIENT_DATA"
    assert nothing.reason == "Insufficient Data: 3 datapoints were unknown."


def test_a_bad_definition_names_the_alarm_and_every_bad_field() -> None:
    with pytest.raises(AlarmDefinitionError) as raised:
        alarm(
            statistic=None,
            extended_statistic="tm99",
            period=45,
            datapoints_to_alarm=4,
            comparison_operator="LessThanLowerOrGreaterThanUpperThreshold",
            treat_missing_data="zero",
        )
    text = str(raised.value)
    for fragment in (
        "alarm 'drift': ExtendedStatistic",
        "'tm99'",
        "Period",
        "45",
        "DatapointsToAlarm",
        "ComparisonOperator",
        "TreatMissingData",
        "'zero'",
    ):
        assert fragment in text
    with pytest.raises(AlarmDefinitionError, match="set exactly one of them"):
        alarm(extended_statistic="p99")
