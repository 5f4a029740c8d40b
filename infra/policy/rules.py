"""The policy rules, one function each, run over synthesized Terraform JSON.

Every rule is registered with :func:`rule` in :data:`RULES` (in definition order) and gets one
resource at a time. Rules only read the JSON: what is checked is what Terraform would apply.

Out of scope on purpose:

* **KMS key policies** (``aws_kms_key.policy``) are not checked by ``TM-IAM-001``/``TM-IAM-002``.
  The ``AccountAdmin`` statement (``kms:*`` for the account root on ``Resource: "*"``) is AWS's
  own default key policy: it delegates access to IAM, so that IAM policies, which *are* checked,
  decide who may use the key; without it a key can become unmanageable (only AWS support can
  recover it). In a key policy ``Resource: "*"`` means "this key", not every key.
* **Bucket policies** (``aws_s3_bucket_policy``) are resource policies: their ``s3:*`` *Deny*
  statement is the TLS-only guard that ``TM-S3-004`` asks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from core.stack_names import tenant_of_stack
from core.terraform.document import as_list, first_block
from infra.actions import DATA_ACTIONS
from infra.policy.model import Check, Result, Rule, Severity
from infra.policy.stack import (
    BACKEND_TYPE,
    PROVIDER_TYPE,
    SynthResource,
    SynthStack,
    falsy,
    strings,
    truthy,
)

RULES: list[Rule] = []


def rule(
    rule_id: str, severity: Severity, title: str, applies_to: Iterable[str] | None
) -> Callable[[Check], Check]:
    """Register the decorated function as a rule; its docstring is the explanation."""

    def register(check: Check) -> Check:
        if any(r.id == rule_id for r in RULES):
            raise ValueError(f"duplicate policy rule id {rule_id}")
        explanation = " ".join((check.__doc__ or "").split())
        RULES.append(
            Rule(
                rule_id,
                severity,
                title,
                explanation,
                tuple(applies_to) if applies_to is not None else None,
                check,
            )
        )
        return check

    return register


# --- helpers --------------------------------------------------------------------------------


def _bucket_companions(stack: SynthStack, bucket: SynthResource, resource_type: str) -> list[SynthResource]:
    """The ``aws_s3_bucket_*`` resources configuring ``bucket`` (by reference or by literal name)."""
    name = bucket.get("bucket")
    literal = name if isinstance(name, str) and "${" not in name else None
    return stack.referencing(resource_type, "bucket", bucket, "id", "bucket", literal=literal)


def parse_policy(value: Any) -> Mapping[str, Any] | None:
    """An IAM policy document from a JSON string (or object); None when it is not literal JSON."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, Mapping) else None


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def _sid(statement: Mapping[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"Statement[{index}]")


#: the IAM resources whose documents TM-IAM-001/002 read, and the attribute holding the document
IAM_POLICY_TYPES = (
    "aws_iam_policy",
    "aws_iam_role_policy",
    "aws_iam_user_policy",
    "aws_iam_group_policy",
    "aws_iam_role",
)


def _iam_documents(resource: SynthResource) -> list[tuple[str, Any]]:
    if resource.type == "aws_iam_role":
        return [
            (f"inline_policy[{i}]", block.get("policy"))
            for i, block in enumerate(as_list(resource.get("inline_policy")))
            if isinstance(block, Mapping)
        ]
    return [("policy", resource.get("policy"))]


def _allow_statements(resource: SynthResource) -> tuple[list[tuple[str, Mapping[str, Any]]], list[str]]:
    """(where, statement) of every Allow statement, and the documents that could not be read."""
    found, unreadable = [], []
    for where, value in _iam_documents(resource):
        doc = parse_policy(value)
        if doc is None:
            unreadable.append(where)
            continue
        for i, statement in enumerate(statements(doc)):
            if statement.get("Effect") == "Allow":
                found.append((f"{where} statement {_sid(statement, i)}", statement))
    return found, unreadable


_UNREADABLE = (
    "{} is not a literal JSON policy document (a reference or expression), so it cannot be checked;"
    " write the document in the construct, or suppress this rule with a reason"
)

_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?P<resource>.*)$")


def unscoped_resource(resource: str) -> bool:
    """``*`` or an ARN whose resource part names nothing in particular (``arn:aws:s3:::*``, ``stream/*``)."""
    if resource == "*":
        return True
    match = _ARN.match(resource)
    if not match:
        return False
    part = re.sub(r"^[A-Za-z-]+[/:]", "", match.group("resource"))
    return part in ("*", "*/*", "")


