"""IAM: service roles built from grants, and one permission boundary per tenant.

Stacks never write IAM JSON. Constructs call ``role.add_statement`` from their grant
methods; the role renders its inline policy at synth time, when every grant is in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct, is_token


@dataclass(frozen=True, kw_only=True)
class PolicyStatement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    effect: str = "Allow"
    conditions: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not self.sid.isalnum():
            problems.append(Problem("sid", "must be alphanumeric", self.sid))
        if not self.actions:
            problems.append(Problem(f"{self.sid}.actions", "must not be empty"))
        problems += [
            Problem(f"{self.sid}.actions", "wildcard actions are not allowed; name each action", a)
            for a in self.actions
            if "*" in a
        ]
        if not self.resources:
            problems.append(Problem(f"{self.sid}.resources", "must not be empty"))
        if self.effect not in ("Allow", "Deny"):
            problems.append(Problem(f"{self.sid}.effect", "must be Allow or Deny", self.effect))
        if problems:
            raise ConstructPropsError(problems)

    def render(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": sorted(set(self.actions)),
            "Resource": sorted(set(self.resources)),
        }
        if self.conditions:
            doc["Condition"] = {k: dict(v) for k, v in self.conditions.items()}
        return doc


def policy_document(statements: Iterable[PolicyStatement]) -> str:
    """A deterministic IAM policy JSON string (statements merged by sid)."""
    merged: dict[str, PolicyStatement] = {}
    for st in statements:
        prev = merged.get(st.sid)
        if prev is not None:
            if prev.effect != st.effect or prev.conditions != st.conditions:
                raise ConstructPropsError(
                    [Problem(st.sid, "statement id reused with a different effect or condition")]
                )
            st = PolicyStatement(
                sid=st.sid,
                effect=st.effect,
                conditions=st.conditions,
                actions=tuple(sorted({*prev.actions, *st.actions})),
                resources=tuple(sorted({*prev.resources, *st.resources})),
            )
        merged[st.sid] = st
    body = {"Version": "2012-10-17", "Statement": [merged[k].render() for k in sorted(merged)]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def trust_policy(
    services: Sequence[str] = (),
    federated: Mapping[str, Mapping[str, object]] | None = None,
    accounts: Sequence[str] = (),
    source_account: str | None = None,
) -> str:
    """An assume-role policy for AWS services, accounts' principals and, optionally, an OIDC provider (IRSA)."""
    statements: list[dict[str, object]] = []
    if accounts:
        # the account root: any principal of the account whose own policies allow sts:AssumeRole on it
        statements.append(
            {
                "Sid": "Accounts",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": sorted(accounts)},
            }
        )
    if services:
        service_statement: dict[str, object] = {
            "Sid": "Services",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": sorted(services)},
        }
        if source_account:
            # confused deputy: the service may assume the role only on behalf of this account
            service_statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
        statements.append(service_statement)
    for provider_arn, condition in (federated or {}).items():
        statements.append(
            {
                "Sid": "Federated",
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": provider_arn},
                "Condition": dict(condition),
            }
        )
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )


@dataclass(frozen=True, kw_only=True)
class ServiceRoleProps:
    naming: Naming
    component: str
    description: str
    assumed_by: tuple[str, ...] = ()
    #: every role has one: the tenant boundary for workload roles, a boundary of exactly their AWS
    #: managed policies for the EKS control plane and nodes
    boundary_arn: str
    managed_policy_arns: tuple[str, ...] = ()
    federated: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: account root ARNs whose principals may assume the role (people, e.g. cluster administrators)
    trusted_accounts: tuple[str, ...] = ()
    #: only on behalf of this account may the services assume the role (``aws:SourceAccount``)
    source_account: str | None = None

    def __post_init__(self) -> None:
        if not self.assumed_by and not self.federated and not self.trusted_accounts:
            raise ConstructPropsError([Problem("assumed_by", "a role needs at least one trusted principal")])
        bad = [s for s in self.assumed_by if not s.endswith(".amazonaws.com")]
        if bad:
            raise ConstructPropsError(
                [Problem("assumed_by", "must be AWS service principals (*.amazonaws.com)", bad)]
            )


