"""The declarative tenant spec: one YAML file per team under ``tenants/``.

Specs are pydantic models (frozen, unknown keys rejected). ``load_specs`` reads a
directory and raises one :class:`TenantSpecError` that lists every problem in every
file (file, field path, bad value, what is allowed), so a user fixes all of them in
one pass.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core import eks_versions
from core.errors import Problem, TenantSpecError
from core.feature_spec import COLUMN_PATTERN, MAX_VIEWS, FeaturesSpec, model_views_problem
from core.spec_base import SpecModel as _Model
from core.spec_base import shorten as _shorten
from core.spec_yaml import load_yaml, read_spec_text
from core.stack_names import KUBERNETES_STACK_SUFFIX

#: lowercase DNS label, short enough that every physical name derived from it fits AWS limits
TENANT_NAME_PATTERN = r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
TAG_KEY_PATTERN = r"^[\w .:/=+@-]{1,128}$"

Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN)]


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class ProblemType(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


#: metric name -> (problem type, True when higher is better)
METRICS: dict[str, tuple[ProblemType, bool]] = {
    "roc_auc": (ProblemType.CLASSIFICATION, True),
    "accuracy": (ProblemType.CLASSIFICATION, True),
    "f1": (ProblemType.CLASSIFICATION, True),
    "precision": (ProblemType.CLASSIFICATION, True),
    "recall": (ProblemType.CLASSIFICATION, True),
    "log_loss": (ProblemType.CLASSIFICATION, False),
    "r2": (ProblemType.REGRESSION, True),
    "rmse": (ProblemType.REGRESSION, False),
    "mae": (ProblemType.REGRESSION, False),
}

#: estimator family name -> problem types it supports (pipelines map names to scikit-learn classes)
ESTIMATORS: dict[str, frozenset[ProblemType]] = {
    "logistic_regression": frozenset({ProblemType.CLASSIFICATION}),
    "random_forest": frozenset({ProblemType.CLASSIFICATION, ProblemType.REGRESSION}),
    "gradient_boosting": frozenset({ProblemType.CLASSIFICATION, ProblemType.REGRESSION}),
    "ridge": frozenset({ProblemType.REGRESSION}),
}

#: search trials run side by side at most: a bigger batch gives the sampler too few results to
#: learn from between batches
MAX_PARALLEL_TRIALS = 32


# Rules between fields of one section are field validators on the later field, reading the earlier
# one from ``info.data``: pydantic skips model validators when any field of the model is invalid,
# but ``info.data`` holds every earlier field that did validate, so each rule runs exactly when its
# inputs are valid and its error names the field. Such fields set ``validate_default`` so that a
# default breaking the rule is caught too.


#: an IAM role in the tenant's account by name, or any role by ARN
IAM_ROLE_PATTERN = r"^(?:[A-Za-z0-9+=,.@_-]{1,64}|arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+)$"
IamRole = Annotated[str, StringConstraints(pattern=IAM_ROLE_PATTERN, max_length=600)]


class ClusterAccessSpec(_Model):
    """Who may use an EKS cluster's Kubernetes API: one EKS access entry (cluster admin) per principal.

    The cluster authenticates through access entries only (``authentication_mode = "API"``), and the
    creator gets no implicit admin rights, so these are the only ways in.
    """

    #: the role that applies the tenant's Kubernetes stack (CI); None: whoever applies the cluster stack
    deploy_role: IamRole | None = None
    #: the roles of the people who administer the cluster
    admin_roles: list[IamRole] = Field(default_factory=list, max_length=10)

    @field_validator("admin_roles")
    @classmethod
    def _distinct(cls, roles: list[str], info: ValidationInfo) -> list[str]:
        # EKS refuses a second access entry for the same principal
        repeated = sorted({r for r in roles if roles.count(r) > 1 or r == info.data.get("deploy_role")})
        if repeated:
            raise ValueError(f"{repeated} listed twice (deploy_role included): one access entry per role")
        return roles


class ComputeSpec(_Model):
    """Where training and serving run: an EKS cluster, or EC2 instances for small tenants."""

    kind: Literal["eks", "ec2"]
    instance_types: list[InstanceType] = Field(min_length=1, max_length=10)
    min_nodes: int = Field(default=1, ge=0, le=100)
    max_nodes: int = Field(default=2, ge=1, le=100, validate_default=True)
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.\d{2}$")] = Field(
        default=eks_versions.DEFAULT_VERSION, validate_default=True
    )
    vpc_cidr: Annotated[str, StringConstraints(pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$")] = (
        "10.0.0.0/16"
    )
    availability_zones: int = Field(default=2, ge=2, le=3)
    #: networks outside the VPC that may reach the EKS API endpoint (e.g. CI runners); empty: private only
    endpoint_public_access_cidrs: list[str] = Field(default_factory=list, max_length=40)
    cluster_access: ClusterAccessSpec = ClusterAccessSpec()

    @field_validator("kubernetes_version")
    @classmethod
    def _in_standard_support(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") != "eks":
            return value
        # a validation context may fix the day (tests); otherwise today, in UTC like AWS's calendar
        on = (info.context or {}).get("today") or datetime.now(UTC).date()
        status = eks_versions.support_status(value, on)
        if status is not eks_versions.SupportStatus.STANDARD:
            supported = ", ".join(eks_versions.versions_in_standard_support(on))
            raise ValueError(
                f"Kubernetes {value} is {status.value} in EKS support on {on.isoformat()} (the cluster's "
                f"upgrade policy is STANDARD: no extended-support charges); use one of {supported}"
            )
        return value

    @field_validator("endpoint_public_access_cidrs")
    @classmethod
    def _narrow_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=True)
            except ValueError as err:
                raise ValueError(f"{value!r} is not a network address: {err}") from err
            if network.prefixlen == 0:
                raise ValueError(f"{value} opens the API endpoint to the internet; name the CI networks")
        return values

    @field_validator("vpc_cidr")
    @classmethod
    def _private_network(cls, value: str) -> str:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as err:
            raise ValueError(f"not a network address: {err}") from err
        if not network.is_private:
            raise ValueError("must be a private (RFC 1918) range such as 10.0.0.0/16")
        return value

    @field_validator("max_nodes")
    @classmethod
    def _not_below_min_nodes(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_nodes")
        if minimum is not None and value < minimum:
            raise ValueError(f"must not be below min_nodes ({minimum})")
        return value


class StreamingSpec(_Model):
    """The Kinesis stream that carries inference logs and feature events."""

    mode: Literal["provisioned", "on_demand"] = "provisioned"
    shards: int = Field(default=1, ge=1, le=500)
    retention_hours: int = Field(default=24, ge=24, le=8760)


class StorageSpec(_Model):
    """Lifecycle of the tenant's buckets."""

    raw_data_expiration_days: int = Field(default=90, ge=1, le=3650)
    noncurrent_model_expiration_days: int = Field(default=365, ge=1, le=3650)
    artifacts_infrequent_access_days: int = Field(default=30, ge=30, le=3650)


