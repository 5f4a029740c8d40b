"""One p99: the platform's percentile is CloudWatch's nearest rank (the emulator's alarm semantics)."""

from __future__ import annotations

import random

import pytest

from core.percentiles import nearest_rank_index, percentile
from tenantml.emulator.alarm_semantics import nearest_rank


def test_given_1_to_100_the_p99_is_99_not_an_interpolation() -> None:
    assert percentile([float(i) for i in range(100, 0, -1)], 99) == 99.0
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0


@pytest.mark.parametrize("seed", range(5))
def test_given_any_samples_the_percentile_is_the_one_cloudwatch_alarms_read(seed: int) -> None:
    rng = random.Random(seed)
    samples = [rng.lognormvariate(3, 1) for _ in range(rng.randint(1, 3000))]
    pairs = [(value, 1.0) for value in sorted(samples)]
    for percent in (50, 90, 99, 99.9):
        assert percentile(samples, percent) == nearest_rank(pairs, percent / 100)


def test_no_samples_have_no_percentile_and_bad_percents_are_refused() -> None:
    assert percentile([], 99) is None
    with pytest.raises(ValueError, match="percent must be in"):
        nearest_rank_index(10, 0)
    with pytest.raises(ValueError, match="no samples"):
        nearest_rank_index(0, 99)
