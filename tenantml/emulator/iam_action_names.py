"""IAM action names as AWS spells them, in moto's IAM check.

moto names a request's action after the service in its signature's credential scope, the
*signing* name, which for CloudWatch is ``monitoring``: a role granted ``cloudwatch:PutMetricData``
(the IAM name, the only one AWS accepts in a policy) was denied ``monitoring:PutMetricData``
under enforcement, so no monitor could publish a metric. The signing name is kept for the
signature check; only the action the policies are evaluated against is renamed.
"""

from __future__ import annotations

import functools
from typing import Any

#: signing name -> IAM service prefix, where they differ for a service the stacks use
IAM_PREFIXES = {"monitoring": "cloudwatch"}

_installed = False


def use_iam_action_names() -> None:
    """Patch moto's IAM request as the module docstring says. Process-wide and idempotent."""
    global _installed
    if _installed:
        return
    from moto.iam.access_control import IAMRequestBase

    init = IAMRequestBase.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        service, _, action = self._action.partition(":")
        if service in IAM_PREFIXES:
            self._action = f"{IAM_PREFIXES[service]}:{action}"

    IAMRequestBase.__init__ = __init__
    _installed = True


__all__ = ["IAM_PREFIXES", "use_iam_action_names"]
