"""The example tenants (churn on EC2, fraud on EKS) synthesized end to end, as ``tenantml synth`` writes them."""

from __future__ import annotations

import copy
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from infra_support import (
    EXAMPLE_TENANTS,
    REFERENCE,
    REPO_ROOT,
    SynthesizedStack,
    addresses,
    as_list,
    bodies,
    policies,
    policy,
    referenced_addresses,
    strings,
    synthesize_specs,
)

from core.errors import ConstructPropsError
from core.spec import load_specs, parse_spec
from infra.actions import DATA_ACTIONS
from infra.schema_check import check_stack
from tenantml.synthesis import synth as synth_tenants

TENANTS = ["churn", "fraud", "shop"]


@pytest.fixture(params=TENANTS)
def tenant(request, example_stacks) -> SynthesizedStack:
    return example_stacks[request.param]


def _bucket_ids(doc: dict) -> set[str]:
    return {f"${{aws_s3_bucket.{name}.id}}" for name in bodies(doc, "aws_s3_bucket")}


# --- the "done when" list ---------------------------------------------------------------------------


def test_given_an_example_tenant_when_synthesized_then_it_has_three_buckets_each_with_its_secure_defaults(
    tenant,
):
    # given: prod tenants also have the bucket receiving server access logs (tests/infra/test_infra_hardening.py)
    doc = tenant.doc
    buckets = _bucket_ids(doc) - {"${aws_s3_bucket.storage_access_logs.id}"}

    # then
    assert len(buckets) == 3
    for companion in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
    ):
        assert {b["bucket"] for b in bodies(doc, companion).values()} >= buckets, companion
    assert {
        b["versioning_configuration"][0]["status"] for b in bodies(doc, "aws_s3_bucket_versioning").values()
    } == {"Enabled"}
    encryption = [
        b["rule"][0]
        for b in bodies(doc, "aws_s3_bucket_server_side_encryption_configuration").values()
        if b["bucket"] in buckets
    ]
    assert {r["apply_server_side_encryption_by_default"][0]["sse_algorithm"] for r in encryption} == {
        "aws:kms"
    }
    assert all(r["bucket_key_enabled"] is True for r in encryption)


@pytest.mark.parametrize(
    "resource_type",
    [
        "aws_kms_key",
        "aws_kinesis_stream",
        "aws_lambda_event_source_mapping",
        "aws_s3_bucket_notification",
        "aws_sagemaker_model_package_group",
    ],
)
def test_given_an_example_tenant_when_synthesized_then_it_has_exactly_one_of_each_platform_resource(
    tenant, resource_type
):
    # then
    assert len(bodies(tenant.doc, resource_type)) == 1


def test_given_an_example_tenant_when_synthesized_then_it_has_functions_roles_and_alarms(tenant):
    # given
    doc = tenant.doc

    # then
    assert len(bodies(doc, "aws_lambda_function")) >= 2
    assert len(bodies(doc, "aws_iam_role")) >= 1
    alarms = bodies(doc, "aws_cloudwatch_metric_alarm")
    assert len(alarms) >= 1
    topics = {"${aws_sns_topic.alerts_alarms.arn}", "${aws_sns_topic.alerts.arn}"}
    assert all(len(a["alarm_actions"]) == 1 and a["alarm_actions"][0] in topics for a in alarms.values())


def test_given_an_example_tenant_when_synthesized_then_one_drifted_window_alarms_and_health_alarms_use_m_of_n(
    tenant,
):
    # given
    spec = load_specs(EXAMPLE_TENANTS, only=tenant.tenant)[0]
    alarms = {
        a["metric_name"]: a
        for a in bodies(tenant.doc, "aws_cloudwatch_metric_alarm").values()
        if a["namespace"] == f"TenantML/{tenant.tenant}"
    }

    # then: a drift score is a whole window's verdict; error rate and latency wait for M of N periods
    assert (alarms["DriftScore"]["evaluation_periods"], alarms["DriftScore"]["datapoints_to_alarm"]) == (1, 1)
    assert alarms["DriftScore"]["threshold"] == spec.model.drift_threshold
    for metric in ("ErrorRate", "LatencyMs"):
        assert (alarms[metric]["evaluation_periods"], alarms[metric]["datapoints_to_alarm"]) == (
            spec.monitoring.evaluation_periods,
            spec.monitoring.datapoints_to_alarm,
        )


