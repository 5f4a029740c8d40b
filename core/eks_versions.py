"""Amazon EKS Kubernetes versions and their support windows.

A minor version gets 14 months of standard support from its EKS release, then 12 months of extended
support at six times the control-plane price; after that EKS upgrades the cluster itself. A cluster
whose ``upgrade_policy`` says ``STANDARD`` is upgraded at the end of standard support instead, so a
spec may only name a version that is in standard support on the day it is synthesized.

Sources (checked 2026-12-07): the EKS user guide's release calendar
(https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html) for 1.29-1.35, as
mirrored by https://endoflife.date/amazon-eks; 1.36 reached EKS on 2026-06-02 (EKS user guide,
"Review release notes for Kubernetes versions on standard support"; release date from
https://devopsdreams.blogspot.com/2026/08/kubernetes-136-on-amazon-eks-upgrade.html), its end dates
follow the 14 + 12 month rule. Add a row when EKS releases a version.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class SupportStatus(StrEnum):
    STANDARD = "standard"
    EXTENDED = "extended"
    ENDED = "ended"
    UNKNOWN = "unknown"


#: version -> (end of standard support, end of extended support); the version is out of that
#: support on the date given
VERSIONS: dict[str, tuple[date, date]] = {
    "1.29": (date(2025, 3, 23), date(2026, 3, 23)),
    "1.30": (date(2025, 7, 23), date(2026, 7, 23)),
    "1.31": (date(2025, 11, 26), date(2026, 11, 26)),
    "1.32": (date(2026, 3, 23), date(2027, 3, 23)),
    "1.33": (date(2026, 7, 29), date(2027, 7, 29)),
    "1.34": (date(2026, 12, 2), date(2027, 12, 2)),
    "1.35": (date(2027, 3, 27), date(2028, 3, 27)),
    "1.36": (date(2027, 8, 2), date(2028, 8, 2)),
}

#: the newest version in the table: the longest standard support for a new cluster
DEFAULT_VERSION = "1.36"


def support_status(version: str, on: date) -> SupportStatus:
    """Which EKS support ``version`` is in on the day ``on``."""
    window = VERSIONS.get(version)
    if window is None:
        return SupportStatus.UNKNOWN
    end_standard, end_extended = window
    if on < end_standard:
        return SupportStatus.STANDARD
    if on < end_extended:
        return SupportStatus.EXTENDED
    return SupportStatus.ENDED


def in_standard_support(on: date) -> list[str]:
    """The versions a new cluster may use on ``on``, oldest first."""
    return [v for v in VERSIONS if support_status(v, on) is SupportStatus.STANDARD]