class ModelSpec(_Model):
    """The model problem the tenant solves and the bar a new version has to clear."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,24}$")] = "default"
    problem: ProblemType
    target: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    primary_metric: str
    minimum_metric: float
    drift_threshold: float = Field(default=0.2, gt=0, le=10)
    estimator: str = Field(default="random_forest", validate_default=True)
    search_trials: int = Field(default=20, ge=1, le=1000)
    search_timeout_seconds: int = Field(default=300, ge=10, le=86400)
    #: search trials run side by side (the search's batch size; it decides the results, the job's
    #: CPUs only how fast they come)
    search_parallel_trials: int = Field(default=2, ge=1, le=MAX_PARALLEL_TRIALS)
    promotion_margin: float = Field(default=0.0, ge=0, le=1)
    serving_format: Literal["sklearn", "onnx"] = "sklearn"
    #: feature views (``features.views``) the model is trained and served with: its training set is
    #: joined from them point in time, and a request may carry only their entity keys
    feature_views: list[Annotated[str, StringConstraints(pattern=COLUMN_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_VIEWS
    )

    @field_validator("primary_metric")
    @classmethod
    def _known_metric_of_the_problem(cls, value: str, info: ValidationInfo) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric; allowed: {', '.join(sorted(METRICS))}")
        problem = info.data.get("problem")
        if problem is not None and METRICS[value][0] is not problem:
            allowed = sorted(m for m, (p, _) in METRICS.items() if p is problem)
            raise ValueError(f"is not a {problem.value} metric; allowed: {', '.join(allowed)}")
        return value

    @field_validator("estimator")
    @classmethod
    def _known_estimator_of_the_problem(cls, value: str, info: ValidationInfo) -> str:
        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator; allowed: {', '.join(sorted(ESTIMATORS))}")
        problem = info.data.get("problem")
        if problem is not None and problem not in ESTIMATORS[value]:
            allowed = sorted(e for e, ps in ESTIMATORS.items() if problem in ps)
            raise ValueError(f"does not solve {problem.value}; allowed: {', '.join(allowed)}")
        return value

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.primary_metric][1]


class MonitoringSpec(_Model):
    """Alarm thresholds for a serving model and the guard against retrain storms."""

    latency_p99_ms: float = Field(default=250.0, gt=0, le=60_000)
    error_rate: float = Field(default=0.01, gt=0, le=1)
    evaluation_periods: int = Field(default=3, ge=1, le=100)
    datapoints_to_alarm: int = Field(default=2, ge=1, le=100, validate_default=True)
    period_seconds: Literal[60, 300, 900, 3600] = 60
    retrain_cooldown_minutes: int = Field(default=60, ge=1, le=10_080)
    #: rows a monitored window needs before its drift is scored: PSI over a few dozen rows is
    #: sampling noise (about bins/rows per feature), not drift, and would page people
    drift_min_rows: int = Field(default=200, ge=1, le=1_000_000)
    #: live quality is measured on the predictions of this many past hours whose labels have arrived
    #: (labels come back late: hours or days after the request)
    quality_window_hours: int = Field(default=24, ge=1, le=24 * 30)
    #: labelled rows below which only the count is published: a metric over a handful of rows is noise
    quality_min_rows: int = Field(default=50, ge=1, le=1_000_000)

    @field_validator("datapoints_to_alarm")
    @classmethod
    def _within_evaluation_periods(cls, value: int, info: ValidationInfo) -> int:
        periods = info.data.get("evaluation_periods")
        if periods is not None and value > periods:
            raise ValueError(f"must not exceed evaluation_periods ({periods})")
        return value


#: AWS's limit of tags on one resource; the provider's default_tags count towards it
AWS_TAG_LIMIT = 50
#: the tags ``TenantSpec.all_tags`` adds to the spec's on every resource
PLATFORM_TAG_KEYS = ("tenantml:tenant", "tenantml:environment", "tenantml:managed-by")
#: the most tags a construct sets on one resource of its own (infra/network.py: subnets)
STACK_RESOURCE_TAGS = 2
MAX_SPEC_TAGS = AWS_TAG_LIMIT - len(PLATFORM_TAG_KEYS) - STACK_RESOURCE_TAGS
MAX_ALERT_EMAILS = 100
MAX_SUPPRESSIONS = 200

SAGEMAKER_INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class ServingSpec(_Model):
    """Where the tenant's model is served on AWS, and how a new version is rolled out.

    ``local`` (the default) puts no serving infrastructure in the stack: ``tenantml up`` serves
    the champion on 127.0.0.1. Serving is opt-in so that adding this section to the platform
    never adds an endpoint's cost or a cluster workload to an existing tenant unasked.
    """

    platform: Literal["sagemaker", "eks", "local"] = "local"
    #: the registry version a SageMaker endpoint serves; promotion is a reviewed change of this
    #: number (the PR preview shows the blue/green deployment). None: no endpoint yet
    model_version: int | None = Field(default=None, ge=1)
    instance_type: Annotated[str, StringConstraints(pattern=SAGEMAKER_INSTANCE_TYPE_PATTERN)] = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1, le=100)
    #: share of capacity the new fleet takes first during a blue/green deployment
    canary_percent: int = Field(default=10, ge=1, le=50)
    #: how long the canary bakes under the guardrail alarms before all traffic shifts
    bake_minutes: int = Field(default=10, ge=0, le=60)
    min_replicas: int = Field(default=2, ge=1, le=100)
    max_replicas: int = Field(default=4, ge=1, le=100, validate_default=True)
    target_cpu_percent: int = Field(default=70, ge=10, le=100)
    #: server processes per EKS pod or EC2 instance; they follow the champion alias in one process
    #: (a router, its model servers, the watch), so only 1: scale with replicas or instances
    workers: int = 1

    @field_validator("model_version")
    @classmethod
    def _only_for_sagemaker(cls, value: int | None, info: ValidationInfo) -> int | None:
        platform = info.data.get("platform")
        if value is not None and platform not in (None, "sagemaker"):
            raise ValueError(
                f"pins a SageMaker endpoint; platform {platform} serves the registry's "
                "champion alias instead: remove model_version or set platform: sagemaker"
            )
        return value

    @field_validator("workers")
    @classmethod
    def _one_following_process(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                "must be 1: the servers on EKS pods and EC2 instances follow the champion alias in one "
                "process; scale with min_replicas/max_replicas (EKS) or the fleet's instances instead"
            )
        return value

    @field_validator("max_replicas")
    @classmethod
    def _not_below_min_replicas(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_replicas")
        if minimum is not None and value < minimum:
            raise ValueError(f"must not be below min_replicas ({minimum})")
        return value


class StateBackendSpec(_Model):
    """Whether Terraform keeps this tenant's state remotely on real AWS.

    Where it goes is a platform setting (``platform.yaml``: one state region, a bucket per
    account made by ``tenantml bootstrap``, key ``<key_prefix>/<tenant>/terraform.tfstate``),
    not a tenant's: tenants sharing an account share its bucket, whatever their region.
    """

    enabled: bool = True


class LambdaSpec(_Model):
    """Settings shared by the tenant's event handlers."""

    reserved_concurrency: int = Field(default=5, ge=1, le=1000)
    timeout_seconds: int = Field(default=300, ge=1, le=900)
    memory_mb: int = Field(default=1024, ge=128, le=10240)
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365] = 30


