"""Whether a resource policy lets an AWS service act on a resource on behalf of one of its resources.

AWS services that deliver to a customer's resource (EventBridge publishing to a topic for a rule)
are authorized by that resource's policy alone: a statement whose principal is the service (or
``*``), whose action and resource match, and whose conditions hold for the request context the
service sends (``aws:SourceArn``, ``aws:SourceAccount``). An explicit Deny wins. moto never asks;
the emulator's deliveries call :func:`service_allowed` before they deliver.

Conditions: the String/Arn operators with their ``IfExists`` forms and ``Null``; a statement
whose conditions use any other operator is treated as not applying (an Allow does not grant, a
Deny still denies), so an unknown condition never lets something through.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return service in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))


def _glob(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    for pattern in _listed(patterns):
        pattern, candidate = (str(pattern).lower(), value.lower()) if ignore_case else (str(pattern), value)
        if fnmatch.fnmatchcase(candidate, pattern):
            return True
    return False


_OPERATORS = {
    "stringequals": lambda actual, expected: actual in expected,
    "stringnotequals": lambda actual, expected: actual not in expected,
    "stringequalsignorecase": lambda actual, expected: actual.lower() in [e.lower() for e in expected],
    "stringlike": lambda actual, expected: _glob(expected, actual, ignore_case=False),
    "stringnotlike": lambda actual, expected: not _glob(expected, actual, ignore_case=False),
    "arnequals": lambda actual, expected: actual in expected,
    "arnlike": lambda actual, expected: _glob(expected, actual, ignore_case=False),
    "arnnotequals": lambda actual, expected: actual not in expected,
    "arnnotlike": lambda actual, expected: not _glob(expected, actual, ignore_case=False),
}


class _Unknown(Exception):
    """A condition operator this module does not evaluate."""


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    # condition keys are case-insensitive in IAM
    values = {k.lower(): v for k, v in context.items()}
    for operator, tests in conditions.items():
        name = operator.lower()
        if_exists = name.endswith("ifexists")
        name = name.removesuffix("ifexists")
        for key, expected in dict(tests).items():
            actual = values.get(key.lower())
            if name == "null":
                if (actual is None) != (str(_listed(expected)[0]).lower() == "true"):
                    return False
                continue
            if name not in _OPERATORS:
                raise _Unknown(operator)
            if actual is None:
                if if_exists:
                    continue
                return False
            if not _OPERATORS[name](actual, [str(e) for e in _listed(expected)]):
                return False
    return True


def service_allowed(
    policy: str | Mapping[str, Any] | None,
    service: str,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> bool:
    """Whether ``policy`` allows ``service`` (``events.amazonaws.com``) ``action`` on ``resource``."""
    if not policy:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    allowed = False
    for statement in _listed(document.get("Statement")):
        if not _principal_matches(statement.get("Principal"), service):
            continue
        if not _glob(statement.get("Action"), action, ignore_case=True):
            continue
        if "Resource" in statement and not _glob(statement["Resource"], resource, ignore_case=False):
            continue
        deny = statement.get("Effect") == "Deny"
        try:
            applies = _conditions_hold(statement.get("Condition") or {}, context)
        except _Unknown:
            applies = deny
        if applies and deny:
            return False
        allowed = allowed or applies
    return allowed


__all__ = ["service_allowed"]