_DATA_ACTIONS_LOWER = frozenset(a.lower() for a in DATA_ACTIONS)


def _is_data_action(action: str) -> bool:
    lowered = action.lower()
    if "*" not in lowered and "?" not in lowered:
        return lowered in _DATA_ACTIONS_LOWER
    return any(fnmatchcase(d, lowered) for d in _DATA_ACTIONS_LOWER)


def _data_actions_in(actions: Iterable[str]) -> list[str]:
    """The statement's actions that are (or, as wildcards, cover) a data action."""
    return sorted({a for a in actions if _is_data_action(a)})


# --- S3 -------------------------------------------------------------------------------------


@rule("TM-S3-001", Severity.ERROR, "S3 bucket encrypted with SSE-KMS", ("aws_s3_bucket",))
def s3_bucket_encryption(resource: SynthResource, stack: SynthStack) -> Result:
    """Every bucket needs a server-side encryption configuration with SSE-KMS and a named key
    (the tenant key), so that reading objects also needs kms:Decrypt on that key. SSE-S3 (AES256)
    or SSE-KMS with the AWS-managed aws/s3 key cannot be scoped to one tenant."""
    configs = [
        c.body
        for c in _bucket_companions(stack, resource, "aws_s3_bucket_server_side_encryption_configuration")
    ]
    configs += [first_block(resource.body, "server_side_encryption_configuration")]
    algorithms = []
    for config in configs:
        for sse_rule in as_list(config.get("rule")):
            default = (
                first_block(sse_rule, "apply_server_side_encryption_by_default")
                if isinstance(sse_rule, Mapping)
                else {}
            )
            algorithm = default.get("sse_algorithm")
            if algorithm in ("aws:kms", "aws:kms:dsse") and default.get("kms_master_key_id"):
                return Result.ok()
            if algorithm:
                algorithms.append(str(algorithm))
    if algorithms:
        return Result.fail(
            f"encrypted with {', '.join(sorted(set(algorithms)))} but not SSE-KMS with a named key;"
            " set sse_algorithm aws:kms and kms_master_key_id to the tenant key"
        )
    return Result.fail(
        "no aws_s3_bucket_server_side_encryption_configuration for this bucket; use SecureBucket"
    )


@rule("TM-S3-002", Severity.ERROR, "S3 bucket versioning enabled", ("aws_s3_bucket",))
def s3_bucket_versioning(resource: SynthResource, stack: SynthStack) -> Result:
    """Versioning keeps overwritten and deleted objects recoverable (lifecycle rules expire old
    versions); without it one bad pipeline run can destroy training data or a model for good."""
    for config in _bucket_companions(stack, resource, "aws_s3_bucket_versioning"):
        status = first_block(config.body, "versioning_configuration").get("status")
        if status == "Enabled":
            return Result.ok()
        return Result.fail(f"versioning status is {status!r}; it must be 'Enabled'")
    if truthy(first_block(resource.body, "versioning").get("enabled")):
        return Result.ok()
    return Result.fail("no aws_s3_bucket_versioning with status 'Enabled' for this bucket")


PUBLIC_ACCESS_FLAGS = (
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
)


@rule("TM-S3-003", Severity.ERROR, "S3 bucket blocks all public access", ("aws_s3_bucket",))
def s3_bucket_public_access_block(resource: SynthResource, stack: SynthStack) -> Result:
    """All four public access block settings must be on for every bucket: tenant data is never
    public, and the block stops a later ACL or policy from making it so by mistake."""
    blocks = _bucket_companions(stack, resource, "aws_s3_bucket_public_access_block")
    if not blocks:
        return Result.fail("no aws_s3_bucket_public_access_block for this bucket")
    missing = [flag for flag in PUBLIC_ACCESS_FLAGS if not truthy(blocks[0].get(flag))]
    if missing:
        return Result.fail(f"public access block leaves {', '.join(missing)} off; set all four to true")
    return Result.ok()


