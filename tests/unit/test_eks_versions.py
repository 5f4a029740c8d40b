"""The EKS support-window table shared by the spec and the cost estimate."""

from __future__ import annotations

from datetime import date

import pytest

from core.eks_versions import (
    EKS_VERSIONS,
    SupportStatus,
    eks_version,
    support_status,
    versions_in_standard_support,
)


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2025, 11, 25), SupportStatus.STANDARD),
        (date(2025, 11, 26), SupportStatus.EXTENDED),
        (date(2026, 11, 25), SupportStatus.EXTENDED),
        # 1.31 left EKS extended support on 2026-11-26
        (date(2026, 11, 26), SupportStatus.UNSUPPORTED),
    ],
)
def test_given_1_31_when_asked_on_a_date_then_its_window_edges_are_exact(on, expected):
    assert support_status("1.31", on) is expected


def test_given_today_then_only_1_35_is_in_standard_support_and_1_32_to_1_34_are_extended():
    today = date(2026, 12, 7)

    assert versions_in_standard_support(today) == ["1.35"]
    assert [v for v in EKS_VERSIONS if support_status(v, today) is SupportStatus.EXTENDED] == [
        "1.32",
        "1.33",
        "1.34",
    ]


def test_given_a_version_without_published_dates_then_it_is_unknown_not_guessed():
    assert eks_version("1.36") is None
    assert support_status("1.36", date(2026, 12, 7)) is SupportStatus.UNKNOWN


def test_every_window_is_twelve_months_of_extended_support_after_standard():
    for window in EKS_VERSIONS.values():
        end = window.end_of_standard
        assert window.end_of_extended == end.replace(year=end.year + 1), window.version