@pytest.mark.parametrize(
    ("name", "present", "absent"),
    [
        ("fraud", "aws_eks_cluster", "aws_launch_template"),
        ("churn", "aws_launch_template", "aws_eks_cluster"),
    ],
)
def test_given_the_compute_kind_of_a_tenant_when_synthesized_then_only_that_compute_is_built(
    example_stacks, name, present, absent
):
    # given
    doc = example_stacks[name].doc

    # then
    assert len(bodies(doc, present)) == 1
    assert bodies(doc, absent) == {}


def test_given_an_example_tenant_when_synthesized_then_metrics_are_published_and_read_only_in_its_own_namespace(
    tenant,
):
    # given: IAM has a condition key on the namespace and none on dimension values
    own = f"TenantML/{tenant.tenant}"

    # when
    conditions = [
        (address, st.get("Condition"))
        for _, address, doc in policies(tenant.doc)
        for st in doc["Statement"]
        if st["Effect"] == "Allow" and "cloudwatch:PutMetricData" in as_list(st["Action"])
    ]
    namespaces = {
        a["namespace"]
        for a in bodies(tenant.doc, "aws_cloudwatch_metric_alarm").values()
        if a["namespace"].startswith("TenantML")
    }

    # then: every grant (and the boundary) holds publishers to the tenant's namespace, and its
    # model alarms read that namespace: another tenant's roles cannot move them
    assert conditions, "the monitor, the serving role and the boundary publish metrics"
    assert [(a, c) for a, c in conditions if c != {"StringEquals": {"cloudwatch:namespace": own}}] == []
    assert namespaces == {own}


def test_given_the_example_tenants_when_synthesized_then_only_the_ec2_tenant_has_an_auto_scaling_role_in_its_key_policy(
    example_stacks,
):
    # given
    churn, fraud = example_stacks["churn"].doc, example_stacks["fraud"].doc
    role_arn = "${aws_iam_service_linked_role.auto_scaling_role.arn}"

    # then: churn (EC2) creates its own Auto Scaling role; the key policy and the group reference it,
    # so Terraform creates the role before KMS sees a policy naming it
    (linked,) = bodies(churn, "aws_iam_service_linked_role").values()
    assert (linked["aws_service_name"], linked["custom_suffix"]) == ("autoscaling.amazonaws.com", "churn-dev")
    key_policy = policy(bodies(churn, "aws_kms_key")["key"])
    principals = {
        st["Sid"]: st["Principal"].get("AWS") for st in key_policy["Statement"] if "AWS" in st["Principal"]
    }
    assert principals["AutoScalingVolumes"] == principals["AutoScalingGrants"] == role_arn
    assert bodies(churn, "aws_autoscaling_group")["fleet_group"]["service_linked_role_arn"] == role_arn
    assert "AWSServiceRoleForAutoScaling" not in bodies(churn, "aws_kms_key")["key"]["policy"]
    # fraud (EKS) uses no Auto Scaling role of its own: none created, none named
    assert bodies(fraud, "aws_iam_service_linked_role") == {}
    assert "AutoScaling" not in bodies(fraud, "aws_kms_key")["key"]["policy"]


def test_given_the_ec2_tenant_when_synthesized_then_its_instances_serve_behind_an_internal_balancer(
    example_stacks,
):
    # given
    doc = example_stacks["churn"].doc

    # then
    assert len(bodies(doc, "aws_lb")) == len(bodies(doc, "aws_lb_target_group")) == 1
    assert bodies(doc, "aws_lb")["fleet_balancer"]["internal"] is True
    assert example_stacks["churn"].doc["output"]["serving_endpoint_url"]["value"] == (
        "http://${aws_lb.fleet_balancer.dns_name}"
    )
    boundary = policy(bodies(doc, "aws_iam_policy")["boundary"])
    assert "ssmmessages:OpenDataChannel" in as_list(
        next(st for st in boundary["Statement"] if st["Sid"] == "SessionManager")["Action"]
    )
    fraud_boundary = policy(bodies(example_stacks["fraud"].doc, "aws_iam_policy")["boundary"])
    assert "SessionManager" not in {st["Sid"] for st in fraud_boundary["Statement"]}


# --- valid Terraform ------------------------------------------------------------------------------


def test_given_an_example_tenant_when_checked_against_the_provider_schema_then_there_are_no_problems(tenant):
    # when
    problems = check_stack(tenant.doc)

    # then
    assert [str(p) for p in problems] == []