def _denies_insecure_transport(statement: Mapping[str, Any], bucket: SynthResource) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if not (principal == "*" or (isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS")))):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    condition = statement.get("Condition", {})
    secure = condition.get("Bool", {}).get("aws:SecureTransport") if isinstance(condition, Mapping) else None
    if not any(falsy(v) for v in as_list(secure)):
        return False
    resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
    arn_ref = f"${{{bucket.address}.arn}}"
    name = bucket.get("bucket")
    bucket_arns = {arn_ref} | ({f"arn:aws:s3:::{name}"} if isinstance(name, str) else set())
    covers_bucket = any(r in bucket_arns or r == "*" for r in resources)
    covers_objects = any(r in {f"{a}/*" for a in bucket_arns} or r == "*" for r in resources)
    return covers_bucket and covers_objects


@rule("TM-S3-004", Severity.ERROR, "S3 bucket policy denies requests without TLS", ("aws_s3_bucket",))
def s3_bucket_tls_only(resource: SynthResource, stack: SynthStack) -> Result:
    """The bucket policy must deny every S3 action on the bucket and its objects to every
    principal when aws:SecureTransport is false, so data never travels unencrypted."""
    policies = _bucket_companions(stack, resource, "aws_s3_bucket_policy")
    if not policies:
        return Result.fail(
            "no aws_s3_bucket_policy for this bucket; it needs a TLS-only (DenyInsecureTransport) policy"
        )
    doc = parse_policy(policies[0].get("policy"))
    if doc is None:
        return Result.fail(_UNREADABLE.format(f"{policies[0].address}.policy"))
    if any(_denies_insecure_transport(s, resource) for s in statements(doc)):
        return Result.ok()
    return Result.fail(
        f"{policies[0].address} has no statement denying s3:* to '*' on the bucket and its objects"
        " when aws:SecureTransport is false"
    )


@rule("TM-S3-005", Severity.ERROR, "S3 server access logging on prod tenants", ("aws_s3_bucket",))
def s3_bucket_access_logging(resource: SynthResource, stack: SynthStack) -> Result:
    """On a prod tenant every bucket logs its requests (aws_s3_bucket_logging with a
    target_bucket), so that who read or wrote which object can be answered after an incident.
    The bucket receiving the logs is not applicable (logging it into itself would loop), nor are
    buckets of other environments."""
    if stack.environment != "prod":
        return Result.skip(f"access logging is required on prod tenants (this is {stack.environment!r})")
    if stack.referencing("aws_s3_bucket_logging", "target_bucket", resource, "id", "bucket"):
        return Result.skip("this bucket receives the access logs")
    for config in _bucket_companions(stack, resource, "aws_s3_bucket_logging"):
        if config.get("target_bucket"):
            return Result.ok()
    if first_block(resource.body, "logging").get("target_bucket"):
        return Result.ok()
    return Result.fail("no aws_s3_bucket_logging with a target_bucket for this bucket on a prod tenant")


def _bucket_wide(lifecycle_rule: Mapping[str, Any]) -> bool:
    """A lifecycle rule with no filter, or an empty one (prefix "" and no tag or size limit)."""
    if lifecycle_rule.get("prefix"):
        return False
    filters = [f for f in as_list(lifecycle_rule.get("filter")) if isinstance(f, Mapping)]
    narrowing = ("tag", "and", "object_size_greater_than", "object_size_less_than")
    return all(not f.get("prefix") and not any(f.get(k) for k in narrowing) for f in filters)


@rule("TM-S3-006", Severity.WARNING, "S3 bucket aborts incomplete multipart uploads", ("aws_s3_bucket",))
def s3_bucket_aborts_incomplete_uploads(resource: SynthResource, stack: SynthStack) -> Result:
    """The parts of a multipart upload that never completes are stored and billed until the
    upload is aborted, and no listing shows them: an enabled lifecycle rule covering the whole
    bucket (no prefix or tag filter) must abort incomplete uploads. A rule limited to a prefix
    leaves uploads everywhere else billed for good."""
    prefixed = []
    for config in _bucket_companions(stack, resource, "aws_s3_bucket_lifecycle_configuration"):
        for lifecycle_rule in as_list(config.get("rule")):
            if not isinstance(lifecycle_rule, Mapping) or lifecycle_rule.get("status") != "Enabled":
                continue
            if not first_block(lifecycle_rule, "abort_incomplete_multipart_upload").get(
                "days_after_initiation"
            ):
                continue
            if _bucket_wide(lifecycle_rule):
                return Result.ok()
            prefixed.append(str(lifecycle_rule.get("id", "?")))
    if prefixed:
        return Result.fail(
            f"only prefix- or tag-limited rules ({', '.join(prefixed)}) abort incomplete multipart uploads;"
            " add a bucket-wide rule"
        )
    return Result.fail("no enabled bucket-wide lifecycle rule with abort_incomplete_multipart_upload")


# --- KMS ------------------------------------------------------------------------------------


@rule("TM-KMS-001", Severity.ERROR, "KMS key rotation enabled", ("aws_kms_key",))
def kms_key_rotation(resource: SynthResource, stack: SynthStack) -> Result:
    """Symmetric encryption keys rotate their key material automatically (enable_key_rotation),
    which limits how much data one key version protects. Asymmetric and HMAC keys cannot rotate
    and are not applicable."""
    spec = resource.get("customer_master_key_spec", "SYMMETRIC_DEFAULT")
    if spec != "SYMMETRIC_DEFAULT" or resource.get("key_usage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return Result.skip(f"{spec} keys cannot be rotated automatically")
    if truthy(resource.get("enable_key_rotation")):
        return Result.ok()
    return Result.fail("enable_key_rotation is not true")


# --- IAM ------------------------------------------------------------------------------------


@rule("TM-IAM-001", Severity.ERROR, "IAM policies name every action (no wildcards)", IAM_POLICY_TYPES)
def iam_no_wildcard_actions(resource: SynthResource, stack: SynthStack) -> Result:
    """Allow statements of IAM identity policies and permission boundaries must list actions by
    name (infra/actions.py); a wildcard such as "s3:*" or "s3:Get*" grants actions AWS adds
    later, and NotAction in an Allow grants everything else. Key policies are out of scope
    (see the module docstring)."""
    allows, unreadable = _allow_statements(resource)
    if not allows and not unreadable:
        return Result.skip("no policy document")
    problems = [_UNREADABLE.format(where) for where in unreadable]
    for where, statement in allows:
        wildcards = sorted(str(a) for a in as_list(statement.get("Action")) if "*" in str(a))
        if wildcards:
            problems.append(f"{where} allows wildcard actions {wildcards}")
        if "NotAction" in statement:
            problems.append(f"{where} uses NotAction in an Allow, which grants every other action")
    return Result.fail("; ".join(problems)) if problems else Result.ok()


@rule("TM-IAM-002", Severity.ERROR, "Data actions are scoped to named resources", IAM_POLICY_TYPES)
def iam_no_data_actions_on_wildcard_resources(resource: SynthResource, stack: SynthStack) -> Result:
    """Data-bearing actions (infra.actions.DATA_ACTIONS: S3 object and bucket reads and writes,
    KMS encrypt/decrypt, Kinesis, SQS, SNS) may only be allowed on named resources, never on "*"
    or an ARN that matches every resource of the service, so one tenant's role can never reach
    another tenant's data."""
    allows, unreadable = _allow_statements(resource)
    if not allows and not unreadable:
        return Result.skip("no policy document")
    problems = [_UNREADABLE.format(where) for where in unreadable]
    for where, statement in allows:
        data_actions = _data_actions_in(str(a) for a in as_list(statement.get("Action")))
        if not data_actions:
            continue
        wide = sorted(str(r) for r in as_list(statement.get("Resource")) if unscoped_resource(str(r)))
        if "NotResource" in statement:
            wide.append("NotResource")
        if wide:
            problems.append(f"{where} allows data actions {data_actions} on {wide}")
    return Result.fail("; ".join(problems)) if problems else Result.ok()


# --- streams, topics, queues ----------------------------------------------------------------


@rule("TM-KINESIS-001", Severity.ERROR, "Kinesis stream encrypted with KMS", ("aws_kinesis_stream",))
def kinesis_stream_encryption(resource: SynthResource, stack: SynthStack) -> Result:
    """Inference logs carry model inputs: the stream must use server-side encryption with KMS
    (encryption_type KMS and a kms_key_id, the tenant key)."""
    if resource.get("encryption_type") == "KMS" and resource.get("kms_key_id"):
        return Result.ok()
    return Result.fail(
        f"encryption_type is {resource.get('encryption_type', 'NONE')!r}"
        f"{'' if resource.get('kms_key_id') else ' and no kms_key_id'}; use KMS with the tenant key"
    )


@rule("TM-SNS-001", Severity.ERROR, "SNS topic encrypted with KMS", ("aws_sns_topic",))
def sns_topic_encryption(resource: SynthResource, stack: SynthStack) -> Result:
    """Alert messages name models, metrics and buckets: topics must be encrypted at rest with a
    KMS key (kms_master_key_id)."""
    if resource.get("kms_master_key_id"):
        return Result.ok()
    return Result.fail("kms_master_key_id is not set")


@rule("TM-SQS-001", Severity.ERROR, "SQS queue encrypted", ("aws_sqs_queue",))
def sqs_queue_encryption(resource: SynthResource, stack: SynthStack) -> Result:
    """Dead-letter queues hold the failed events themselves (object keys, records): queues must
    be encrypted at rest, with a KMS key (kms_master_key_id) or SQS-managed SSE."""
    if resource.get("kms_master_key_id") or truthy(resource.get("sqs_managed_sse_enabled")):
        return Result.ok()
    return Result.fail("neither kms_master_key_id nor sqs_managed_sse_enabled is set")


# --- Lambda ---------------------------------------------------------------------------------


def _on_failure_destinations(resource: SynthResource, stack: SynthStack) -> list[str]:
    """On-failure destinations of the function's ``aws_lambda_function_event_invoke_config``s."""
    name = resource.get("function_name")
    literal = name if isinstance(name, str) and "${" not in name else None
    configs = stack.referencing(
        "aws_lambda_function_event_invoke_config",
        "function_name",
        resource,
        "function_name",
        "arn",
        "id",
        literal=literal,
    )
    found = []
    for config in configs:
        on_failure = first_block(first_block(config.body, "destination_config"), "on_failure")
        if on_failure.get("destination"):
            found.append(f"{config.address} on_failure {on_failure['destination']}")
    return found


@rule(
    "TM-DYNAMODB-001",
    Severity.ERROR,
    "DynamoDB table encrypted with a customer KMS key",
    ("aws_dynamodb_table",),
)
def dynamodb_table_encryption(resource: SynthResource, stack: SynthStack) -> Result:
    """Online feature values are tenant data: a table must be encrypted with a named KMS key (the
    tenant key: server_side_encryption enabled with kms_key_arn), so that reading it also needs
    kms:Decrypt on that key. DynamoDB's default (an AWS-owned key) cannot be scoped to one tenant."""
    sse = first_block(resource.body, "server_side_encryption")
    if truthy(sse.get("enabled")) and sse.get("kms_key_arn"):
        return Result.ok()
    if truthy(sse.get("enabled")):
        return Result.fail(
            "server_side_encryption names no kms_key_arn (the AWS managed key); name the tenant key"
        )
    return Result.fail("server_side_encryption is not enabled with the tenant key")


@rule(
    "TM-DYNAMODB-002", Severity.WARNING, "DynamoDB table has point-in-time recovery", ("aws_dynamodb_table",)
)
def dynamodb_point_in_time_recovery(resource: SynthResource, stack: SynthStack) -> Result:
    """A bad materialization or a mistaken delete can be undone only from continuous backups
    (point_in_time_recovery enabled). A warning: the online store can also be rebuilt from the
    offline store, slowly."""
    if truthy(first_block(resource.body, "point_in_time_recovery").get("enabled")):
        return Result.ok()
    return Result.fail("point_in_time_recovery is not enabled")


@rule("TM-LAMBDA-001", Severity.WARNING, "Lambda function has a dead-letter queue", ("aws_lambda_function",))
def lambda_dead_letter_queue(resource: SynthResource, stack: SynthStack) -> Result:
    """An asynchronous event that fails every retry is dropped unless the function has a
    dead-letter path: an on-failure destination in its event invoke config, or a dead-letter
    queue (dead_letter_config.target_arn); with one, it can be inspected and replayed, and an
    alarm on the queue tells someone."""
    if first_block(resource.body, "dead_letter_config").get("target_arn"):
        return Result.ok()
    if _on_failure_destinations(resource, stack):
        return Result.ok()
    return Result.fail(
        "no dead_letter_config.target_arn and no on-failure destination"
        " (aws_lambda_function_event_invoke_config)"
    )


@rule("TM-LAMBDA-003", Severity.WARNING, "Lambda function has one dead-letter path", ("aws_lambda_function",))
def lambda_one_dead_letter_path(resource: SynthResource, stack: SynthStack) -> Result:
    """A failed asynchronous event goes to every dead-letter path the function has: with both a
    dead_letter_config and an on-failure destination it lands twice, so a replay runs it twice
    and a dead-letter alarm counts it twice. Keep one (tenantml keeps the on-failure destination,
    whose record carries the error with the payload)."""
    target = first_block(resource.body, "dead_letter_config").get("target_arn")
    destinations = _on_failure_destinations(resource, stack)
    if not target and not destinations:
        return Result.skip("no dead-letter path (TM-LAMBDA-001)")
    if target and destinations:
        return Result.fail(
            f"dead_letter_config.target_arn {target} and {'; '.join(destinations)} both receive every"
            " failed event; remove one"
        )
    return Result.ok()


@rule("TM-LAMBDA-002", Severity.WARNING, "Lambda function has reserved concurrency", ("aws_lambda_function",))
def lambda_reserved_concurrency(resource: SynthResource, stack: SynthStack) -> Result:
    """Reserved concurrency (at least 1) caps what one tenant's handler can take from the
    account's shared concurrency pool, so a burst of events in one tenant cannot throttle
    another tenant's functions."""
    value = resource.get("reserved_concurrent_executions")
    try:
        reserved = int(value) if value is not None else -1
    except (TypeError, ValueError):
        return (
            Result.ok()
            if isinstance(value, str) and "${" in value
            else Result.fail(f"not a number: {value!r}")
        )
    if reserved >= 1:
        return Result.ok()
    if reserved == 0:
        return Result.fail("reserved_concurrent_executions is 0, which disables the function")
    return Result.fail("reserved_concurrent_executions is not set (the function shares the account pool)")


# --- EKS ------------------------------------------------------------------------------------


@rule("TM-EKS-001", Severity.ERROR, "EKS API endpoint reachable privately", ("aws_eks_cluster",))
def eks_private_endpoint(resource: SynthResource, stack: SynthStack) -> Result:
    """Nodes and in-VPC tooling reach the Kubernetes API through the private endpoint
    (vpc_config.endpoint_private_access = true; the provider's default is false)."""
    if truthy(first_block(resource.body, "vpc_config").get("endpoint_private_access")):
        return Result.ok()
    return Result.fail("vpc_config.endpoint_private_access is not true")


@rule("TM-EKS-002", Severity.ERROR, "EKS API endpoint not public", ("aws_eks_cluster",))
def eks_no_public_endpoint(resource: SynthResource, stack: SynthStack) -> Result:
    """The Kubernetes API must not be reachable from the internet: vpc_config.endpoint_public_access
    must be set to false explicitly (the provider's default is true)."""
    value = first_block(resource.body, "vpc_config").get("endpoint_public_access")
    if falsy(value):
        return Result.ok()
    return Result.fail(
        "vpc_config.endpoint_public_access is true"
        if value is not None
        else "vpc_config.endpoint_public_access is not set (the provider defaults it to true)"
    )


EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


@rule("TM-EKS-003", Severity.WARNING, "EKS control-plane logging enabled", ("aws_eks_cluster",))
def eks_control_plane_logging(resource: SynthResource, stack: SynthStack) -> Result:
    """All five control-plane log types (api, audit, authenticator, controllerManager,
    scheduler) go to CloudWatch Logs, so that API calls and authentication can be audited."""
    enabled = set(as_list(resource.get("enabled_cluster_log_types")))
    missing = [t for t in EKS_LOG_TYPES if t not in enabled]
    if missing:
        return Result.fail(f"enabled_cluster_log_types lacks {', '.join(missing)}")
    return Result.ok()


# --- network and compute ----------------------------------------------------------------------


def _vpc_companions(stack: SynthStack, vpc: SynthResource, resource_type: str) -> list[SynthResource]:
    return stack.referencing(resource_type, "vpc_id", vpc, "id")


@rule("TM-VPC-001", Severity.ERROR, "VPC default security group has no rules", ("aws_vpc",))
def vpc_default_security_group_locked(resource: SynthResource, stack: SynthStack) -> Result:
    """Every VPC comes with a default security group that allows all traffic between its members
    and all egress, and anything launched without a group lands in it. The stack must adopt it
    (aws_default_security_group, which removes every rule it does not declare) with no ingress
    and no egress rules."""
    groups = _vpc_companions(stack, resource, "aws_default_security_group")
    if not groups:
        return Result.fail(
            "no aws_default_security_group for this VPC: its default group keeps AWS's allow-all rules"
        )
    open_rules = [
        f"{group.address} {direction}"
        for group in groups
        for direction in ("ingress", "egress")
        if as_list(group.get(direction))
    ]
    if open_rules:
        return Result.fail(f"the default security group keeps rules: {', '.join(open_rules)}; declare none")
    return Result.ok()


@rule("TM-VPC-002", Severity.ERROR, "VPC flow logs enabled", ("aws_vpc",))
def vpc_flow_logs(resource: SynthResource, stack: SynthStack) -> Result:
    """An aws_flow_log records the VPC's traffic (traffic_type ALL, or at least REJECT) to a log
    destination, so that connections to and from tenant compute can be investigated."""
    logs = _vpc_companions(stack, resource, "aws_flow_log")
    if not logs:
        return Result.fail("no aws_flow_log for this VPC")
    if any(log.get("traffic_type") in ("ALL", "REJECT") for log in logs):
        return Result.ok()
    kinds = sorted(str(log.get("traffic_type")) for log in logs)
    return Result.fail(f"flow logs record {', '.join(kinds)} traffic only; record ALL (or REJECT)")


@rule(
    "TM-ASG-001", Severity.ERROR, "Auto scaling group tags propagate to instances", ("aws_autoscaling_group",)
)
def autoscaling_group_tags(resource: SynthResource, stack: SynthStack) -> Result:
    """The provider's default_tags do not reach an auto scaling group (it takes tag blocks, not a
    tags map) nor the instances it launches: the group must carry the required tags
    (tenantml:tenant, tenantml:environment, tenantml:managed-by, cost-center) as tag blocks with
    propagate_at_launch, so its instances and their cost are attributed to the tenant."""
    tags = {
        str(t.get("key")): t for t in as_list(resource.get("tag")) if isinstance(t, Mapping) and t.get("key")
    }
    missing = [key for key in REQUIRED_TAGS if not tags.get(key, {}).get("value")]
    not_propagated = [
        key for key in REQUIRED_TAGS if key in tags and not truthy(tags[key].get("propagate_at_launch"))
    ]
    problems = []
    if missing:
        problems.append(f"no tag blocks for {', '.join(missing)}")
    if not_propagated:
        problems.append(f"{', '.join(not_propagated)} not propagated at launch")
    tenant_tag = tags.get("tenantml:tenant", {}).get("value")
    if tenant_tag and tenant_tag != stack.name:
        problems.append(f"tenantml:tenant is {tenant_tag!r} in the stack of tenant {stack.name!r}")
    return Result.fail("; ".join(problems)) if problems else Result.ok()


# --- tags -----------------------------------------------------------------------------------

PLATFORM_TAGS = ("tenantml:tenant", "tenantml:environment", "tenantml:managed-by")
REQUIRED_TAGS = (*PLATFORM_TAGS, "cost-center")


def _taggable(resource: SynthResource) -> bool:
    from infra.provider_schema import load_aws_schema

    schema = load_aws_schema()["resources"].get(resource.type)
    if schema is None:
        return "tags" in resource.body
    return "tags" in schema.get("attributes", {})


def _provider_tags(resource: SynthResource, stack: SynthStack) -> Mapping[str, Any]:
    alias = resource.get("provider")
    if isinstance(alias, str) and alias.startswith("aws."):
        return first_block(stack.provider_config(alias), "default_tags").get("tags", {}) or {}
    return stack.default_tags


@rule("TM-TAG-001", Severity.ERROR, "Required tags present", None)
def required_tags(resource: SynthResource, stack: SynthStack) -> Result:
    """The AWS provider's default_tags carry tenantml:tenant, tenantml:environment and
    tenantml:managed-by, and every taggable resource ends up with those plus cost-center
    (from default_tags or its own tags), so cost reports and access reviews can attribute
    every resource to its tenant. tenantml:tenant must name the stack's own tenant."""
    if resource.type == PROVIDER_TYPE:
        tags = stack.default_tags
        wanted: tuple[str, ...] = PLATFORM_TAGS
        where = "the provider's default_tags"
    elif resource.type != BACKEND_TYPE and not resource.type.startswith("data.") and _taggable(resource):
        tags = {**_provider_tags(resource, stack), **(resource.get("tags") or {})}
        wanted = REQUIRED_TAGS
        where = "default_tags and resource tags"
    else:
        return Result.skip("not taggable")
    missing = [key for key in wanted if not tags.get(key)]
    problems = [f"{where} lack {', '.join(missing)}"] if missing else []
    tenant_tag = tags.get("tenantml:tenant")
    if tenant_tag and tenant_tag != tenant_of_stack(stack.name):
        problems.append(f"tenantml:tenant is {tenant_tag!r} in the stack of tenant {stack.name!r}")
    return Result.fail("; ".join(problems)) if problems else Result.ok()


# --- tenant isolation -----------------------------------------------------------------------

ENVIRONMENTS = ("dev", "staging", "prod")
_PREFIX = "tenantml-"
_ANY_TENANT = re.compile(r"^([a-z][a-z0-9-]*?)-(?:" + "|".join(ENVIRONMENTS) + r")(?![a-z0-9])")
_STATE_KEY = re.compile(
    r"(?:^|[/:])([a-z][a-z0-9-]*)/terraform\.tfstate|terraform\.([a-z][a-z0-9-]*)\.tfstate"
)


def tenant_named_at(text: str, start: int, known: Mapping[str, str]) -> str | None:
    """The tenant whose ``tenantml-<tenant>-<env>`` prefix starts at ``text[start:]``, if any.

    The longest known tenant name wins (``tenantml-a-dev-prod-x`` is tenant ``a-dev`` in prod
    when both ``a`` and ``a-dev`` exist); an unknown ``<name>-<env>`` is reported as ``name``.
    """
    rest = text[start + len(_PREFIX) :]
    best = None
    for tenant in known:
        for env in ENVIRONMENTS:
            head = f"{tenant}-{env}"
            follows = rest[len(head) : len(head) + 1]
            if (
                rest.startswith(head)
                and not re.match(r"[a-z0-9]", follows)
                and (best is None or len(tenant) > len(best))
            ):
                best = tenant
    if best is not None:
        return best
    match = _ANY_TENANT.match(rest)
    return match.group(1) if match else None


def foreign_tenants(text: str, own: str, known: Mapping[str, str]) -> list[str]:
    """Other tenants named in ``text``: physical-name prefixes and Terraform state keys."""
    found = []
    start = text.find(_PREFIX)
    while start != -1:
        if start == 0 or not re.match(r"[a-z0-9]", text[start - 1]):
            tenant = tenant_named_at(text, start, known)
            if tenant is not None and tenant != own:
                found.append(tenant)
        start = text.find(_PREFIX, start + 1)
    for match in _STATE_KEY.finditer(text):
        tenant = match.group(1) or match.group(2)
        if tenant != own and (tenant in known or match.group(2)):
            found.append(tenant)
    return found


@rule("TM-ISO-001", Severity.ERROR, "Nothing refers to another tenant", None)
def tenant_isolation(resource: SynthResource, stack: SynthStack) -> Result:
    """A tenant's stack must not name another tenant's resources (physical names start
    tenantml-<tenant>-<env>-) or read another tenant's Terraform state (<prefix>/<tenant>/terraform.tfstate);
    the state backend key must be the tenant's own."""
    problems = []
    if resource.type == BACKEND_TYPE:
        key = resource.get("key") or resource.get("path") or ""
        match = _STATE_KEY.search(str(key))
        if match is None or (match.group(1) or match.group(2)) != stack.name:
            problems.append(f"state key {key!r} is not this tenant's own ({stack.name!r})")
    others: dict[str, list[str]] = {}
    for text in strings(resource.body):
        # the tenant, not the stack: an EKS tenant's <tenant>-kubernetes stack names its tenant's cluster
        for tenant in foreign_tenants(text, stack.tenant, stack.known_tenants):
            others.setdefault(tenant, []).append(text)
    for tenant, texts in sorted(others.items()):
        sample = texts[0] if len(texts[0]) <= 120 else texts[0][:117] + "..."
        problems.append(f"refers to tenant {tenant!r}: {sample!r}")
    return Result.fail("; ".join(problems)) if problems else Result.ok()


# --- suppressions ---------------------------------------------------------------------------


@rule("TM-POLICY-001", Severity.ERROR, "Suppressions name a known rule and give a reason", ())
def suppressions_well_formed(resource: SynthResource, stack: SynthStack) -> Result:
    """A suppression (in the tenant spec or a construct's marker) must name an existing rule id
    and give a written reason of at least 10 characters; anything else is reported instead of
    silently accepted. This rule is evaluated by the engine, not per resource, and cannot be
    suppressed."""
    return Result.skip()


RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
