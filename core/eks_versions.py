"""The Amazon EKS support window of each Kubernetes minor version, in one table.

The spec (which versions a tenant may ask for) and the preview's cost estimate (a cluster past
its end of standard support is billed at the extended-support rate) both read this table, so
that a version's dates are written down once. A minor version gets 14 months of standard support
after its EKS release, then 12 months of extended support at six times the control-plane price;
after that EKS upgrades the cluster itself. A cluster whose ``upgrade_policy`` says ``STANDARD`` is
upgraded at the end of standard support instead, so a spec may only name a version that is in
standard support on the day it is synthesized.

Sources, checked on 2026-12-07: the EKS user guide's release calendar
(https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html) and
https://endoflife.date/amazon-eks, which agree on every date for 1.28-1.35. 1.36 reached EKS on
2026-06-02 (EKS user guide, "Review release notes for Kubernetes versions on standard support";
the release date from a third-party post), its end dates follow the 14 + 12 month rule. A version
not listed is :attr:`SupportStatus.UNKNOWN` rather than guessed. Add a row when EKS releases one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


@dataclass(frozen=True)
class EksVersion:
    version: str
    #: the first day the version is in extended support (standard support ends the day before)
    end_of_standard: date
    #: the first day the version is unsupported: EKS upgrades remaining clusters from then on
    end_of_extended: date


class SupportStatus(StrEnum):
    STANDARD = "standard"
    EXTENDED = "extended"
    UNSUPPORTED = "unsupported"
    #: not in :data:`EKS_VERSIONS`: no dates known
    UNKNOWN = "unknown"


EKS_VERSIONS: dict[str, EksVersion] = {
    v.version: v
    for v in (
        EksVersion("1.28", date(2024, 11, 26), date(2025, 11, 26)),
        EksVersion("1.29", date(2025, 3, 23), date(2026, 3, 23)),
        EksVersion("1.30", date(2025, 7, 23), date(2026, 7, 23)),
        EksVersion("1.31", date(2025, 11, 26), date(2026, 11, 26)),
        EksVersion("1.32", date(2026, 3, 23), date(2027, 3, 23)),
        EksVersion("1.33", date(2026, 7, 29), date(2027, 7, 29)),
        EksVersion("1.34", date(2026, 12, 2), date(2027, 12, 2)),
        EksVersion("1.35", date(2027, 3, 27), date(2028, 3, 27)),
        EksVersion("1.36", date(2027, 8, 2), date(2028, 8, 2)),
    )
}

#: the newest version in the table: the longest standard support for a new cluster
DEFAULT_VERSION = "1.36"


def eks_version(version: str) -> EksVersion | None:
    """The support window of ``version`` (``"1.33"``), or None when the table does not have it."""
    return EKS_VERSIONS.get(version)


def support_status(version: str, on: date) -> SupportStatus:
    """Where ``version`` stands on ``on``: standard, extended, unsupported, or unknown."""
    window = eks_version(version)
    if window is None:
        return SupportStatus.UNKNOWN
    if on < window.end_of_standard:
        return SupportStatus.STANDARD
    if on < window.end_of_extended:
        return SupportStatus.EXTENDED
    return SupportStatus.UNSUPPORTED


def versions_in_standard_support(on: date) -> list[str]:
    """The listed versions in standard support on ``on`` (a new cluster may use them), oldest first."""
    return [v for v in EKS_VERSIONS if support_status(v, on) is SupportStatus.STANDARD]