def test_given_an_example_tenant_when_synthesized_then_every_reference_points_at_something_in_the_document(
    tenant,
):
    # given
    defined = addresses(tenant.doc)

    # when
    referenced = referenced_addresses(tenant.doc)
    depends_on = {
        d
        for named in tenant.doc["resource"].values()
        for body in named.values()
        for d in body.get("depends_on", [])
    }

    # then
    assert referenced, "a tenant stack is wired together by references"
    assert sorted(referenced - defined) == []
    assert sorted(depends_on - defined) == []


def test_given_an_example_tenant_when_synthesized_then_references_are_plain_attribute_reads(tenant):
    # given: ``${aws_x.name.attr}``, ``${data.aws_x.name.attr}`` or an indexed read such as
    # identity[0].oidc or a list element such as names[1]
    shape = r"(data\.)?(aws|kubernetes)_[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+(\[\d+\](\.[a-z0-9_]+)?)*"

    # when: the emulator never reads provider configurations, where the Kubernetes provider
    # must base64-decode the cluster's CA bundle
    body = {k: v for k, v in tenant.doc.items() if k != "provider"}
    expressions = {e for s in strings(body) for e in REFERENCE.findall(s)}
    in_providers = {e for s in strings(tenant.doc.get("provider", {})) for e in REFERENCE.findall(s)}

    # then
    assert sorted(e for e in expressions if not re.fullmatch(shape, e)) == []
    assert sorted(e for e in in_providers if not re.fullmatch(rf"(base64decode\({shape}\)|{shape})", e)) == []


def test_given_an_example_tenant_when_synthesized_then_each_lambda_zip_exists_and_holds_its_handler(tenant):
    # given
    functions = bodies(tenant.doc, "aws_lambda_function")

    # then
    for body in functions.values():
        package = body["handler"].split(".")[1]
        archive_path = tenant.directory / body["filename"]
        assert archive_path.is_file(), body["filename"]
        assert archive_path.name == f"{package}.zip"
        with zipfile.ZipFile(archive_path) as archive:
            assert f"lambdas/{package}/handler.py" in archive.namelist()
    with_views = bool(bodies(tenant.doc, "aws_dynamodb_table"))
    assert {b["handler"] for b in functions.values()} == {
        "lambdas.data_arrival.handler.handler",
        "lambdas.monitor.handler.handler",
        "lambdas.alarm.handler.handler",
        *(["lambdas.features.handler.handler"] if with_views else []),
    }


def test_given_an_example_tenant_when_synthesized_then_outputs_name_everything_pipelines_need(tenant):
    # given
    outputs = {name: body["value"] for name, body in tenant.doc["output"].items()}

    # then
    assert outputs["data_bucket_name"] == "${aws_s3_bucket.storage_data.id}"
    assert outputs["artifacts_bucket_name"] == "${aws_s3_bucket.storage_artifacts.id}"
    assert outputs["models_bucket_name"] == "${aws_s3_bucket.storage_models.id}"
    assert outputs["stream_name"] == "${aws_kinesis_stream.stream.name}"
    assert outputs["stream_arn"] == "${aws_kinesis_stream.stream.arn}"
    assert outputs["alerts_topic_arn"] == "${aws_sns_topic.alerts.arn}"
    for role in ("training", "serving", "pipelines"):
        assert outputs[f"{role}_role_arn"] == f"${{aws_iam_role.roles_{role}.arn}}"
    with_views = bool(bodies(tenant.doc, "aws_dynamodb_table"))
    handlers = ("data_arrival", "monitor", "alarm", *(["features"] if with_views else []))
    function_names = {outputs[f"{fn}_function_name"] for fn in handlers}
    assert function_names == {
        f"${{aws_lambda_function.{name}.function_name}}" for name in bodies(tenant.doc, "aws_lambda_function")
    }


def test_given_an_example_tenant_when_synthesized_then_state_and_default_tags_are_the_tenants(tenant):
    # given
    doc = tenant.doc

    # then
    assert doc["terraform"]["backend"]["s3"]["key"] == f"tenants/{tenant.tenant}/terraform.tfstate"
    (provider,) = doc["provider"]["aws"]
    tags = provider["default_tags"][0]["tags"]
    assert tags["tenantml:tenant"] == tenant.tenant
    assert tags["tenantml:managed-by"] == "tenantml"


