"""IAM: policy statements, service roles built from grants, and the tenant permission boundary."""

from __future__ import annotations

import json

import pytest
from infra_support import (
    ACCOUNT_ID,
    BOUNDARY_ARN,
    as_list,
    bodies,
    only,
    policy,
    role_policy,
    sids,
    statement,
    synth,
)

from core.errors import ConstructPropsError
from core.naming import Naming
from infra import actions, cdk
from infra.identity import (
    PermissionBoundary,
    PermissionBoundaryProps,
    PolicyStatement,
    ServiceRole,
    ServiceRoleProps,
    policy_document,
    trust_policy,
)


def _problems(error: ConstructPropsError) -> list[tuple[str, str, object]]:
    return [(p.location, p.message, p.value) for p in error.problems]


# --- PolicyStatement --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sid": "Read-Data"}, ("sid", "must be alphanumeric", "Read-Data")),
        ({"sid": ""}, ("sid", "must be alphanumeric", "")),
        ({"actions": ()}, ("ReadData.actions", "must not be empty", None)),
        (
            {"actions": ("s3:Get*",)},
            ("ReadData.actions", "wildcard actions are not allowed; name each action", "s3:Get*"),
        ),
        (
            {"actions": ("*",)},
            ("ReadData.actions", "wildcard actions are not allowed; name each action", "*"),
        ),
        ({"resources": ()}, ("ReadData.resources", "must not be empty", None)),
        ({"effect": "allow"}, ("ReadData.effect", "must be Allow or Deny", "allow")),
    ],
    ids=[
        "sid-with-dash",
        "sid-empty",
        "no-actions",
        "wildcard-action",
        "star-action",
        "no-resources",
        "bad-effect",
    ],
)
def test_given_a_broken_statement_when_built_then_the_field_and_value_are_named(fields, expected):
    # given
    valid = {"sid": "ReadData", "actions": ("s3:GetObject",), "resources": ("arn:aws:s3:::b/*",)}

    # when
    with pytest.raises(ConstructPropsError) as caught:
        PolicyStatement(**{**valid, **fields})

    # then
    assert _problems(caught.value) == [expected]
    assert f"{expected[0]}: {expected[1]}" in str(caught.value)


def test_given_a_valid_statement_when_rendered_then_actions_and_resources_are_sorted_and_unique():
    # given
    st = PolicyStatement(
        sid="ReadData",
        actions=("s3:ListBucket", "s3:GetObject", "s3:GetObject"),
        resources=("arn:aws:s3:::b/*", "arn:aws:s3:::b"),
        conditions={"Bool": {"aws:SecureTransport": "true"}},
    )

    # when
    rendered = st.render()

    # then
    assert rendered == {
        "Sid": "ReadData",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }


