"""Every policy rule fails on a non-compliant resource and passes on a compliant one.

Given the compliant stack from ``conftest.py``, when one thing is changed, then exactly the
rule that guards it reports it, with a message naming what is wrong.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import RULES, Status, SynthStack, check_stack
from infra.policy.rules import foreign_tenants, unscoped_resource

Doc = dict[str, Any]
R = "resource"


def res(doc: Doc, address: str) -> dict[str, Any]:
    resource_type, name = address.split(".", 1)
    return doc[R][resource_type][name]


def set_policy(address: str, statements: list[dict[str, Any]]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        res(doc, address)["policy"] = json.dumps({"Version": "2012-10-17", "Statement": statements})

    return mutate


def setter(address: str, path: str, value: Any) -> Callable[[Doc], None]:
    """Set ``path`` (``a.b[0].c``) of a resource; ``value=...`` (Ellipsis) deletes it."""

    def mutate(doc: Doc) -> None:
        node: Any = res(doc, address)
        parts = path.replace("[", ".[").split(".")
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        last = parts[-1]
        key: Any = int(last[1:-1]) if last.startswith("[") else last
        if value is ...:
            del node[key]
        else:
            node[key] = value

    return mutate


def drop(resource_type: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        del doc[R][resource_type]

    return mutate


def add(address: str, body: dict[str, Any]) -> Callable[[Doc], None]:
    """Add the resource ``address`` with ``body``."""

    def mutate(doc: Doc) -> None:
        resource_type, name = address.split(".", 1)
        doc[R].setdefault(resource_type, {})[name] = copy.deepcopy(body)

    return mutate


def both(*mutations: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


def provider_tags(**changes: str | None) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        tags = doc["provider"]["aws"][0]["default_tags"][0]["tags"]
        for key, value in changes.items():
            key = key.replace("__", ":").replace("_", "-")
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value

    return mutate


BUCKET = "aws_s3_bucket.data"
ROLE_POLICY = "aws_iam_role_policy.worker_policy"
BOUNDARY = "aws_iam_policy.boundary"
LAMBDA = "aws_lambda_function.monitor"
CLUSTER = "aws_eks_cluster.cluster"

ON_FAILURE = "aws_lambda_function_event_invoke_config.monitor_async"
ON_FAILURE_BODY = {
    "function_name": "${aws_lambda_function.monitor.function_name}",
    "maximum_retry_attempts": 2,
    "destination_config": [{"on_failure": [{"destination": "${aws_sqs_queue.dlq.arn}"}]}],
}

VPC = "aws_vpc.network"
ASG = "aws_autoscaling_group.fleet"
LOCKED_DEFAULT_GROUP = "aws_default_security_group.network_default"
FLOW_LOG = "aws_flow_log.network_flow_log"
LIFECYCLE = "aws_s3_bucket_lifecycle_configuration.data_lifecycle"
with_vpc = both(
    add(VPC, {"cidr_block": "10.0.0.0/16"}),
    add(LOCKED_DEFAULT_GROUP, {"vpc_id": "${aws_vpc.network.id}", "ingress": [], "egress": []}),
    add(
        FLOW_LOG,
        {
            "vpc_id": "${aws_vpc.network.id}",
            "traffic_type": "ALL",
            "log_destination": "${aws_cloudwatch_log_group.flow.arn}",
            "iam_role_arn": "${aws_iam_role.worker.arn}",
        },
    ),
)
ASG_TAGS = {"tenantml:tenant": "acme", "tenantml:environment": "dev", "tenantml:managed-by": "tenantml"}
with_asg = add(
    ASG,
    {
        "min_size": 1,
        "max_size": 2,
        "tag": [
            {"key": k, "value": v, "propagate_at_launch": True}
            for k, v in {**ASG_TAGS, "cost-center": "cc-1"}.items()
        ],
    },
)
prod = provider_tags(tenantml__environment="prod")
with_access_logs = both(
    prod,
    add("aws_s3_bucket.logs", {"bucket": "tenantml-acme-prod-access-logs"}),
    add(
        "aws_s3_bucket_logging.data_access_logs",
        {
            "bucket": "${aws_s3_bucket.data.id}",
            "target_bucket": "${aws_s3_bucket.logs.id}",
            "target_prefix": "data/",
        },
    ),
)

# (rule id, address, mutation, fragment of the expected message)
NON_COMPLIANT: list[tuple[str, str, Callable[[Doc], None], str]] = [
    (
        "TM-S3-001",
        BUCKET,
        drop("aws_s3_bucket_server_side_encryption_configuration"),
        "no aws_s3_bucket_server_side_encryption_configuration",
    ),
    (
        "TM-S3-001",
        BUCKET,
        setter(
            "aws_s3_bucket_server_side_encryption_configuration.data_encryption",
            "rule[0].apply_server_side_encryption_by_default[0]",
            {"sse_algorithm": "AES256"},
        ),
        "encrypted with AES256 but not SSE-KMS",
    ),
    (
        "TM-S3-001",
        BUCKET,
        setter(
            "aws_s3_bucket_server_side_encryption_configuration.data_encryption",
            "rule[0].apply_server_side_encryption_by_default[0].kms_master_key_id",
            ...,
        ),
        "not SSE-KMS with a named key",
    ),
    ("TM-S3-002", BUCKET, drop("aws_s3_bucket_versioning"), "no aws_s3_bucket_versioning"),
    (
        "TM-S3-002",
        BUCKET,
        setter("aws_s3_bucket_versioning.data_versioning", "versioning_configuration[0].status", "Suspended"),
        "versioning status is 'Suspended'",
    ),
    ("TM-S3-003", BUCKET, drop("aws_s3_bucket_public_access_block"), "no aws_s3_bucket_public_access_block"),
    (
        "TM-S3-003",
        BUCKET,
        setter(
            "aws_s3_bucket_public_access_block.data_public_access_block", "restrict_public_buckets", False
        ),
        "leaves restrict_public_buckets off",
    ),
    ("TM-S3-004", BUCKET, drop("aws_s3_bucket_policy"), "no aws_s3_bucket_policy"),
    (
        "TM-S3-004",
        BUCKET,
        set_policy(
            "aws_s3_bucket_policy.data_policy",
            [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["${aws_s3_bucket.data.arn}"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        ),
        "has no statement denying s3:*",
    ),
    (
        "TM-S3-004",
        BUCKET,
        setter("aws_s3_bucket_policy.data_policy", "policy", "${data.aws_iam_policy_document.tls.json}"),
        "is not a literal JSON policy document",
    ),
    (
        "TM-KMS-001",
        "aws_kms_key.key",
        setter("aws_kms_key.key", "enable_key_rotation", False),
        "enable_key_rotation is not true",
    ),
    (
        "TM-IAM-001",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [
                {
                    "Sid": "All",
                    "Effect": "Allow",
                    "Action": ["s3:*"],
                    "Resource": ["${aws_s3_bucket.data.arn}"],
                }
            ],
        ),
        "statement All allows wildcard actions ['s3:*']",
    ),
    (
        "TM-IAM-001",
        BOUNDARY,
        set_policy(
            BOUNDARY,
            [
                {
                    "Sid": "Reads",
                    "Effect": "Allow",
                    "Action": ["s3:Get*"],
                    "Resource": ["arn:aws:s3:::tenantml-acme-dev-*"],
                }
            ],
        ),
        "allows wildcard actions ['s3:Get*']",
    ),
    (
        "TM-IAM-001",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY, [{"Sid": "Rest", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["*"]}]
        ),
        "uses NotAction in an Allow",
    ),
    (
        "TM-IAM-001",
        "aws_iam_role.worker",
        setter(
            "aws_iam_role.worker",
            "inline_policy",
            [
                {
                    "name": "inline",
                    "policy": json.dumps(
                        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
                    ),
                }
            ],
        ),
        "inline_policy[0] statement Statement[0] allows wildcard actions ['*']",
    ),
    (
        "TM-IAM-002",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [{"Sid": "ReadAll", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}],
        ),
        "statement ReadAll allows data actions ['s3:GetObject'] on ['*']",
    ),
    (
        "TM-IAM-002",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [
                {
                    "Sid": "Everything",
                    "Effect": "Allow",
                    "Action": ["kinesis:PutRecord"],
                    "Resource": ["arn:aws:kinesis:eu-west-1:123456789012:stream/*"],
                }
            ],
        ),
        "allows data actions ['kinesis:PutRecord'] on ['arn:aws:kinesis:eu-west-1:123456789012:stream/*']",
    ),
    (
        "TM-IAM-002",
        ROLE_POLICY,
        setter(ROLE_POLICY, "policy", "${data.aws_iam_policy_document.grants.json}"),
        "policy is not a literal JSON policy document",
    ),
    (
        "TM-KINESIS-001",
        "aws_kinesis_stream.stream",
        setter("aws_kinesis_stream.stream", "encryption_type", "NONE"),
        "encryption_type is 'NONE'",
    ),
    (
        "TM-KINESIS-001",
        "aws_kinesis_stream.stream",
        setter("aws_kinesis_stream.stream", "kms_key_id", ...),
        "and no kms_key_id",
    ),
    (
        "TM-SNS-001",
        "aws_sns_topic.alerts",
        setter("aws_sns_topic.alerts", "kms_master_key_id", ...),
        "kms_master_key_id is not set",
    ),
    (
        "TM-DYNAMODB-001",
        "aws_dynamodb_table.features",
        setter("aws_dynamodb_table.features", "server_side_encryption", ...),
        "server_side_encryption is not enabled with the tenant key",
    ),
    (
        "TM-DYNAMODB-001",
        "aws_dynamodb_table.features",
        setter("aws_dynamodb_table.features", "server_side_encryption[0].kms_key_arn", ...),
        "names no kms_key_arn (the AWS managed key)",
    ),
    (
        "TM-DYNAMODB-002",
        "aws_dynamodb_table.features",
        setter("aws_dynamodb_table.features", "point_in_time_recovery[0].enabled", False),
        "point_in_time_recovery is not enabled",
    ),
    (
        "TM-SQS-001",
        "aws_sqs_queue.dlq",
        setter("aws_sqs_queue.dlq", "kms_master_key_id", ...),
        "neither kms_master_key_id nor sqs_managed_sse_enabled",
    ),
    ("TM-LAMBDA-001", LAMBDA, setter(LAMBDA, "dead_letter_config", ...), "no dead_letter_config.target_arn"),
    (
        "TM-LAMBDA-003",
        LAMBDA,
        add(ON_FAILURE, ON_FAILURE_BODY),
        "both receive every failed event",
    ),
    ("TM-S3-005", BUCKET, prod, "no aws_s3_bucket_logging with a target_bucket"),
    (
        "TM-S3-006",
        BUCKET,
        setter(LIFECYCLE, "rule[0].filter", [{"prefix": "incoming/"}]),
        "only prefix- or tag-limited rules (abort-incomplete-uploads)",
    ),
    ("TM-S3-006", BUCKET, drop("aws_s3_bucket_lifecycle_configuration"), "no enabled bucket-wide"),
    (
        "TM-VPC-001",
        VPC,
        both(with_vpc, lambda doc: doc[R]["aws_default_security_group"].clear()),
        "no aws_default_security_group for this VPC",
    ),
    (
        "TM-VPC-001",
        VPC,
        both(
            with_vpc,
            setter(LOCKED_DEFAULT_GROUP, "egress", [{"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}]),
        ),
        "keeps rules: aws_default_security_group.network_default egress",
    ),
    ("TM-VPC-002", VPC, both(with_vpc, drop("aws_flow_log")), "no aws_flow_log for this VPC"),
    (
        "TM-VPC-002",
        VPC,
        both(with_vpc, setter(FLOW_LOG, "traffic_type", "ACCEPT")),
        "flow logs record ACCEPT traffic only",
    ),
    ("TM-ASG-001", ASG, add(ASG, {"min_size": 1, "max_size": 2}), "no tag blocks for tenantml:tenant"),
    (
        "TM-ASG-001",
        ASG,
        both(with_asg, setter(ASG, "tag[3].propagate_at_launch", False)),
        "cost-center not propagated at launch",
    ),
    (
        "TM-LAMBDA-002",
        LAMBDA,
        setter(LAMBDA, "reserved_concurrent_executions", ...),
        "reserved_concurrent_executions is not set",
    ),
    ("TM-LAMBDA-002", LAMBDA, setter(LAMBDA, "reserved_concurrent_executions", 0), "is 0, which disables"),
    (
        "TM-EKS-001",
        CLUSTER,
        setter(CLUSTER, "vpc_config[0].endpoint_private_access", False),
        "endpoint_private_access is not true",
    ),
    (
        "TM-EKS-002",
        CLUSTER,
        setter(CLUSTER, "vpc_config[0].endpoint_public_access", True),
        "endpoint_public_access is true",
    ),
    (
        "TM-EKS-002",
        CLUSTER,
        setter(CLUSTER, "vpc_config[0].endpoint_public_access", ...),
        "not set (the provider defaults it to true)",
    ),
    (
        "TM-EKS-003",
        CLUSTER,
        setter(CLUSTER, "enabled_cluster_log_types", ["api"]),
        "lacks audit, authenticator, controllerManager, scheduler",
    ),
    (
        "TM-TAG-001",
        BUCKET,
        provider_tags(cost_center=None),
        "default_tags and resource tags lack cost-center",
    ),
    (
        "TM-TAG-001",
        "provider.aws",
        provider_tags(tenantml__managed_by=None),
        "the provider's default_tags lack tenantml:managed-by",
    ),
    (
        "TM-TAG-001",
        "aws_kms_key.key",
        setter("aws_kms_key.key", "tags", {"tenantml:tenant": "globex"}),
        "tenantml:tenant is 'globex' in the stack of tenant 'acme'",
    ),
    (
        "TM-ISO-001",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [
                {
                    "Sid": "ReadOther",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": ["arn:aws:s3:::tenantml-globex-prod-data/*"],
                }
            ],
        ),
        "refers to tenant 'globex'",
    ),
    (
        "TM-ISO-001",
        LAMBDA,
        setter(
            LAMBDA,
            "environment[0].variables.OTHER_STATE",
            "s3://tenantml-terraform-state/tenants/globex/terraform.tfstate",
        ),
        "refers to tenant 'globex'",
    ),
    (
        "TM-ISO-001",
        LAMBDA,
        setter(LAMBDA, "environment[0].variables.OLD_TOPIC", "tenantml-initech-staging-alerts"),
        "refers to tenant 'initech'",
    ),
    (
        "TM-ISO-001",
        "terraform.backend.s3",
        lambda doc: doc["terraform"]["backend"]["s3"].update(key="tenants/globex/terraform.tfstate"),
        "state key 'tenants/globex/terraform.tfstate' is not this tenant's own",
    ),
]

PROD_ONLY_RULES = {"TM-S3-005"}

# (rule id, address, mutation that keeps it compliant or makes it not applicable, expected status)
COMPLIANT_VARIANTS: list[tuple[str, str, Callable[[Doc], None] | None, Status]] = [
    *[
        (rule.id, address, None, Status.COMPLIANT)
        for rule in RULES
        for address in (
            BUCKET,
            "aws_kms_key.key",
            ROLE_POLICY,
            BOUNDARY,
            "aws_kinesis_stream.stream",
            "aws_sns_topic.alerts",
            "aws_sqs_queue.dlq",
            "aws_dynamodb_table.features",
            LAMBDA,
            CLUSTER,
            "provider.aws",
            "terraform.backend.s3",
        )
        if rule.applies_to
        and address.split(".")[0] in rule.applies_to
        # the compliant stack is a dev tenant: prod-only rules are not applicable to it (cases below)
        and rule.id not in PROD_ONLY_RULES
    ],
    ("TM-TAG-001", BUCKET, None, Status.COMPLIANT),
    ("TM-TAG-001", "provider.aws", None, Status.COMPLIANT),
    ("TM-ISO-001", "terraform.backend.s3", None, Status.COMPLIANT),
    ("TM-ISO-001", ROLE_POLICY, None, Status.COMPLIANT),
    (
        "TM-S3-001",
        BUCKET,
        lambda doc: (
            drop("aws_s3_bucket_server_side_encryption_configuration")(doc),
            res(doc, BUCKET).update(
                server_side_encryption_configuration=[
                    {
                        "rule": [
                            {
                                "apply_server_side_encryption_by_default": [
                                    {"sse_algorithm": "aws:kms", "kms_master_key_id": "arn:aws:kms:k"}
                                ]
                            }
                        ]
                    }
                ]
            ),
        ),
        Status.COMPLIANT,
    ),
    (
        "TM-S3-002",
        BUCKET,
        setter("aws_s3_bucket_versioning.data_versioning", "bucket", "tenantml-acme-dev-data"),
        Status.COMPLIANT,
    ),
    (
        "TM-KMS-001",
        "aws_kms_key.key",
        setter("aws_kms_key.key", "customer_master_key_spec", "RSA_2048"),
        Status.NOT_APPLICABLE,
    ),
    (
        "TM-IAM-001",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [
                {"Sid": "DenyAll", "Effect": "Deny", "Action": ["s3:*"], "Resource": ["*"]},
                {
                    "Sid": "Read",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": ["${aws_s3_bucket.data.arn}/*"],
                },
            ],
        ),
        Status.COMPLIANT,
    ),
    ("TM-IAM-001", "aws_iam_role.worker", None, Status.NOT_APPLICABLE),
    (
        "TM-IAM-002",
        ROLE_POLICY,
        set_policy(
            ROLE_POLICY,
            [{"Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": ["*"]}],
        ),
        Status.COMPLIANT,
    ),
    (
        "TM-SQS-001",
        "aws_sqs_queue.dlq",
        lambda doc: res(doc, "aws_sqs_queue.dlq").update(
            kms_master_key_id=None, sqs_managed_sse_enabled=True
        ),
        Status.COMPLIANT,
    ),
    (
        "TM-TAG-001",
        BUCKET,
        lambda doc: (
            provider_tags(cost_center=None)(doc),
            res(doc, BUCKET).update(tags={"cost-center": "cc-9"}),
        ),
        Status.COMPLIANT,
    ),
    ("TM-TAG-001", "aws_s3_bucket_policy.data_policy", None, Status.NOT_APPLICABLE),
    ("TM-TAG-001", "terraform.backend.s3", None, Status.NOT_APPLICABLE),
    # one dead-letter path: the on-failure destination instead of dead_letter_config
    (
        "TM-LAMBDA-001",
        LAMBDA,
        both(setter(LAMBDA, "dead_letter_config", ...), add(ON_FAILURE, ON_FAILURE_BODY)),
        Status.COMPLIANT,
    ),
    (
        "TM-LAMBDA-003",
        LAMBDA,
        both(setter(LAMBDA, "dead_letter_config", ...), add(ON_FAILURE, ON_FAILURE_BODY)),
        Status.COMPLIANT,
    ),
    ("TM-LAMBDA-003", LAMBDA, setter(LAMBDA, "dead_letter_config", ...), Status.NOT_APPLICABLE),
    ("TM-S3-005", BUCKET, None, Status.NOT_APPLICABLE),
    ("TM-S3-005", BUCKET, with_access_logs, Status.COMPLIANT),
    ("TM-S3-005", "aws_s3_bucket.logs", with_access_logs, Status.NOT_APPLICABLE),
    ("TM-S3-006", BUCKET, setter(LIFECYCLE, "rule[0].filter", [{}]), Status.COMPLIANT),
    ("TM-VPC-001", VPC, with_vpc, Status.COMPLIANT),
    ("TM-VPC-002", VPC, with_vpc, Status.COMPLIANT),
    ("TM-ASG-001", ASG, with_asg, Status.COMPLIANT),
    # tenant "acme-dev" (prod) exists, but tenantml-acme-dev-data is acme's own dev bucket
    ("TM-ISO-001", BUCKET, None, Status.COMPLIANT),
    (
        "TM-ISO-001",
        LAMBDA,
        setter(LAMBDA, "environment[0].variables.SERVICE", "tenantml-monitor"),
        Status.COMPLIANT,
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "address", "mutate", "expected"),
    NON_COMPLIANT,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(NON_COMPLIANT)],
)
def test_rule_fails_on_a_non_compliant_resource(policy_doc, verdict, rule_id, address, mutate, expected):
    # given a compliant stack with one thing broken
    mutate(policy_doc)
    # when the rule looks at the broken resource
    result = verdict(rule_id, policy_doc, address)
    # then it is non-compliant and says why
    assert result.status is Status.NON_COMPLIANT
    assert expected in result.message


@pytest.mark.parametrize(
    ("rule_id", "address", "mutate", "expected"),
    COMPLIANT_VARIANTS,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(COMPLIANT_VARIANTS)],
)
def test_rule_passes_on_a_compliant_resource(policy_doc, verdict, rule_id, address, mutate, expected):
    if mutate is not None:
        mutate(policy_doc)
    result = verdict(rule_id, policy_doc, address)
    assert result.status is expected, result.message


def test_every_rule_has_a_failing_and_a_passing_case():
    evaluated_by_engine = {"TM-POLICY-001"}  # tested in test_policy_engine.py
    rule_ids = {r.id for r in RULES} - evaluated_by_engine
    assert rule_ids <= {c[0] for c in NON_COMPLIANT}
    assert rule_ids <= {c[0] for c in COMPLIANT_VARIANTS if c[3] is Status.COMPLIANT}


def test_compliant_stack_has_no_findings(policy_doc):
    result = check_stack(SynthStack("acme", policy_doc, {"acme": "dev", "globex": "prod"}))
    assert [(f.rule_id, f.address, f.message) for f in result.findings] == []
    assert result.passed


def test_kms_key_policy_is_out_of_scope_of_the_iam_rules(policy_doc):
    # given the key's AccountAdmin statement (kms:* on "*", AWS's default key policy)
    assert '"kms:*"' in policy_doc[R]["aws_kms_key"]["key"]["policy"]
    # when every rule runs, then no IAM rule looks at the key
    result = check_stack(SynthStack("acme", policy_doc))
    assert not [f for f in result.findings if f.rule_id.startswith("TM-IAM")]


def test_a_broken_resource_is_reported_by_its_rule_only(policy_doc):
    setter("aws_kinesis_stream.stream", "encryption_type", "NONE")(policy_doc)
    result = check_stack(SynthStack("acme", policy_doc))
    assert [(f.rule_id, f.address, f.severity.value) for f in result.findings] == [
        ("TM-KINESIS-001", "aws_kinesis_stream.stream", "error")
    ]
    assert not result.passed


@pytest.mark.parametrize(
    ("resource", "unscoped"),
    [
        ("*", True),
        ("arn:aws:s3:::*", True),
        ("arn:aws:s3:::*/*", True),
        ("arn:aws:kinesis:eu-west-1:1:stream/*", True),
        ("arn:aws:s3:::tenantml-acme-dev-*", False),
        ("${aws_s3_bucket.data.arn}/*", False),
        ("arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/tenantml-acme-dev-x:*", False),
    ],
)
def test_unscoped_resource(resource, unscoped):
    assert unscoped_resource(resource) is unscoped


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("tenantml-acme-dev-data", []),
        ("tenantml-acme-prod-data", []),  # the tenant's own name in another environment is not another tenant
        ("tenantml-acme-dev-prod-data", ["acme-dev"]),  # the longest known tenant name wins
        ("arn:aws:s3:::tenantml-globex-prod-models/*", ["globex"]),
        ("tenantml-terraform-state", []),
        ("tenants/globex/terraform.tfstate", ["globex"]),
        ("terraform.globex.tfstate", ["globex"]),
        ("xtenantml-globex-prod", []),
    ],
)
def test_foreign_tenants(text, found):
    assert foreign_tenants(text, "acme", {"acme": "dev", "acme-dev": "prod", "globex": "prod"}) == found


def test_a_tenant_whose_name_extends_another_is_not_confused_with_it():
    known = {"churn": "dev", "churn-eu": "dev"}
    assert foreign_tenants("tenantml-churn-eu-dev-data", "churn-eu", known) == []
    assert foreign_tenants("tenantml-churn-dev-data", "churn-eu", known) == ["churn"]
    assert foreign_tenants("tenantml-churn-eu-dev-data", "churn", known) == ["churn-eu"]