def test_given_the_fraud_spec_when_synthesized_then_its_settings_reach_the_resources(example_stacks):
    # given
    doc = example_stacks["fraud"].doc

    # then
    (stream,) = bodies(doc, "aws_kinesis_stream").values()
    assert (
        stream["stream_mode_details"] == [{"stream_mode": "ON_DEMAND"}] and stream["retention_period"] == 168
    )
    assert {f["reserved_concurrent_executions"] for f in bodies(doc, "aws_lambda_function").values()} == {20}
    lambda_logs = [
        g for g in bodies(doc, "aws_cloudwatch_log_group").values() if g["name"].startswith("/aws/lambda/")
    ]
    assert {g["retention_in_days"] for g in lambda_logs} == {90}
    (provider,) = doc["provider"]["aws"]
    assert provider["allowed_account_ids"] == ["111122223333"]
    assert len(bodies(doc, "aws_sns_topic_subscription")) == 3  # two e-mail addresses and the alarm handler


def _bundled_sources_fingerprint() -> list[tuple[str, int, int]]:
    """Path, size and mtime of every file a lambda zip may hold (the handlers and the shared packages)."""
    roots = [REPO_ROOT / "lambdas", REPO_ROOT / "pipelines", REPO_ROOT / "core"]
    return sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_given_both_examples_when_synthesized_twice_then_every_stack_file_is_byte_identical(
    example_specs, tmp_path
):
    # given: the working tree is shared, and a source edited between the two synths rightly changes the
    # zip hashes; such an attempt is repeated rather than counted
    for attempt in range(3):
        before = _bundled_sources_fingerprint()

        # when
        first = synthesize_specs(example_specs, tmp_path / f"first{attempt}")
        second = synthesize_specs(example_specs, tmp_path / f"second{attempt}")
        if _bundled_sources_fingerprint() == before:
            break
    else:
        pytest.fail("the lambda sources changed during every attempt; determinism could not be checked")

    # then
    assert sorted(first) == sorted(second) == sorted([*TENANTS, "fraud-kubernetes"])
    assert second["fraud-kubernetes"].text == first["fraud-kubernetes"].text
    for name in TENANTS:
        assert second[name].text == first[name].text, name
        first_zips = sorted(
            p.relative_to(first[name].directory) for p in first[name].directory.rglob("*.zip")
        )
        second_zips = sorted(
            p.relative_to(second[name].directory) for p in second[name].directory.rglob("*.zip")
        )
        # each function's code and the one layer of third-party libraries they share
        assert len(first_zips) == len(bodies(first[name].doc, "aws_lambda_function")) + 1
        assert first_zips == second_zips
        for relative in first_zips:
            assert (first[name].directory / relative).read_bytes() == (
                second[name].directory / relative
            ).read_bytes()


# --- IAM over everything synthesized --------------------------------------------------------------


def test_given_an_example_tenant_when_synthesized_then_no_allow_statement_has_a_wildcard_action(tenant):
    # given: the key policy's AccountAdmin is AWS's default key policy; a Deny may be broad (TLS-only)
    found = []
    for kind, address, document in policies(tenant.doc):
        for st in document["Statement"]:
            if (kind == "key" and st.get("Sid") == "AccountAdmin") or st["Effect"] == "Deny":
                continue
            found += [(address, st.get("Sid"), a) for a in as_list(st["Action"]) if "*" in a]

    # then
    assert found == []


def test_given_an_example_tenant_when_synthesized_then_no_data_action_is_granted_on_every_resource(tenant):
    # given: in a key policy "*" means the key itself, so only identity and bucket policies count
    found = []
    for kind, address, document in policies(tenant.doc):
        if kind not in ("identity", "bucket"):
            continue
        for st in document["Statement"]:
            if st["Effect"] == "Allow" and "*" in as_list(st["Resource"]):
                found += [(address, st.get("Sid"), a) for a in as_list(st["Action"]) if a in DATA_ACTIONS]

    # then
    assert found == []


def test_given_an_example_tenant_when_synthesized_then_every_role_has_a_permission_boundary(tenant):
    # given
    roles = bodies(tenant.doc, "aws_iam_role")

    # when
    boundaries = {name: body.get("permissions_boundary") for name, body in roles.items()}

    # then: the EKS control plane is capped by its one AWS managed policy, the nodes by their own
    # boundary (the node policies plus the tenant's repository), every other role by the tenant's
    own = {
        "cluster_cluster_role": "arn:${data.aws_partition.account_partition.partition}:iam::aws:policy/AmazonEKSClusterPolicy",
        "cluster_node_role": "${aws_iam_policy.cluster_node_boundary.arn}",
    }
    expected = {
        name: own.get(name, "${aws_iam_policy.boundary.arn}")
        if tenant.tenant == "fraud"
        else "${aws_iam_policy.boundary.arn}"
        for name in roles
    }
    assert boundaries == expected