def test_given_two_statements_with_one_sid_when_a_document_is_rendered_then_they_are_merged():
    # given
    first = PolicyStatement(sid="Read", actions=("s3:GetObject",), resources=("arn:aws:s3:::a/*",))
    second = PolicyStatement(sid="Read", actions=("s3:ListBucket",), resources=("arn:aws:s3:::a",))
    other = PolicyStatement(sid="Alpha", actions=("sns:Publish",), resources=("arn:aws:sns:eu-west-1:1:t",))

    # when
    doc = json.loads(policy_document([first, second, other]))

    # then: one statement per sid, in sid order
    assert doc["Version"] == "2012-10-17"
    assert sids(doc) == ["Alpha", "Read"]
    assert statement(doc, "Read")["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert statement(doc, "Read")["Resource"] == ["arn:aws:s3:::a", "arn:aws:s3:::a/*"]


def test_given_the_same_statements_in_another_order_when_rendered_then_the_document_is_identical():
    # given
    statements = [
        PolicyStatement(sid="B", actions=("sns:Publish",), resources=("t",)),
        PolicyStatement(sid="A", actions=("s3:GetObject", "s3:ListBucket"), resources=("b", "a")),
    ]

    # when / then
    assert policy_document(statements) == policy_document(list(reversed(statements)))


def test_given_one_sid_with_two_effects_when_a_document_is_rendered_then_the_sid_is_named():
    # given
    allow = PolicyStatement(sid="Data", actions=("s3:GetObject",), resources=("a",))
    deny = PolicyStatement(sid="Data", actions=("s3:GetObject",), resources=("a",), effect="Deny")

    # when
    with pytest.raises(ConstructPropsError) as caught:
        policy_document([allow, deny])

    # then
    assert _problems(caught.value) == [
        ("Data", "statement id reused with a different effect or condition", None)
    ]


def test_given_services_and_an_oidc_provider_when_a_trust_policy_is_built_then_both_may_assume_the_role():
    # given
    provider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    condition = {
        "StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:ml:trainer"}
    }

    # when
    doc = json.loads(trust_policy(("sagemaker.amazonaws.com", "ec2.amazonaws.com"), {provider: condition}))

    # then
    services = statement(doc, "Services")
    assert services["Action"] == "sts:AssumeRole"
    assert services["Principal"] == {"Service": ["ec2.amazonaws.com", "sagemaker.amazonaws.com"]}
    federated = statement(doc, "Federated")
    assert federated["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert federated["Principal"] == {"Federated": provider}
    assert federated["Condition"] == condition


# --- ServiceRole ------------------------------------------------------------------------------


def test_given_a_role_without_trusted_principals_when_props_are_built_then_assumed_by_is_named(naming):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        ServiceRoleProps(naming=naming, component="worker", description="d", boundary_arn=BOUNDARY_ARN)

    # then
    assert _problems(caught.value) == [("assumed_by", "a role needs at least one trusted principal", None)]


def test_given_a_principal_that_is_not_an_aws_service_when_props_are_built_then_it_is_named(naming):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        ServiceRoleProps(
            naming=naming,
            component="worker",
            description="d",
            boundary_arn=BOUNDARY_ARN,
            assumed_by=("lambda.amazonaws.com", "arn:aws:iam::999999999999:root"),
        )

    # then
    assert _problems(caught.value) == [
        ("assumed_by", "must be AWS service principals (*.amazonaws.com)", ["arn:aws:iam::999999999999:root"])
    ]


def test_given_only_a_federated_principal_when_props_are_built_then_they_are_valid(naming):
    # when
    props = ServiceRoleProps(
        naming=naming,
        component="worker",
        description="d",
        boundary_arn=BOUNDARY_ARN,
        federated={"arn:aws:iam::1:oidc-provider/x": {"StringEquals": {"x:sub": "y"}}},
    )

    # then
    assert props.assumed_by == ()


def test_given_a_service_role_when_synthesized_then_it_is_named_for_the_tenant_and_capped_by_the_boundary(
    stack, role
):
    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_iam_role",
        {
            "name": "tenantml-acme-dev-worker",
            "permissions_boundary": BOUNDARY_ARN,
            "max_session_duration": 3600,
        },
    )
    trust = policy(only(doc, "aws_iam_role"), "assume_role_policy")
    assert statement(trust, "Services")["Principal"] == {"Service": ["sagemaker.amazonaws.com"]}
    assert role.role_arn == "${aws_iam_role.worker.arn}"
    assert role.role_name_ref == "${aws_iam_role.worker.name}"


def test_given_a_role_without_grants_when_synthesized_then_its_inline_policy_allows_only_get_caller_identity(
    stack, role
):
    # when
    _, doc = synth(stack)

    # then: IAM rejects an empty inline policy, so a harmless statement stands in
    granted = role_policy(doc, "worker")
    assert granted["Statement"] == [
        {"Sid": "NoGrants", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": ["*"]}
    ]
    assert only(doc, "aws_iam_role_policy")["name"] == "grants"


def test_given_grants_added_after_the_role_was_built_when_synthesized_then_the_policy_holds_them(stack, role):
    # given
    role.grant(
        "PublishAlerts", actions.SNS_PUBLISH, ["arn:aws:sns:eu-west-1:123456789012:tenantml-acme-dev-alerts"]
    )

    # when
    _, doc = synth(stack)

    # then
    assert sids(role_policy(doc, "worker")) == ["PublishAlerts"]


def test_given_a_grant_with_a_condition_when_synthesized_then_the_condition_is_kept(stack, role):
    # given
    role.grant(
        "PutMetrics", actions.CLOUDWATCH_PUT_METRICS, ["*"], StringEquals={"cloudwatch:namespace": "TenantML"}
    )

    # when
    _, doc = synth(stack)

    # then
    assert statement(role_policy(doc, "worker"), "PutMetrics")["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "TenantML"}
    }


def test_given_two_roles_when_one_may_pass_the_other_then_pass_role_names_that_role_only(stack, naming, role):
    # given
    other = ServiceRole(
        stack,
        "Trainer",
        ServiceRoleProps(
            naming=naming,
            component="trainer",
            description="d",
            assumed_by=("sagemaker.amazonaws.com",),
            boundary_arn=BOUNDARY_ARN,
        ),
    )

    # when
    role.grant_pass_role(other)
    _, doc = synth(stack)

    # then
    assert statement(role_policy(doc, "worker"), "PassRole") == {
        "Sid": "PassRole",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": ["${aws_iam_role.trainer.arn}"],
    }


def test_given_managed_policies_when_synthesized_then_each_is_attached_to_the_role(stack, naming):
    # given
    managed = (
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    )
    ServiceRole(
        stack,
        "Nodes",
        ServiceRoleProps(
            naming=naming,
            component="nodes",
            description="d",
            assumed_by=("ec2.amazonaws.com",),
            boundary_arn=BOUNDARY_ARN,
            managed_policy_arns=managed,
        ),
    )

    # when
    _, doc = synth(stack)

    # then
    attachments = bodies(doc, "aws_iam_role_policy_attachment")
    assert sorted(attachments) == ["nodes_managed0", "nodes_managed1"]
    assert sorted(a["policy_arn"] for a in attachments.values()) == sorted(managed)
    assert {a["role"] for a in attachments.values()} == {"${aws_iam_role.nodes.name}"}
    assert only(doc, "aws_iam_role")["permissions_boundary"] == BOUNDARY_ARN


def test_given_a_component_too_long_for_a_role_name_when_a_role_is_built_then_the_limit_is_named(
    stack, naming
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        ServiceRole(
            stack,
            "Long",
            ServiceRoleProps(
                naming=naming,
                component="x" * 50,
                description="d",
                assumed_by=("lambda.amazonaws.com",),
                boundary_arn=BOUNDARY_ARN,
            ),
        )

    # then
    (problem,) = caught.value.problems
    assert problem.location == "role name"
    assert problem.message == "is 68 characters; AWS allows 64"


# --- PermissionBoundary -----------------------------------------------------------------------


@pytest.fixture
def boundary_doc(stack, naming, key) -> dict:
    PermissionBoundary(
        stack,
        "Boundary",
        PermissionBoundaryProps(naming=naming, metrics_namespace="TenantML"),
        key_arn=key.key_arn,
    )
    _, doc = synth(stack)
    return doc


def test_given_a_boundary_when_synthesized_then_it_is_a_named_managed_policy(boundary_doc):
    # then
    body = only(boundary_doc, "aws_iam_policy")
    assert body["name"] == "tenantml-acme-dev-boundary"
    assert "acme" in body["description"]


def test_given_a_boundary_when_synthesized_then_every_resource_is_one_of_this_tenants(boundary_doc):
    # given
    doc = policy(only(boundary_doc, "aws_iam_policy"))
    # PutMetricData, GetCallerIdentity, the X-Ray writes, the ECR login and the SageMaker VPC
    # network-interface calls have no resource-level permissions; listing log groups (VPC flow logs
    # delivery) is authorized on the account's log groups as a whole
    unscoped = {
        "Metrics",
        "WhoAmI",
        "Traces",
        "ImageLogin",
        "EndpointNetwork",
        "LogGroupList",
        "PipelineService",
    }
    #: named by AWS, one per account: SageMaker's job log groups and Step Functions' .sync rules
    shared = (
        "log-group:/aws/sagemaker/TrainingJobs",
        "log-group:/aws/sagemaker/ProcessingJobs",
        "rule/StepFunctionsGetEventsForSageMaker*",
    )

    # then
    for st in doc["Statement"]:
        if st["Sid"] in unscoped:
            continue
        for resource in st["Resource"]:
            assert (
                "tenantml-acme-dev-" in resource
                or resource.endswith("log-group:/tenantml/acme/*")
                or resource == "${aws_kms_key.key.arn}"
                or resource.endswith(shared)
            ), (st["Sid"], resource)


def test_given_a_boundary_when_synthesized_then_arns_name_the_tenants_account_and_region(boundary_doc):
    # given
    doc = policy(only(boundary_doc, "aws_iam_policy"))

    # then
    assert statement(doc, "Kinesis")["Resource"] == [
        f"arn:aws:kinesis:eu-west-1:{ACCOUNT_ID}:stream/tenantml-acme-dev-*"
    ]
    assert statement(doc, "S3Objects")["Resource"] == ["arn:aws:s3:::tenantml-acme-dev-*"]
    assert statement(doc, "S3ObjectKeys")["Resource"] == ["arn:aws:s3:::tenantml-acme-dev-*/*"]
    assert statement(doc, "PassRole")["Resource"] == [f"arn:aws:iam::{ACCOUNT_ID}:role/tenantml-acme-dev-*"]
    assert statement(doc, "TenantKey")["Resource"] == ["${aws_kms_key.key.arn}"]
    assert statement(doc, "LogGroupList")["Resource"] == [f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:*"]


def test_given_a_boundary_when_synthesized_then_metrics_are_limited_to_the_namespace_and_no_action_is_a_wildcard(
    boundary_doc,
):
    # given
    doc = policy(only(boundary_doc, "aws_iam_policy"))

    # then
    assert statement(doc, "Metrics")["Condition"] == {"StringEquals": {"cloudwatch:namespace": "TenantML"}}
    assert [a for st in doc["Statement"] for a in as_list(st["Action"]) if "*" in a] == []
    on_any_resource = {a for st in doc["Statement"] if "*" in st["Resource"] for a in st["Action"]}
    assert on_any_resource == {
        "cloudwatch:PutMetricData",
        "sts:GetCallerIdentity",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        *actions.ECR_AUTH,
        *actions.SAGEMAKER_VPC_ACCESS,
        # the pipeline state machine's log delivery and trace sampling
        *actions.SFN_LOG_DELIVERY,
        *actions.XRAY_SAMPLING,
    }


def test_given_a_boundary_when_synthesized_then_it_allows_every_action_a_construct_can_grant(boundary_doc):
    # given
    doc = policy(only(boundary_doc, "aws_iam_policy"))
    allowed = {a for st in doc["Statement"] for a in st["Action"]}
    grantable = {
        *actions.S3_READ,
        *actions.S3_WRITE,
        *actions.KMS_ENCRYPT_DECRYPT,
        *actions.KINESIS_READ,
        *actions.KINESIS_WRITE,
        *actions.SNS_PUBLISH,
        *actions.SQS_SEND,
        *actions.LOGS_WRITE,
        *actions.SAGEMAKER_REGISTRY_READ,
        *actions.SAGEMAKER_REGISTRY_WRITE,
        *actions.CLOUDWATCH_PUT_METRICS,
        *actions.IAM_PASS_ROLE,
        *actions.ECR_PULL,
        *actions.ECR_AUTH,
        *actions.SAGEMAKER_VPC_ACCESS,
        *actions.SAGEMAKER_ENDPOINT_LOGS,
        *actions.LOGS_DESCRIBE_STREAMS,
        *actions.LOGS_LIST_GROUPS,
    }

    # then
    assert grantable - allowed == set()


def test_given_a_govcloud_tenant_when_its_boundary_is_synthesized_then_arns_use_the_tenants_partition(
    stack, key
):
    # given: the spec's region pattern accepts us-gov-west-1 (partition aws-us-gov)
    gov = Naming(tenant="acme", environment="dev", region="us-gov-west-1", account_id=ACCOUNT_ID)
    PermissionBoundary(
        stack,
        "Boundary",
        PermissionBoundaryProps(naming=gov, metrics_namespace="TenantML"),
        key_arn=key.key_arn,
    )

    # when
    _, doc = synth(stack)
    resources = [r for st in policy(only(doc, "aws_iam_policy"))["Statement"] for r in st["Resource"]]

    # then
    assert [r for r in resources if r.startswith("arn:aws:")] == []
