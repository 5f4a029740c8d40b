"""AWS services assuming their roles, in the emulator: the account's administrator stands in for them.

On AWS a workload's role trusts a service (``lambda.amazonaws.com``, ``sagemaker.amazonaws.com``)
and only that service can assume it. Nothing in the emulator can sign as a service, so the
processes that play one (``up`` serving a champion as a SageMaker endpoint would, ``tenantml
serve`` on the emulator) call the emulator's STS ``AssumeRole`` as the administrator of the
role's account; this lets that call through when the role's trust policy allows a service
principal to assume it. The trust policy is still checked, and another account's administrator
is refused, as is every other principal a trust policy does not name.

moto 5.2.5 also fails with an internal error (HTTP 500, ``TypeError``) on a trust policy whose
statements name no ``AWS`` principal; those statements are skipped here, so such a caller gets
``AccessDenied`` as on AWS.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from tenantml.emulator.session import ADMIN_USER_NAME

_installed = False


def _statements(document: Any) -> list[dict[str, Any]]:
    policy = json.loads(document) if isinstance(document, str) else document
    statements = (policy or {}).get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def trusts_a_service(document: Any) -> bool:
    """Whether a trust policy lets some service principal assume the role."""
    return any(
        statement.get("Effect") == "Allow"
        and any(a in ("sts:AssumeRole", "sts:*", "*") for a in _listed(statement.get("Action", [])))
        and isinstance(statement.get("Principal"), dict)
        and "Service" in statement["Principal"]
        and not statement.get("Condition")
        for statement in _statements(document)
    )


def _role(arn: str) -> Any:
    """The role ``arn`` names, from its own account's IAM (None when there is none)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    parts = arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    try:
        return iam_backends[parts[4]][parts[1] or "aws"].get_role_by_arn(arn)
    except NotFoundException:
        return None


def let_administrators_stand_in_for_services() -> None:
    """Patch moto's trust check as the module docstring says. Process-wide and idempotent.

    moto looks the role up in the caller's account only, so a cross-account ``AssumeRole`` was
    never checked against the role's trust policy at all; the role is looked up in its own
    account here, and its trust policy decides.
    """
    global _installed
    if _installed:
        return
    from moto.iam.access_control import (
        REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK,
        IAMPolicy,
        IAMRequestBase,
        PermissionResult,
        format_incoming_conditional_values,
    )

    is_assuming = IAMRequestBase._is_assuming_role_operation

    @functools.wraps(is_assuming)
    def is_assuming_role_operation(self: Any, resource_arn: str) -> bool:
        return self._action in REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK and _role(resource_arn) is not None

    trust_check = IAMRequestBase._check_role_trust_relationship

    @functools.wraps(trust_check)
    def check_role_trust_relationship(self: Any, role_arn: str) -> bool:
        role = _role(role_arn)
        if role is None:
            return False
        document = role.assume_role_policy_document
        administrator = f"arn:aws:iam::{role.account_id}:user/{ADMIN_USER_NAME}"
        if self._access_key.arn == administrator and trusts_a_service(document):
            return True
        # moto's evaluation, over the statements it can read (it fails on service-only ones)
        named = [
            s
            for s in _statements(document)
            if isinstance(s.get("Principal"), dict) and "AWS" in s["Principal"]
        ]
        if not named:
            return False
        result = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": named})).is_action_permitted(
            self._action, role_arn, self._access_key.arn, format_incoming_conditional_values(self._data)
        )
        return result == PermissionResult.PERMITTED

    IAMRequestBase._is_assuming_role_operation = is_assuming_role_operation
    IAMRequestBase._check_role_trust_relationship = check_role_trust_relationship
    _installed = True


__all__ = ["let_administrators_stand_in_for_services", "trusts_a_service"]