def test_given_an_example_tenant_when_synthesized_then_every_action_a_bounded_role_holds_is_allowed_by_the_boundary(
    tenant,
):
    # given: each role's boundary, where it is a policy of this stack
    policies = {
        f"${{aws_iam_policy.{name}.arn}}": {
            a for st in policy(body)["Statement"] if st["Effect"] == "Allow" for a in as_list(st["Action"])
        }
        for name, body in bodies(tenant.doc, "aws_iam_policy").items()
    }
    allowed_for = {
        name: policies[body["permissions_boundary"]]
        for name, body in bodies(tenant.doc, "aws_iam_role").items()
        if body.get("permissions_boundary") in policies
    }

    # when
    granted = {
        (body["role"], a)
        for body in bodies(tenant.doc, "aws_iam_role_policy").values()
        if body["role"].split(".")[1] in allowed_for
        for st in policy(body)["Statement"]
        for a in as_list(st["Action"])
    }

    # then: a grant outside the boundary is silently ineffective on AWS
    assert sorted((role, a) for role, a in granted if a not in allowed_for[role.split(".")[1]]) == []
    if tenant.tenant == "fraud":
        assert "cluster_node_role" in allowed_for


def test_given_an_example_tenant_when_synthesized_then_lambda_roles_may_use_the_dead_letter_queue_of_their_function(
    tenant,
):
    # given
    functions = bodies(tenant.doc, "aws_lambda_function")

    # then
    for name, fn in functions.items():
        role = fn["role"].split(".")[1]
        granted = [
            st
            for body in bodies(tenant.doc, "aws_iam_role_policy").values()
            if body["role"] == f"${{aws_iam_role.{role}.id}}"
            for st in policy(body)["Statement"]
        ]
        (config,) = [
            c
            for c in bodies(tenant.doc, "aws_lambda_function_event_invoke_config").values()
            if c["function_name"] == f"${{aws_lambda_function.{name}.function_name}}"
        ]
        dlq = config["destination_config"][0]["on_failure"][0]["destination"]
        assert any("sqs:SendMessage" in st["Action"] and dlq in st["Resource"] for st in granted), name


# --- every valid spec synthesizes ----------------------------------------------------------------


def _spec_with(**changes):
    document = yaml.safe_load((EXAMPLE_TENANTS / "churn.yaml").read_text(encoding="utf-8"))
    merged = copy.deepcopy(document)
    for dotted, value in changes.items():
        target = merged
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return parse_spec(Path("generated.yaml"), yaml.safe_dump(merged))


def test_given_a_spec_with_a_long_tenant_name_when_synthesized_then_every_physical_name_fits(tmp_path):
    # given: the longest tenant name and environment the spec allows
    spec = _spec_with(name="a" * 20, environment="staging", account_id="123456789012")

    # when
    stacks = synthesize_specs([spec], tmp_path)

    # then
    assert list(stacks) == ["a" * 20]
    bucket_names = [b["bucket"] for b in bodies(stacks["a" * 20].doc, "aws_s3_bucket").values()]
    assert max(len(n) for n in bucket_names) <= 63


def test_given_a_valid_spec_with_the_longest_names_when_synthesized_then_it_synthesizes(tmp_path):
    # given
    spec = _spec_with(**{"name": "a" * 20, "environment": "staging", "model.name": "m" * 25})

    # when
    stacks = synthesize_specs([spec], tmp_path)

    # then
    (group,) = bodies(stacks["a" * 20].doc, "aws_sagemaker_model_package_group").values()
    assert len(group["model_package_group_name"]) <= 63


def test_given_a_stack_that_fails_while_building_when_synthesized_into_a_new_directory_then_nothing_is_written(
    tmp_path,
):
    # given: a name the spec would refuse (model_copy skips validation), so a construct refuses it mid-synth
    spec = _spec_with(name="churn").model_copy(update={"name": "a" * 60})
    out = tmp_path / "cdktf.out"

    # when
    with pytest.raises(ConstructPropsError) as caught:
        synth_tenants([spec], out)

    # then
    assert "AWS allows" in str(caught.value)
    assert not out.exists()


def test_given_the_example_directory_when_loaded_then_it_holds_exactly_the_examples():
    # when / then: guards the parametrization above against a silently missing example
    assert [s.name for s in load_specs(EXAMPLE_TENANTS)] == TENANTS