class Suppression(_Model):
    """A policy finding the tenant accepts on purpose: which rule, where, and why (reported, never silent)."""

    rule_id: Annotated[str, StringConstraints(pattern=r"^TM-[A-Z0-9]+-\d{3}$")]
    reason: Annotated[str, StringConstraints(min_length=10, max_length=500)]
    #: Terraform address glob (``aws_s3_bucket.storage_*``); omitted means the whole stack
    address: str = "*"


FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class _SectionRule:
    """A rule between fields of different sections of a tenant spec.

    It runs in TenantSpec's model validator when every field is valid. Pydantic skips that
    validator as soon as one field anywhere is invalid, so :func:`parse_spec` then runs the rule
    on the raw document, provided the fields it reads are valid.
    """

    #: the fields passed to ``check``, in order; a problem is reported at the first one
    reads: tuple[FieldPath, ...]
    #: the problem's message, or None when the values fit
    check: Callable[..., str | None]


def _eks_serving_needs_eks_compute(platform: str, compute_kind: str) -> str | None:
    if platform == "eks" and compute_kind != "eks":
        return f"needs compute.kind eks (this tenant runs on {compute_kind}); use sagemaker or local"
    return None


_SECTION_RULES = (
    _SectionRule(reads=(("serving", "platform"), ("compute", "kind")), check=_eks_serving_needs_eks_compute),
    _SectionRule(reads=(("model", "feature_views"), ("features", "views")), check=model_views_problem),
)
#: the pydantic error type TenantSpec raises for broken section rules (its context lists them)
_SECTION_RULES_ERROR = "section_rules"


