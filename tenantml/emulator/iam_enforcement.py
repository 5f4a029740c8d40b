"""IAM as AWS enforces it, in the in-process emulator: who signs, in which account, and what is allowed.

moto checks a request against IAM only when told to (its ``INITIAL_NO_AUTH_ACTION_COUNT``
setting) and then only for requests signed by a principal it knows: an IAM user's access key
or credentials its STS handed out. So, with enforcement on:

- the platform's own apply signs as an administrator, one IAM user per account with
  ``AdministratorAccess`` (:func:`ensure_admin`; its keys are :func:`~tenantml.emulator.session.admin_credentials`);
- a workload (a Lambda invocation, a pipeline run, a served model) signs with its role's
  credentials from the emulator's STS (:func:`role_credentials`), and every request it makes is
  checked against that role's identity policies, its permission boundary
  (:func:`~tenantml.emulator.moto_internals.add_permission_boundaries`) and the bucket policies
  moto's S3 evaluates, answered with AWS's ``AccessDenied`` when denied.

Accounts need no switch: moto finds a request's account from its access key, so the
administrator of a tenant's ``account_id`` creates the tenant's resources in that account and a
role's STS credentials act in the role's account.

``TENANTML_EMULATOR_IAM=enforce|off`` chooses when ``start()`` is not told (:func:`requested`).
Enforcement is a moto setting and therefore process-wide: one enforced emulator per process.
"""

from __future__ import annotations

import os
import threading

from core.errors import EmulatorError
from tenantml.emulator.session import ADMIN_USER_NAME, EMULATOR_ACCOUNT_ID, admin_credentials

#: the switch: ``enforce`` or ``off``
IAM_ENV = "TENANTML_EMULATOR_IAM"
ADMINISTRATOR_ACCESS_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
_PARTITION = "aws"
_lock = threading.Lock()


def requested(default: bool) -> bool:
    """Whether :data:`IAM_ENV` asks for enforcement (``default`` when unset)."""
    value = os.environ.get(IAM_ENV, "").strip().lower()
    if not value:
        return default
    if value in ("enforce", "on", "1", "true"):
        return True
    if value in ("off", "0", "false"):
        return False
    raise EmulatorError(f"{IAM_ENV}={value!r} is not understood; use 'enforce' or 'off'")


def set_enforced(enforced: bool) -> bool:
    """Turn moto's IAM checks on or off for this process; returns the previous setting."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT == 0
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if enforced else float("inf")
    ActionAuthenticatorMixin.request_count = 0
    return previous


def is_enforced() -> bool:
    from moto import settings

    return settings.INITIAL_NO_AUTH_ACTION_COUNT == 0


def ensure_admin(account_id: str | None = None) -> dict[str, str]:
    """Make the administrator user of ``account_id`` exist in moto (in this process); its keys.

    Created straight in moto's IAM backend, not through the API: with enforcement on, nobody
    could sign the first ``CreateUser``. Idempotent, and cheap enough to call before every
    apply (an emulator reset forgets the user).
    """
    from moto.iam.models import AccessKey, iam_backends

    account = account_id or EMULATOR_ACCOUNT_ID
    credentials = admin_credentials(account)
    key_id = credentials["AWS_ACCESS_KEY_ID"]
    with _lock:
        backend = iam_backends[account][_PARTITION]
        if key_id in backend.access_keys:
            return credentials
        from tenantml.emulator.moto_internals import add_aws_managed_policy

        user = backend.users.get(ADMIN_USER_NAME) or backend.create_user("global", ADMIN_USER_NAME)
        add_aws_managed_policy(account, ADMINISTRATOR_ACCESS_ARN)
        if ADMINISTRATOR_ACCESS_ARN not in user.managed_policies:
            backend.attach_user_policy(ADMINISTRATOR_ACCESS_ARN, ADMIN_USER_NAME)
        key = AccessKey(ADMIN_USER_NAME, prefix="AKIA", account_id=account)
        # fixed keys (see admin_credentials) instead of moto's random ones
        key.access_key_id = key_id
        key.secret_access_key = credentials["AWS_SECRET_ACCESS_KEY"]
        user.access_keys.append(key)
        backend.access_keys[key.physical_resource_id] = key
    return credentials


def role_credentials(role_arn: str, session_name: str, region: str) -> dict[str, str]:
    """Temporary credentials of ``role_arn`` from the emulator's STS, as a service assuming it gets.

    The role's account comes from its ARN, and moto routes the credentials' requests there.
    Called by the emulator on behalf of a service principal (Lambda, SageMaker), whose right to
    assume the role is the role's trust policy, checked by the stack's own tests.
    """
    from moto.sts.models import sts_backends

    account = role_arn.split(":")[4] or EMULATOR_ACCOUNT_ID
    assumed = sts_backends[account][_PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=43200,
        external_id="",
    )
    return {
        "AWS_ACCESS_KEY_ID": assumed.access_key_id,
        "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
        "AWS_SESSION_TOKEN": assumed.session_token,
    }


__all__ = [
    "ADMINISTRATOR_ACCESS_ARN",
    "IAM_ENV",
    "ensure_admin",
    "is_enforced",
    "requested",
    "role_credentials",
    "set_enforced",
]