class ServiceRole(TenantConstruct):
    """An IAM role whose permissions are added by grants and capped by the tenant boundary."""

    def __init__(self, scope: Scope, construct_id: str, props: ServiceRoleProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self._statements: list[PolicyStatement] = []
        self.role_name = props.naming.name(props.component, "role")
        self.role = Resource(
            self,
            PRIMARY_ID,
            "aws_iam_role",
            {
                "name": self.role_name,
                "description": props.description,
                "assume_role_policy": trust_policy(
                    props.assumed_by, props.federated, props.trusted_accounts, props.source_account
                ),
                "permissions_boundary": props.boundary_arn,
                "max_session_duration": 3600,
            },
        )
        self.policy = Resource(
            self,
            "Policy",
            "aws_iam_role_policy",
            lambda: {"name": "grants", "role": self.role.id_ref, "policy": self.policy_json()},
        )
        #: what the role's users must depend on: its permissions exist only once these do
        self.attachments: list[Resource] = [self.policy]
        for i, arn in enumerate(props.managed_policy_arns):
            attachment = Resource(
                self,
                f"Managed{i}",
                "aws_iam_role_policy_attachment",
                {"role": self.role.ref("name"), "policy_arn": arn},
            )
            self.attachments.append(attachment)

    @property
    def role_arn(self) -> str:
        return self.role.arn_ref

    @property
    def role_name_ref(self) -> str:
        return self.role.ref("name")

    def add_statement(self, statement: PolicyStatement) -> None:
        self._statements.append(statement)

    def grant(
        self,
        sid: str,
        action_list: Sequence[str],
        resources: Sequence[str],
        **conditions: Mapping[str, object],
    ) -> None:
        self.add_statement(
            PolicyStatement(
                sid=sid, actions=tuple(action_list), resources=tuple(resources), conditions=conditions
            )
        )

    def grant_pass_role(self, other: ServiceRole, service: str | None = None) -> None:
        """Let this role hand ``other`` to SageMaker (training jobs, endpoints); only to ``service``
        (``iam:PassedToService``) when given."""
        conditions = {"StringEquals": {"iam:PassedToService": service}} if service else {}
        self.grant("PassRole", actions.IAM_PASS_ROLE, [other.role_arn], **conditions)

    def policy_json(self) -> str:
        if not self._statements:
            # an inline policy must have a statement; this one denies nothing real
            self.grant("NoGrants", ("sts:GetCallerIdentity",), ["*"])
        return policy_document(self._statements)


@dataclass(frozen=True, kw_only=True)
class PermissionBoundaryProps:
    naming: Naming
    metrics_namespace: str
    #: let the SSM agent of the tenant's instances through (EC2 tenants: Session Manager, no SSH)
    session_manager: bool = False
    #: the Glue database of the tenant's feature store (tenants with feature views); None: no feature store
    feature_database: str | None = None


class PermissionBoundary(TenantConstruct):
    """The most any role of this tenant may do: every granted action, on this tenant's resources only."""

    SERVICES: ClassVar[dict[str, tuple[tuple[str, ...], tuple[str, str]]]] = {
        "S3Objects": (actions.S3_READ + actions.S3_WRITE, ("s3", "{prefix}-*")),
        # DeleteObjectVersion: cleanup after a failed pipeline run removes every version it wrote
        "S3ObjectKeys": (
            actions.S3_READ + actions.S3_WRITE + actions.S3_DELETE_VERSION,
            ("s3", "{prefix}-*/*"),
        ),
        "Kinesis": (actions.KINESIS_READ + actions.KINESIS_WRITE, ("kinesis", "stream/{prefix}-*")),
        "Sns": (actions.SNS_PUBLISH, ("sns", "{prefix}-*")),
        "Sqs": (actions.SQS_SEND, ("sqs", "{prefix}-*")),
        # DescribeLogStreams: VPC flow logs delivery (infra/flow_logs.py) checks its streams
        "Logs": (
            actions.LOGS_WRITE + actions.LOGS_DESCRIBE_STREAMS,
            ("logs", "log-group:/tenantml/{tenant}/*"),
        ),
        "LambdaLogs": (actions.LOGS_WRITE, ("logs", "log-group:/aws/lambda/{prefix}-*")),
        "Registry": (
            actions.SAGEMAKER_REGISTRY_READ + actions.SAGEMAKER_REGISTRY_WRITE,
            ("sagemaker", "model-package*/{prefix}-*"),
        ),
        "PassRole": (actions.IAM_PASS_ROLE, ("iam", "role/{prefix}-*")),
        "Alarms": (actions.CLOUDWATCH_ALARMS_READ, ("cloudwatch", "alarm:{prefix}-*")),
        "Images": (actions.ECR_PULL, ("ecr", "repository/{prefix}-*")),
        "Cluster": (actions.EKS_DESCRIBE, ("eks", "cluster/{prefix}-*")),
        "EndpointLogs": (
            actions.SAGEMAKER_ENDPOINT_LOGS,
            ("logs", "log-group:/aws/sagemaker/Endpoints/{prefix}-*"),
        ),
        # VPC flow logs delivery (infra/flow_logs.py) lists the account's groups
        "LogGroupList": (actions.LOGS_LIST_GROUPS, ("logs", "log-group:*")),
    }

    def __init__(
        self, scope: Scope, construct_id: str, props: PermissionBoundaryProps, *, key_arn: str
    ) -> None:
        super().__init__(scope, construct_id)
        naming = props.naming
        statements = [
            PolicyStatement(
                sid=sid,
                actions=tuple(action_list),
                resources=(
                    naming.arn_pattern(service, pattern.format(prefix=naming.prefix, tenant=naming.tenant)),
                ),
            )
            for sid, (action_list, (service, pattern)) in self.SERVICES.items()
        ]
        statements += [
            PolicyStatement(sid="TenantKey", actions=actions.KMS_ENCRYPT_DECRYPT, resources=(key_arn,)),
            PolicyStatement(
                sid="Metrics",
                actions=actions.CLOUDWATCH_PUT_METRICS,
                resources=("*",),
                conditions={"StringEquals": {"cloudwatch:namespace": props.metrics_namespace}},
            ),
            PolicyStatement(sid="WhoAmI", actions=("sts:GetCallerIdentity",), resources=("*",)),
            PolicyStatement(sid="Traces", actions=actions.XRAY_WRITE, resources=("*",)),
            # neither has resource-level permissions; both are needed by serving only
            PolicyStatement(sid="ImageLogin", actions=actions.ECR_AUTH, resources=("*",)),
            PolicyStatement(sid="EndpointNetwork", actions=actions.SAGEMAKER_VPC_ACCESS, resources=("*",)),
        ]
        statements += self._pipeline_statements(naming, props.feature_database)
        if props.session_manager:
            statements.append(
                PolicyStatement(sid="SessionManager", actions=actions.SSM_SESSION_MANAGER, resources=("*",))
            )
        #: what the boundary allows, statement by statement, before any compaction
        self.statements: tuple[PolicyStatement, ...] = tuple(statements)
        document = policy_document(statements)
        # a boundary over IAM's limit is written in fewer characters, granting exactly the same
        for compact in (_merge_unscoped, _merge_disjoint_services):
            if len(document) + BOUNDARY_TOKEN_GROWTH > MANAGED_POLICY_MAX:
                statements = compact(statements)
                document = policy_document(statements)
        if len(document) + BOUNDARY_TOKEN_GROWTH > MANAGED_POLICY_MAX:
            raise ConstructPropsError(
                [
                    Problem(
                        "permission boundary",
                        f"is {len(document)} characters (plus about {BOUNDARY_TOKEN_GROWTH} once the key ARN "
                        f"resolves); IAM allows {MANAGED_POLICY_MAX}: shorten the tenant name",
                        naming.tenant,
                    )
                ]
            )
        self.policy = Resource(
            self,
            PRIMARY_ID,
            "aws_iam_policy",
            {
                "name": naming.name("boundary", "role"),
                "description": f"Permission boundary: the most any role of tenant {naming.tenant} may do",
                "policy": document,
            },
        )

    @property
    def policy_arn(self) -> str:
        return self.policy.arn_ref

    @staticmethod
    def _pipeline_statements(naming: Naming, feature_database: str | None = None) -> list[PolicyStatement]:
        """The pipeline state machine and its SageMaker jobs (issue 15), a statement per kind with
        all its resources: a managed policy holds at most 6,144 characters. With a feature store
        (``feature_database``), the same statement also holds what its jobs and servers use: the
        tenant's DynamoDB tables, and the account's catalog with the tenant's own Glue database and
        its tables (Glue checks a call against all three)."""
        prefix = naming.prefix
        feature_actions: tuple[str, ...] = ()
        feature_resources: tuple[str, ...] = ()
        if feature_database is not None:
            feature_actions = (
                actions.DYNAMODB_READ_ITEMS + actions.DYNAMODB_WRITE_ITEMS + actions.GLUE_READ_CATALOG
            )
            feature_resources = (
                naming.arn_pattern("dynamodb", f"table/{prefix}-*"),
                naming.arn_pattern("glue", "catalog"),
                naming.arn_pattern("glue", f"database/{feature_database}"),
                naming.arn_pattern("glue", f"table/{feature_database}/*"),
            )
        # one statement: each action applies only to resources of its own type, so the union grants
        # nothing beyond its parts
        return [
            PolicyStatement(
                sid="Pipeline",
                actions=actions.SAGEMAKER_TRAINING
                + actions.SAGEMAKER_PROCESSING
                + actions.SAGEMAKER_JOB_TAGS
                + actions.SAGEMAKER_JOB_LOGS
                + actions.EVENTS_SYNC_RULE
                + actions.SFN_START
                + actions.SFN_DESCRIBE_EXECUTION
                + feature_actions,
                resources=(
                    *(
                        naming.arn_pattern("sagemaker", f"{kind}-job/{prefix}-*")
                        for kind in ("training", "processing")
                    ),
                    # the groups are SageMaker's, shared by the account; the streams are named after our jobs
                    *(
                        naming.arn_pattern("logs", f"log-group:{group}{stream}")
                        for group in actions.SAGEMAKER_JOB_LOG_GROUPS
                        for stream in ("", f":log-stream:{prefix}-*")
                    ),
                    naming.arn_pattern("events", "rule/StepFunctionsGetEventsForSageMaker*"),
                    naming.arn_pattern("states", f"stateMachine:{prefix}-*"),
                    naming.arn_pattern("states", f"execution:{prefix}-*"),
                    *feature_resources,
                ),
            ),
            # the state machine's log delivery and trace sampling have no resource-level permissions
            PolicyStatement(
                sid="PipelineService",
                actions=actions.SFN_LOG_DELIVERY + actions.XRAY_SAMPLING,
                resources=("*",),
            ),
        ]


#: IAM's limit on a managed policy document (whitespace is not counted; ours has none)
MANAGED_POLICY_MAX = 6144
#: what the boundary grows by when Terraform resolves the key ARN reference it holds
BOUNDARY_TOKEN_GROWTH = 60


def _merge_unscoped(statements: list[PolicyStatement]) -> list[PolicyStatement]:
    """The same permissions in fewer characters: every unconditional statement on ``*`` becomes one
    (the union of actions on ``*`` is exactly what they allowed apart). Used only for a boundary that
    would not fit IAM's limit otherwise, so the others keep their statement ids."""
    unscoped = [s for s in statements if s.resources == ("*",) and not s.conditions and s.effect == "Allow"]
    if len(unscoped) < 2:
        return statements
    merged = PolicyStatement(
        sid="Unscoped", actions=tuple(sorted({a for s in unscoped for a in s.actions})), resources=("*",)
    )
    return [s for s in statements if s not in unscoped] + [merged]


def _services(statement: PolicyStatement) -> frozenset[str]:
    """The services a statement's actions and resource ARNs belong to (``s3``, ``logs``, ...)."""
    found = {action.split(":", 1)[0] for action in statement.actions}
    found |= {resource.split(":")[2] for resource in statement.resources if resource.startswith("arn:")}
    return frozenset(found)


def _merge_disjoint_services(statements: list[PolicyStatement]) -> list[PolicyStatement]:
    """The same permissions in fewer statements: unconditional statements on named resources whose
    services do not overlap become one (``Scoped<n>``). An action only ever applies to resources of
    its own service, so the union of such statements allows exactly what they allowed apart (the
    boundary's ``Pipeline`` statement is built that way). Statements on ``*``, with conditions or on
    a reference (whose ARN is not known before apply) are kept as they are."""
    mergeable = [
        s
        for s in statements
        if s.effect == "Allow"
        and not s.conditions
        and "*" not in s.resources
        and not any(is_token(r) or not r.startswith("arn:") for r in s.resources)
    ]
    groups: list[list[PolicyStatement]] = []
    for statement in mergeable:
        for group in groups:
            if not _services(statement) & frozenset().union(*(_services(s) for s in group)):
                group.append(statement)
                break
        else:
            groups.append([statement])
    merged = [
        group[0]
        if len(group) == 1
        else PolicyStatement(
            sid=f"Scoped{i}",
            actions=tuple(sorted({a for s in group for a in s.actions})),
            resources=tuple(sorted({r for s in group for r in s.resources})),
        )
        for i, group in enumerate(groups, start=1)
    ]
    return [s for s in statements if s not in mergeable] + merged


#: IAM's limit on a role name, which a service-linked role's name plus its custom suffix must fit
_ROLE_NAME_MAX = 64
#: the role names AWS gives service-linked roles, by service principal
SERVICE_LINKED_ROLE_NAMES = {"autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling"}


@dataclass(frozen=True, kw_only=True)
class ServiceLinkedRoleProps:
    naming: Naming
    service: str

    @property
    def suffix(self) -> str:
        """``<tenant>-<environment>``: unique per tenant in an account, and short enough for any tenant
        name the spec allows (the whole prefix would not fit IAM's 64 characters)."""
        return f"{self.naming.tenant}-{self.naming.environment}"

    def __post_init__(self) -> None:
        problems = []
        base = SERVICE_LINKED_ROLE_NAMES.get(self.service)
        if base is None:
            problems.append(Problem("service", f"one of {sorted(SERVICE_LINKED_ROLE_NAMES)}", self.service))
        elif len(name := f"{base}_{self.suffix}") > _ROLE_NAME_MAX:
            problems.append(
                Problem(
                    "service-linked role name",
                    f"is {len(name)} characters; AWS allows {_ROLE_NAME_MAX}",
                    name,
                )
            )
        if problems:
            raise ConstructPropsError(problems)


class ServiceLinkedRole(TenantConstruct):
    """The tenant's own service-linked role for one AWS service, named ``<AWS name>_<tenant>-<env>``.

    Created by the stack rather than left to the service: a key policy may only name principals
    that exist (KMS rejects the policy otherwise), and the default role appears only when the
    service is first used. The custom suffix makes the role the tenant's: it cannot collide with
    the account's default role or another tenant's, and deleting the stack removes only its own.
    """

    def __init__(self, scope: Scope, construct_id: str, props: ServiceLinkedRoleProps) -> None:
        super().__init__(scope, construct_id)
        self.role_name = f"{SERVICE_LINKED_ROLE_NAMES[props.service]}_{props.suffix}"
        self.role = Resource(
            self,
            PRIMARY_ID,
            "aws_iam_service_linked_role",
            {
                "aws_service_name": props.service,
                "custom_suffix": props.suffix,
                "description": f"{props.service} for tenantml tenant {props.naming.tenant}",
            },
        )

    @property
    def role_arn(self) -> str:
        return self.role.arn_ref
