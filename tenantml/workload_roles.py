"""The role a CLI command acts as when it does a workload's job, and a session that signs as it.

On AWS every job of the platform runs as a role, and the commands that do one of those jobs by hand
sign as the same role, so that what they may do is what the job may do (the operator's
administrator rights never stand in for a missing grant):

=====================  =============================================  =================================
command                the job on AWS                                 role (stack output)
=====================  =============================================  =================================
``predict``            a batch transform job of the served model      ``serving_role_arn``
``serve``              the endpoint's (or instance's) model server    ``serving_role_arn``
``monitor``/``report``  the monitoring job (metrics, alarms, report)    ``training_role_arn``
=====================  =============================================  =================================

Operator commands (``models list/show/approve/promote``, ``train`` and ``models reproduce`` (they
start an execution of the pipeline state machine, whose jobs run as the job role), ``deploy``'s
alias move, ``plan``, ``apply``, ``status``) sign as the tenant account's administrator, and so do ``traffic``'s labels:
delivering ground truth into the data bucket is the data producer's job, the tenant's team, for
which no workload role exists (its requests to the endpoint are plain HTTP and sign as nobody).

On the emulator a command assumes the role through the emulator's STS as the tenant account's
administrator, who stands in for the AWS service the role trusts
(:mod:`tenantml.emulator.service_principals`), as ``up`` does for the models it serves. On AWS the
roles trust only their services, so a command uses the credentials it finds: run it where the role
is the ambient identity (a SageMaker job, the instance profile) or with rights of your own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import WorkloadAccessDeniedError
from tenantml.tenant_outputs import TenantOutputs

#: error codes AWS services answer a denied request with (S3 answers a HEAD with a bare 403)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError", "403"})


@dataclass(frozen=True)
class WorkloadRole:
    """A workload role the stack creates: its name in messages and the output holding its ARN."""

    name: str
    output: str


SERVING = WorkloadRole("serving", "serving_role_arn")
MONITOR = WorkloadRole("monitor", "training_role_arn")
#: the ``features`` job (ingest, materialize) runs as the jobs' role too
FEATURES = WorkloadRole("features job", "training_role_arn")


def workload_role_arn(found: TenantOutputs, role: WorkloadRole) -> str | None:
    """The ARN of ``role`` when the command assumes it (the emulator), None on AWS (see the module)."""
    return found.require(role.output) if found.emulated else None


def role_botocore_session(
    role_arn: str, *, endpoint: str, region: str | None, account_id: str | None, session_name: str
) -> Any:
    """A botocore session acting as ``role_arn`` on the emulator: assumed as the tenant account's
    administrator (standing in for the service the role trusts), renewed before it expires."""
    import botocore.session

    from pipelines.role_session import role_session
    from tenantml.emulator.session import admin_credentials, shared_data_loader

    keys = admin_credentials(account_id)
    source = botocore.session.get_session()
    source.register_component("data_loader", shared_data_loader())
    source.set_credentials(keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
    session = role_session(
        role_arn, region=region, endpoint_url=endpoint, session_name=session_name, source=source
    )
    # before its first client: the role's clients reuse the service models already parsed
    session.register_component("data_loader", shared_data_loader())
    return session


def workload_session(found: TenantOutputs, role: WorkloadRole, *, command: str) -> Any:
    """A boto3 session signing as ``role`` of ``found``'s tenant (the ambient chain on AWS)."""
    import boto3

    arn = workload_role_arn(found, role)
    if arn is None:
        return boto3.session.Session()
    assert found.endpoint_url is not None  # emulated
    botocore_session = role_botocore_session(
        arn,
        endpoint=found.endpoint_url,
        region=found.region,
        account_id=found.account_id,
        session_name=f"tenantml-{command.replace(' ', '-')}",
    )
    return boto3.Session(botocore_session=botocore_session)


def _denial(err: BaseException) -> Any:
    """The botocore ``ClientError`` in ``err``'s chain that is an access denial, or None."""
    from botocore.exceptions import ClientError

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            error = current.response.get("Error", {})
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if str(error.get("Code")) in DENIED_CODES or status == 403:
                return current
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def acting_as(command: str, role: WorkloadRole, role_arn: str | None) -> Iterator[None]:
    """Report an access denial inside the block as :class:`WorkloadAccessDeniedError` naming the role."""
    try:
        yield
    except WorkloadAccessDeniedError:
        raise
    except Exception as err:  # re-raised as is unless it is a denial
        denied = _denial(err)
        if denied is None:
            raise
        who = (
            f"the {role.name} role {role_arn}"
            if role_arn
            else f"the {role.name} role's job (ambient credentials)"
        )
        code = str(denied.response.get("Error", {}).get("Code"))
        raise WorkloadAccessDeniedError(
            f"tenantml {command} acts as {who}, and AWS denied it (AccessDenied, {code}): {err}. "
            f"The role's policy lacks this permission: grant it to the {role.name} role in the stack "
            f"(stacks/tenant_platform.py) and apply, rather than running as an administrator"
        ) from err


__all__ = [
    "DENIED_CODES",
    "MONITOR",
    "SERVING",
    "WorkloadRole",
    "acting_as",
    "role_botocore_session",
    "workload_role_arn",
    "workload_session",
]
