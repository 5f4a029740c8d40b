"""Physical names for everything a tenant owns, from one place.

Every name starts with ``tenantml-<tenant>-<env>-`` so that IAM permission boundaries,
cost reports and isolation checks can match a tenant's resources by prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConstructPropsError, Problem

_COMPONENT = re.compile(r"^[a-z][a-z0-9-]*$")

#: hard AWS limits on the name length of each kind of resource
NAME_LIMITS = {
    "bucket": 63,
    "role": 64,
    "function": 64,
    "queue": 80,
    "stream": 128,
    "topic": 256,
    "cluster": 100,
    "alarm": 255,
    "model_package_group": 63,
    "default": 64,
}


@dataclass(frozen=True, kw_only=True)
class Naming:
    tenant: str
    environment: str
    region: str
    account_id: str | None = None

    @property
    def partition(self) -> str:
        """The ARN partition of the tenant's region (GovCloud and China have their own)."""
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws"

    @property
    def prefix(self) -> str:
        return f"tenantml-{self.tenant}-{self.environment}"

    def name(self, component: str, kind: str = "default") -> str:
        """``tenantml-<tenant>-<env>-<component>``, checked against the AWS limit for ``kind``."""
        if not _COMPONENT.match(component):
            raise ConstructPropsError(
                [Problem("component", "must be lowercase letters, digits and '-'", component)]
            )
        value = f"{self.prefix}-{component}"
        limit = NAME_LIMITS[kind]
        if len(value) > limit:
            raise ConstructPropsError(
                [Problem(f"{kind} name", f"is {len(value)} characters; AWS allows {limit}", value)]
            )
        return value

    def bucket(self, component: str) -> str:
        """Bucket names are global: add the account id when the spec names one."""
        base = f"{component}-{self.account_id}" if self.account_id else component
        return self.name(base, "bucket")

    def arn_pattern(self, service: str, resource: str) -> str:
        """An ARN pattern matching this tenant's resources of one service (for boundaries)."""
        account = self.account_id or "*"
        if service == "s3":
            return f"arn:{self.partition}:s3:::{resource}"
        region = "" if service == "iam" else self.region
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"
