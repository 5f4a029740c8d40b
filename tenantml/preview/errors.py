"""Errors of ``tenantml preview`` and ``tenantml check``, in tenantml's one error hierarchy.

They subclass :mod:`core.errors` classes (and may move there); each says what went wrong,
where, and what to do.
"""

from __future__ import annotations

from core.errors import TenantmlError


class SynthFailedError(TenantmlError):
    """A synthesis (of the base ref or of the working tree) failed; no report was produced."""

    exit_code = 2