class _UnreadableField(Exception):
    """A field a section rule reads is itself invalid: the rule cannot be judged."""


def _section_problems(read: Callable[[FieldPath], Any]) -> list[tuple[FieldPath, str, Any]]:
    """(field, message, value) for each broken section rule whose fields ``read`` can give."""
    found = []
    for rule in _SECTION_RULES:
        try:
            values = [read(path) for path in rule.reads]
        except _UnreadableField:
            continue
        message = rule.check(*values)
        if message is not None:
            found.append((rule.reads[0], message, values[0]))
    return found


class TenantSpec(_Model):
    """Everything one team (tenant) owns, declared in ``tenants/<name>.yaml``."""

    name: Annotated[str, StringConstraints(pattern=TENANT_NAME_PATTERN)]
    environment: Environment
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
    account_id: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] | None = None
    owners: list[Email] = Field(min_length=1)
    #: each address is an SNS subscription resource; more people: subscribe a distribution list
    alert_emails: list[Email] = Field(default_factory=list, max_length=MAX_ALERT_EMAILS)
    compute: ComputeSpec
    #: the tag of the tenant's one image in its ECR repository (immutable tags): every pipeline job,
    #: every registered version and the serving fleet (EC2, EKS) run it
    image_tag: Annotated[str, StringConstraints(pattern=IMAGE_TAG_PATTERN)]
    streaming: StreamingSpec = StreamingSpec()
    storage: StorageSpec = StorageSpec()
    model: ModelSpec
    features: FeaturesSpec = FeaturesSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    serving: ServingSpec = ServingSpec()
    lambdas: LambdaSpec = LambdaSpec()
    state: StateBackendSpec = StateBackendSpec()
    #: every suppression is matched against every finding: bounded so that a check stays fast
    suppressions: list[Suppression] = Field(default_factory=list, max_length=MAX_SUPPRESSIONS)
    tags: dict[
        Annotated[str, StringConstraints(pattern=TAG_KEY_PATTERN)],
        Annotated[str, StringConstraints(max_length=256)],
    ] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _no_environment_part(cls, value: str) -> str:
        # names are prefixed tenantml-<tenant>-<environment>-: tenant "team" in dev would own
        # every name of tenant "team-dev" in prod, so an environment may not be part of a name
        clashing = sorted(set(value.split("-")) & {e.value for e in Environment})
        if clashing:
            raise ValueError(
                f"must not contain an environment name ({', '.join(clashing)}) as a '-'-separated part: "
                "physical names start tenantml-<tenant>-<environment>- and would overlap another tenant's"
            )
        return value

    @field_validator("alert_emails")
    @classmethod
    def _no_duplicate_alert_emails(cls, emails: list[str]) -> list[str]:
        repeated = sorted({e for e in emails if emails.count(e) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once (one subscription per address)")
        return emails

    @field_validator("name")
    @classmethod
    def _not_a_kubernetes_stack(cls, value: str) -> str:
        if value.endswith(KUBERNETES_STACK_SUFFIX):
            raise ValueError(
                f"must not end in {KUBERNETES_STACK_SUFFIX!r}: that names the Kubernetes stack of an EKS tenant"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in tags if k.lower().startswith("aws:") or k.startswith("tenantml:"))
        if reserved:
            raise ValueError(
                f"tag keys {reserved} are reserved (aws:* and tenantml:* are set by the platform)"
            )
        if len(tags) > MAX_SPEC_TAGS:
            raise ValueError(
                f"has {len(tags)} tags; at most {MAX_SPEC_TAGS}: AWS allows {AWS_TAG_LIMIT} per resource, "
                f"and the platform adds {len(PLATFORM_TAG_KEYS)} to every resource and up to "
                f"{STACK_RESOURCE_TAGS} more to some (a subnet's Name and kubernetes.io/role)"
            )
        return tags

    @model_validator(mode="after")
    def _sections_fit(self) -> TenantSpec:
        def read(path: FieldPath) -> Any:
            value: Any = self
            for name in path:
                value = getattr(value, name)
            return value

        found = _section_problems(read)
        if found:
            # a model validator's error sits at the top level: the context carries each field
            raise PydanticCustomError(
                _SECTION_RULES_ERROR,
                "{summary}",
                {"summary": "; ".join(m for _, m, _ in found), "problems": found},
            )
        return self

    @property
    def all_tags(self) -> dict[str, str]:
        """The spec's tags plus the ones the platform sets on every resource."""
        return {
            **self.tags,
            "tenantml:tenant": self.name,
            "tenantml:environment": self.environment.value,
            "tenantml:managed-by": "tenantml",
        }


#: what each pattern means, in words a spec author understands
_PATTERN_HINTS = {
    TENANT_NAME_PATTERN: "lowercase letters, digits and '-', starting with a letter, at most 20 characters",
    r"^[a-z][a-z0-9-]{0,24}$": "lowercase letters, digits and '-', starting with a letter, at most 25 characters",
    EMAIL_PATTERN: "an e-mail address such as team@example.com",
    COLUMN_PATTERN: "lowercase letters, digits and '_', starting with a letter, at most 63 characters",
    REGION_PATTERN: "an AWS region such as eu-west-1",
    INSTANCE_TYPE_PATTERN: "an EC2 instance type such as m6i.large",
    SAGEMAKER_INSTANCE_TYPE_PATTERN: "a SageMaker instance type such as ml.m5.large",
    IMAGE_TAG_PATTERN: "an image tag: letters, digits, '_', '.' and '-', at most 128 characters",
    TAG_KEY_PATTERN: "1-128 letters, digits, spaces and _ . : / = + - @",
    IAM_ROLE_PATTERN: "an IAM role name (deploy-role) or role ARN (arn:aws:iam::111122223333:role/deploy-role)",
}


def _format_location(loc: Iterable[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _field_path(loc: Iterable[int | str]) -> tuple[int | str, ...]:
    # pydantic puts union/constraint branch names in loc; keep only the field path
    return tuple(
        p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "constrained-str")))
    )


#: fields a spec may no longer set -> what to do instead (an unknown key alone would not say)
_MOVED_FIELDS: dict[tuple[int | str, ...], str] = {
    ("serving", "image_tag"): (
        "is no longer a serving setting: the tenant has one image, which pipeline jobs, registered "
        "versions and serving all run; move this tag to the top-level image_tag and remove it here"
    ),
}


def _problems_from_validation(path: Path, err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        if e["type"] == _SECTION_RULES_ERROR:
            problems.extend(_section_problem(path, *found) for found in e["ctx"]["problems"])
            continue
        loc = _field_path(e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and loc in _MOVED_FIELDS:
            message = _MOVED_FIELDS[loc]
        if e["type"] == "string_pattern_mismatch":
            pattern = e.get("ctx", {}).get("pattern", "")
            message = f"must be {_PATTERN_HINTS.get(pattern, f'a string matching {pattern}')}"
        value = e.get("input") if e["type"] != "missing" else None
        if isinstance(value, dict | list) and (isinstance(value, dict) or e["type"] == "too_long"):
            value = None  # a whole sub-document or long list is noise; the message says what is wrong
        elif isinstance(value, str):
            value = _shorten(value)  # a 1 MiB string would bury every other problem
        problems.append(Problem(f"{path}: {_format_location(loc)}", message, value))
    return problems


def _section_problem(path: Path, field: FieldPath, message: str, value: Any) -> Problem:
    return Problem(f"{path}: {_format_location(field)}", message, value)


def _raw_reader(data: Mapping[str, Any], err: ValidationError) -> Callable[[FieldPath], Any]:
    """Read fields pydantic accepted from the raw document, as validated values (defaults when absent)."""
    # a broken section rule sits at the top level but leaves every field valid
    failed = [
        _field_path(e["loc"]) for e in err.errors(include_url=False) if e["type"] != _SECTION_RULES_ERROR
    ]

    def read(path: FieldPath) -> Any:
        # an error at the field, inside it, or at a section holding it (missing, not a mapping)
        if any(f[: len(path)] == path or path[: len(f)] == f for f in failed):
            raise _UnreadableField(path)
        model: type[BaseModel] = TenantSpec
        value: Any = data
        for name in path:
            info = model.model_fields[name]
            if isinstance(value, Mapping) and name in value:
                value = value[name]
            else:
                value = info.get_default(call_default_factory=True)
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                model = info.annotation
                if isinstance(value, BaseModel):
                    value = value.model_dump()
        return TypeAdapter(Annotated[info.annotation, info]).validate_python(value)

    return read


class _SpecFileError(TenantSpecError):
    """One file's problems, with its tenant name and VPC range when valid (for the cross-file checks)."""

    def __init__(self, problems: list[Problem], tenant_name: str | None, vpc_cidr: str | None = None) -> None:
        super().__init__(problems)
        self.tenant_name = tenant_name
        self.vpc_cidr = vpc_cidr


def parse_spec(path: Path, text: str) -> TenantSpec:
    """Parse one spec document; raise :class:`TenantSpecError` naming every problem.

    Every problem means field errors, and also the cross-field rules pydantic skips once a field
    is invalid: each is judged whenever the fields it reads are valid.
    """
    data = load_yaml(path, text)  # bounded: size, aliases, depth, duplicate keys
    if not isinstance(data, dict):
        raise TenantSpecError(
            [Problem(str(path), "a tenant spec must be a YAML mapping", type(data).__name__)]
        )
    try:
        return TenantSpec.model_validate(data)
    except ValidationError as err:
        problems = _problems_from_validation(path, err)
        read = _raw_reader(data, err)
        if not any(e["type"] == _SECTION_RULES_ERROR for e in err.errors(include_url=False)):
            problems.extend(_section_problem(path, *found) for found in _section_problems(read))
        raise _SpecFileError(
            problems, _readable(read, ("name",)), _readable(read, ("compute", "vpc_cidr"))
        ) from err


def _readable(read: Callable[[FieldPath], Any], path: FieldPath) -> Any:
    try:
        return read(path)
    except _UnreadableField:
        return None


def _overlapping_networks(networks: list[tuple[Path, str, str]]) -> list[Problem]:
    """A problem for each tenant whose ``compute.vpc_cidr`` overlaps an earlier file's.

    Tenants' VPCs are peered, routed through a transit gateway or reached over one VPN sooner or
    later; overlapping ranges make that impossible without renumbering a running network.
    """
    problems = []
    seen: list[tuple[Path, str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for path, tenant, cidr in networks:
        network = ipaddress.ip_network(cidr)
        clash = next((s for s in seen if s[2].overlaps(network)), None)
        if clash is not None:
            problems.append(
                Problem(
                    f"{path}: compute.vpc_cidr",
                    f"overlaps {clash[2]} of tenant {clash[1]} ({clash[0]}): every tenant needs its own "
                    "range so that tenant networks can be peered or routed",
                    cidr,
                )
            )
        seen.append((path, tenant, network))
    return problems


def load_specs(directory: Path, only: str | None = None) -> list[TenantSpec]:
    """Load and validate every ``*.yaml``/``*.yml`` in ``directory``, sorted by tenant name.

    Problems from all files (and duplicate names across files, including files with other
    problems) are gathered into one error. ``only`` restricts the result to one tenant, after
    every file has been validated.
    """
    if not directory.is_dir():
        raise TenantSpecError([Problem(str(directory), "tenant directory does not exist")])
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise TenantSpecError([Problem(str(directory), "no tenant spec files (*.yaml) found")])

    problems: list[Problem] = []
    specs: list[TenantSpec] = []
    names: list[tuple[Path, str]] = []
    networks: list[tuple[Path, str, str]] = []
    for path in files:
        try:
            spec = parse_spec(path, read_spec_text(path))
        except _SpecFileError as err:
            problems.extend(err.problems)
            if err.tenant_name is not None:
                names.append((path, err.tenant_name))
                if err.vpc_cidr is not None:
                    networks.append((path, err.tenant_name, err.vpc_cidr))
        except TenantSpecError as err:
            problems.extend(err.problems)
        else:
            specs.append(spec)
            names.append((path, spec.name))
            networks.append((path, spec.name, spec.compute.vpc_cidr))

    seen: dict[str, Path] = {}
    for path, name in names:
        if name in seen:
            problems.append(Problem(f"{path}: name", f"tenant name is already used by {seen[name]}", name))
        else:
            seen[name] = path
    # a file repeating a tenant name is reported as that; its range is the same tenant's again
    problems.extend(_overlapping_networks([n for n in networks if seen[n[1]] == n[0]]))
    if problems:
        raise TenantSpecError(problems)

    result = sorted(specs, key=lambda s: s.name)
    if only is not None:
        result = [s for s in result if s.name == only]
        if not result:
            known = ", ".join(sorted(seen))
            raise TenantSpecError([Problem("--tenant", f"no tenant with this name; known: {known}", only)])
    return result


__all__ = [
    "ESTIMATORS",
    "MAX_PARALLEL_TRIALS",
    "METRICS",
    "ComputeSpec",
    "Environment",
    "LambdaSpec",
    "ModelSpec",
    "MonitoringSpec",
    "ProblemType",
    "ServingSpec",
    "StateBackendSpec",
    "StorageSpec",
    "StreamingSpec",
    "Suppression",
    "TenantSpec",
    "load_specs",
    "parse_spec",
]

# keep the regex importable for tests and the naming helper
TENANT_NAME_RE = re.compile(TENANT_NAME_PATTERN)
