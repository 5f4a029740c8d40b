"""A botocore session that acts as an IAM role: credentials from STS AssumeRole, refreshed before expiry.

A workload runs as its role, not as whoever started it: a served model reads the registry and
writes its inference log with the serving role's permissions. Where the runtime does not hand
the process the role's credentials (a SageMaker endpoint does; ``tenantml serve`` and the models
``tenantml up`` serves do not), the process assumes the role itself with the credentials it was
started with (the ambient chain). botocore's refreshable credentials renew them before they
expire (15 minutes ahead, by default), so a server that runs for days keeps working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: how long each set of role credentials lasts (AWS's default for AssumeRole, and its minimum for
#: a role chain is 15 minutes): renewed well before expiry by botocore
ROLE_SESSION_SECONDS = 3600


def role_session(
    role_arn: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    session_name: str = "tenantml-workload",
    duration_seconds: int = ROLE_SESSION_SECONDS,
    source: Any = None,
) -> Any:
    """A ``botocore.session.Session`` whose credentials are ``role_arn``'s, assumed through STS.

    The AssumeRole calls sign with ``source``'s credentials (a botocore session; default: the
    ambient chain) and go to ``endpoint_url`` (the emulator's STS, or the regional STS endpoint
    when None).
    """
    import botocore.session
    from botocore.credentials import RefreshableCredentials

    source = source or botocore.session.get_session()
    sts = source.create_client("sts", region_name=region, endpoint_url=endpoint_url)

    def fetch() -> dict[str, str]:
        answer = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=duration_seconds
        )["Credentials"]
        expiry = answer["Expiration"]
        return {
            "access_key": answer["AccessKeyId"],
            "secret_key": answer["SecretAccessKey"],
            "token": answer["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    session = botocore.session.get_session()
    # botocore has no public setter for refreshable credentials (set_credentials makes static ones)
    session._credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="assume-role"
    )
    return session


__all__ = ["ROLE_SESSION_SECONDS", "role_session"]
