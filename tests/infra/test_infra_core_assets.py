"""The construct building blocks (addresses, references, pruning) and the deterministic lambda zips."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from infra_support import bodies, synth

from core.errors import ConstructPropsError
from infra.assets import PROJECT_ROOT, build_lambda_bundle
from infra.core import (
    PRIMARY_ID,
    DataSource,
    Resource,
    TenantConstruct,
    TenantStack,
    is_token,
    make_unique_id,
    ref,
    snake,
    synth_app,
)


@pytest.mark.parametrize(
    ("construct_id", "expected"),
    [
        ("DataBucket", "data_bucket"),
        ("Data", "data"),
        ("PublicAccessBlock", "public_access_block"),
        ("Private0", "private0"),
        ("AlarmLatencyP99", "alarm_latency_p99"),
        ("already_snake", "already_snake"),
        ("with-dash", "with_dash"),
        ("KMSKey", "kms_key"),
    ],
)
def test_given_a_construct_id_when_snake_cased_then_it_becomes_an_address_part(construct_id, expected):
    # when / then
    assert snake(construct_id) == expected


def test_given_nested_constructs_when_synthesized_then_addresses_join_their_ids_and_this_names_the_primary(
    stack,
):
    # given
    outer = TenantConstruct(stack, "Storage")
    inner = TenantConstruct(outer, "Data")
    primary = Resource(inner, PRIMARY_ID, "aws_s3_bucket", {"bucket": "b"})
    secondary = Resource(inner, "Versioning", "aws_s3_bucket_versioning", {"bucket": primary.id_ref})

    # when
    _, doc = synth(stack)

    # then
    assert primary.address == "aws_s3_bucket.storage_data"
    assert secondary.address == "aws_s3_bucket_versioning.storage_data_versioning"
    assert bodies(doc, "aws_s3_bucket_versioning") == {
        "storage_data_versioning": {"bucket": "${aws_s3_bucket.storage_data.id}"}
    }
    assert primary.arn_ref == "${aws_s3_bucket.storage_data.arn}"


def test_given_two_resources_with_one_address_when_the_second_is_built_then_the_address_is_named(stack):
    # given: two sibling ids that snake-case to the same address prefix
    Resource(TenantConstruct(stack, "Data"), PRIMARY_ID, "aws_s3_bucket", {"bucket": "a"})
    twin = TenantConstruct(stack, "data")

    # when
    with pytest.raises(ConstructPropsError) as caught:
        Resource(twin, PRIMARY_ID, "aws_s3_bucket", {"bucket": "b"})

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("aws_s3_bucket.data", "two resources would share this Terraform address; rename a construct id")
    ]


def test_given_two_constructs_with_one_id_in_one_scope_when_the_second_is_built_then_its_path_is_named(stack):
    # given: resources and the constructs holding them are plain Python, so the id check is ours
    outer = TenantConstruct(stack, "Storage")
    Resource(outer, "Bucket", "aws_s3_bucket", {"bucket": "a"})

    # when
    with pytest.raises(ConstructPropsError) as caught:
        Resource(outer, "Bucket", "aws_s3_bucket_policy", {"bucket": "a"})

    # then: the second one is refused before it registers anything
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("test/Storage/Bucket", "two constructs in one scope share this id")
    ]
    assert list(stack.to_terraform()["resource"]) == ["aws_s3_bucket"]


def test_given_resources_data_and_outputs_when_the_document_is_built_then_each_has_the_cdktf_metadata(stack):
    # given
    holder = TenantConstruct(stack, "Storage")
    bucket = Resource(holder, PRIMARY_ID, "aws_s3_bucket", {"bucket": "a"})
    DataSource(holder, "Caller", "aws_caller_identity")
    stack.add_output("bucket_arn", bucket.arn_ref)

    # when: the document as the app writes it (Testing.synth strips the "//" metadata)
    doc = stack.to_terraform()

    # then: what cdktf wrote for the same elements when they were jsii constructs
    assert doc["resource"]["aws_s3_bucket"]["storage"] == {
        "//": {"metadata": {"path": "test/Storage/this", "uniqueId": "storage"}},
        "bucket": "a",
    }
    assert doc["data"]["aws_caller_identity"]["storage_caller"] == {
        "//": {"metadata": {"path": "test/Storage/Caller", "uniqueId": "storage_caller"}}
    }
    assert doc["output"] == {"bucket_arn": {"value": "${aws_s3_bucket.storage.arn}"}}
    assert doc["//"]["outputs"] == {"test": {"bucket_arn": "bucket_arn"}}


@pytest.mark.parametrize(
    "path",
    [
        ("Functions", "Alarm", "Code"),
        ("Functions", "Layers", "DepsCode"),
        ("Fn", "FnCode", "Resource"),
    ],
    ids=["nested", "layer", "dupes-and-hidden"],
)
def test_given_a_file_asset_when_synthesized_then_its_path_and_file_are_what_a_terraform_asset_gives(
    tmp_path, path
):
    # given: the same file as a cdktf TerraformAsset in a tree of CDK constructs, and as ours
    from constructs import Construct

    from infra.cdk import App, AssetType, TerraformAsset, TerraformStack

    source = tmp_path / "code.zip"
    source.write_bytes(b"zip bytes")
    theirs_app = App(outdir=str(tmp_path / "theirs"))
    scope: Construct = TerraformStack(theirs_app, "test")
    for construct_id in path[:-1]:
        scope = Construct(scope, construct_id)
    theirs = TerraformAsset(scope, path[-1], path=str(source), type=AssetType.FILE, asset_hash="abc123")
    ours_app = App(outdir=str(tmp_path / "ours"))
    holder: TenantStack | TenantConstruct = TenantStack(ours_app, "test")
    for construct_id in path[:-1]:
        holder = TenantConstruct(holder, construct_id)

    # when
    ours = holder.add_file_asset(path[-1], source, "abc123")
    theirs_app.synth()
    synth_app(ours_app, tmp_path / "ours")

    # then: the path cdktf computes, and the file at it in the stack's directory
    assert ours == theirs.path
    assert (tmp_path / "ours" / "stacks" / "test" / ours).read_bytes() == b"zip bytes"
    assert (tmp_path / "theirs" / "stacks" / "test" / theirs.path).read_bytes() == b"zip bytes"


@pytest.mark.parametrize(
    ("components", "expected"),
    [(["Code"], "Code"), (["a-b.c"], "a-bc"), (["Default", "X", "Y"], "X_Y_CF5449F4")],
)
def test_given_path_components_when_made_unique_then_it_is_cdktfs_id(components, expected):
    # when / then: single components as they are (minus disallowed characters); "Default" is hidden
    assert make_unique_id(components) == expected


def test_given_unset_optional_arguments_when_synthesized_then_they_are_left_out(stack):
    # given
    holder = TenantConstruct(stack, "Queue")
    Resource(
        holder,
        PRIMARY_ID,
        "aws_sqs_queue",
        {"name": "q", "kms_master_key_id": None, "tags": {"a": "1", "b": None}, "list": ["x", None]},
    )

    # when
    _, doc = synth(stack)

    # then
    assert bodies(doc, "aws_sqs_queue") == {"queue": {"name": "q", "tags": {"a": "1"}, "list": ["x"]}}


def test_given_attributes_given_as_a_callable_when_synthesized_then_they_are_read_at_synth_time(stack):
    # given
    state = {"name": "before"}
    holder = TenantConstruct(stack, "Queue")
    Resource(holder, PRIMARY_ID, "aws_sqs_queue", lambda: dict(state))

    # when
    state["name"] = "after"
    _, doc = synth(stack)

    # then
    assert bodies(doc, "aws_sqs_queue")["queue"]["name"] == "after"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("${aws_s3_bucket.a.id}", True), ("prefix-${var.x}", True), ("plain", False), (5, False), (None, False)],
)
def test_given_a_value_when_checked_for_a_token_then_only_interpolations_count(value, expected):
    # when / then
    assert is_token(value) is expected


def test_given_an_address_when_referenced_then_it_is_a_terraform_interpolation():
    # when / then
    assert ref("aws_kms_key.key", "arn") == "${aws_kms_key.key.arn}"


# --- lambda bundles -----------------------------------------------------------------------------


def test_given_a_handler_when_bundled_then_the_zip_holds_the_handler_and_the_shared_packages(tmp_path):
    # when
    bundle = build_lambda_bundle("monitor", tmp_path)

    # then
    assert bundle.path == tmp_path / "monitor.zip"
    with zipfile.ZipFile(bundle.path) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert "lambdas/monitor/handler.py" in names
    assert "lambdas/__init__.py" in names
    assert "pipelines/monitoring/job_request.py" in names and "core/errors.py" in names
    # only what the handler imports: not the model server, the CLI, the emulator or infra
    assert not any(n.startswith(("pipelines/serving/", "tenantml/", "infra/", "stacks/")) for n in names)
    assert not any(n.startswith(("lambdas/alarm/", "lambdas/data_arrival/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_given_the_same_sources_when_bundled_twice_then_the_bytes_and_hashes_are_identical(tmp_path):
    # when
    first = build_lambda_bundle("alarm", tmp_path / "one")
    second = build_lambda_bundle("alarm", tmp_path / "two")

    # then
    assert first.path != second.path
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_hex == second.sha256_hex
    assert first.source_code_hash == second.source_code_hash


def test_given_a_handler_that_does_not_exist_when_bundled_then_the_missing_file_is_named(tmp_path):
    # when
    with pytest.raises(FileNotFoundError) as caught:
        build_lambda_bundle("no_such_handler", tmp_path)

    # then
    assert str(caught.value) == "lambdas/no_such_handler/handler.py does not exist"
    assert list(tmp_path.iterdir()) == []


def test_given_a_suppressed_resource_when_checked_then_the_rule_is_suppressed_with_its_reason(stack):
    # given: a bucket without versioning, accepted on purpose next to the construct
    from infra.core import Resource, TenantConstruct
    from infra.policy import SynthStack, check_stack

    holder = TenantConstruct(stack, "Scratch")
    bucket = Resource(holder, "this", "aws_s3_bucket", {"bucket": "tenantml-acme-dev-scratch"})
    bucket.suppress("TM-S3-002", "scratch space for throwaway exports, versions are not worth keeping")

    # when: the document as the app writes it (Testing.synth strips the "//" metadata that carries the marker)
    doc = stack.to_terraform()
    result = check_stack(SynthStack("acme", doc), [])

    # then
    suppressed = [
        f for f in result.findings if f.rule_id == "TM-S3-002" and f.address == "aws_s3_bucket.scratch"
    ]
    assert suppressed and all(f.suppressed for f in suppressed)
    assert "throwaway exports" in suppressed[0].suppressed_by.reason
    assert suppressed[0].suppressed_by.source != "spec"


def test_given_a_suppression_without_a_reason_when_added_then_it_is_refused(stack):
    from infra.core import Resource, TenantConstruct

    holder = TenantConstruct(stack, "Scratch")
    bucket = Resource(holder, "this", "aws_s3_bucket", {"bucket": "tenantml-acme-dev-scratch"})
    with pytest.raises(ConstructPropsError) as caught:
        bucket.suppress("S3-2", "because")
    assert [p.message for p in caught.value.problems] == [
        "rule id must look like TM-S3-001",
        "a suppression needs a written reason (10+ characters)",
    ]


def test_given_a_handler_when_bundled_then_the_zip_holds_exactly_the_project_modules_it_imports(tmp_path):
    # given: what the monitor handler imports, read by Python itself in a fresh interpreter
    probe = (
        "import sys, lambdas.monitor.handler; print('\\n'.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('core', 'pipelines', 'lambdas'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    ).stdout.split()

    # when
    bundle = build_lambda_bundle("monitor", tmp_path)

    # then: every module the handler loads at import is in the zip (lazy imports may add more)
    with zipfile.ZipFile(bundle.path) as archive:
        names = set(archive.namelist())
    missing = [
        m for m in loaded if not {m.replace(".", "/") + ".py", m.replace(".", "/") + "/__init__.py"} & names
    ]
    assert missing == []
