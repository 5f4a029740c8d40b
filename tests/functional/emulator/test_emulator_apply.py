"""Apply, re-apply, change, destroy and resume a small realistic stack against moto."""

from __future__ import annotations

import copy
import json

import pytest

from core.errors import EmulatorInjectedFailureError, EmulatorPlanError, EmulatorStateError
from core.terraform.diff import Action
from tenantml.emulator import server
from tenantml.emulator.apply import apply, destroy
from tenantml.emulator.state import load_state

BUCKET = "tenantml-demo-dev-data"
STREAM = "tenantml-demo-dev-events"
ROLE = "tenantml-demo-dev-pipeline"


def _everything_left(aws: server.AwsSession) -> dict[str, list[str]]:
    """What a destroyed stack must not leave behind."""
    sqs = aws.client("sqs")
    return {
        "buckets": [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]],
        "streams": aws.client("kinesis").list_streams()["StreamNames"],
        "topics": [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]],
        "roles": [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]],
        "queues": sqs.list_queues().get("QueueUrls", []),
        "aliases": [
            a["AliasName"]
            for a in aws.client("kms").list_aliases()["Aliases"]
            if "tenantml" in a["AliasName"]
        ],
        "enabled_keys": [
            k["KeyId"]
            for k in aws.client("kms").list_keys()["Keys"]
            if aws.client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
            != "PendingDeletion"
        ],
    }


NOTHING = {
    "buckets": [],
    "streams": [],
    "topics": [],
    "roles": [],
    "queues": [],
    "aliases": [],
    "enabled_keys": [],
}


def test_given_a_small_stack_when_applied_then_every_resource_exists_with_its_settings(
    aws, small_stack, tmp_path
):
    result = apply(small_stack, tmp_path / "demo.json", aws)

    s3, kms = aws.client("s3"), aws.client("kms")
    key_arn = (
        result.outputs and load_state(tmp_path / "demo.json").get("aws_kms_key.keys_data").attributes["arn"]
    )
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]} == {
        "component": "data",
        "tenantml:tenant": "demo",  # the provider's default_tags are merged in
    }
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    assert kms.list_aliases(KeyId=key_arn)["Aliases"][0]["AliasName"] == "alias/tenantml-demo-dev-data"
    stream = aws.client("kinesis").describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
    assert (stream["EncryptionType"], stream["KeyId"], stream["OpenShardCount"]) == ("KMS", key_arn, 1)
    topic = aws.client("sns").get_topic_attributes(TopicArn=result.outputs["alerting_topic_arn"])[
        "Attributes"
    ]
    assert (
        topic["KmsMasterKeyId"]
        == load_state(tmp_path / "demo.json").get("aws_kms_key.keys_data").attributes["key_id"]
    )
    queue = aws.client("sqs").get_queue_attributes(
        QueueUrl=result.outputs["triggers_dlq_url"], AttributeNames=["All"]
    )
    assert queue["Attributes"]["MessageRetentionPeriod"] == "1209600"
    policy = aws.client("iam").get_role_policy(RoleName=ROLE, PolicyName="access")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert policy["Statement"][1]["Resource"] == result.outputs["streaming_stream_arn"]
    assert result.outputs["identity_role_arn"] == f"arn:aws:iam::123456789012:role/{ROLE}"
    assert len(result.applied) == 11 and {c.action for c in result.applied} == {Action.CREATE}


def test_given_an_applied_stack_when_applied_again_then_nothing_is_done_or_written(
    aws, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    first = apply(small_stack, state_file, aws)
    before = state_file.read_bytes()

    again = apply(small_stack, state_file, aws)

    assert again.applied == ()
    assert not again.plan.has_changes
    assert again.outputs == first.outputs
    assert state_file.read_bytes() == before


def test_given_a_small_stack_when_applied_then_the_state_file_is_written_once_per_resource_and_ends_complete(
    aws, small_stack, tmp_path
):
    # given: a stack of 11 resources and no state
    state_file = tmp_path / "demo.json"

    # when: applied
    result = apply(small_stack, state_file, aws)

    # then: each result went out with the next resource's intent (11 intents, then the outputs),
    # not in a write of its own, and the file ends with every resource and no intent left
    state = load_state(state_file)
    assert len(result.applied) == len(state.entries) == 11
    assert state.serial == 12
    assert state.intents == {}


def test_given_a_failure_after_some_creates_when_applied_then_the_file_lists_each_created_resource_without_intents(
    aws, small_stack, tmp_path
):
    # given: an apply that fails right before its fourth resource in dependency order
    state_file = tmp_path / "demo.json"
    fourth = apply(small_stack, tmp_path / "probe.json", aws).applied[3].address
    server.reset(aws.endpoint)

    # when: applied with the failure injected there
    with pytest.raises(EmulatorInjectedFailureError):
        apply(small_stack, state_file, aws, fail_at=fourth)

    # then: the three created before it are in the file as results, none as a pending intent
    state = load_state(state_file)
    assert len(state.entries) == 3 and fourth not in state
    assert state.intents == {}


def test_given_an_updatable_attribute_changed_when_applied_then_exactly_that_resource_updates(
    aws, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    apply(small_stack, state_file, aws)
    before = load_state(state_file)
    changed = copy.deepcopy(small_stack)
    changed["resource"]["aws_kinesis_stream"]["streaming_events"]["retention_period"] = 48

    result = apply(changed, state_file, aws)

    assert [(c.address, c.action) for c in result.applied] == [
        ("aws_kinesis_stream.streaming_events", Action.UPDATE)
    ]
    summary = aws.client("kinesis").describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 48
    after = load_state(state_file)
    assert {a: e for a, e in after.entries.items() if e != before.entries[a]}.keys() == {
        "aws_kinesis_stream.streaming_events"
    }
    assert (
        after.get("aws_kinesis_stream.streaming_events").attributes["arn"]
        == before.get("aws_kinesis_stream.streaming_events").attributes["arn"]
    )


def test_given_a_force_new_attribute_changed_when_applied_then_it_and_its_dependents_are_replaced(
    aws, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    apply(small_stack, state_file, aws)
    aws.client("s3").put_object(Bucket=BUCKET, Key="raw/a.csv", Body=b"x,y\n1,2\n")
    renamed = copy.deepcopy(small_stack)
    renamed["resource"]["aws_s3_bucket"]["storage_data"]["bucket"] = "tenantml-demo-dev-data-v2"

    result = apply(renamed, state_file, aws)

    actions = {c.address: c.action for c in result.applied}
    assert actions == {
        "aws_s3_bucket.storage_data": Action.REPLACE,
        "aws_s3_bucket_versioning.storage_data_versioning": Action.REPLACE,
        "aws_s3_bucket_server_side_encryption_configuration.storage_data_encryption": Action.REPLACE,
        "aws_s3_bucket_public_access_block.storage_data_public_access": Action.REPLACE,
        "aws_iam_role_policy.identity_pipeline_access": Action.UPDATE,
    }
    s3 = aws.client("s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["tenantml-demo-dev-data-v2"]
    assert s3.get_bucket_versioning(Bucket="tenantml-demo-dev-data-v2")["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket="tenantml-demo-dev-data-v2")["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    policy = aws.client("iam").get_role_policy(RoleName=ROLE, PolicyName="access")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"][0] == "arn:aws:s3:::tenantml-demo-dev-data-v2"
    assert result.outputs["storage_bucket_name"] == "tenantml-demo-dev-data-v2"
    assert apply(renamed, state_file, aws).applied == ()


def test_given_an_applied_stack_with_versioned_objects_when_destroyed_then_nothing_is_left(
    aws, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    apply(small_stack, state_file, aws)
    s3 = aws.client("s3")
    for body in (b"v1", b"v2", b"v3"):
        s3.put_object(Bucket=BUCKET, Key="models/model.pkl", Body=body)
    s3.delete_object(Bucket=BUCKET, Key="models/model.pkl")  # leaves a delete marker on top

    result = destroy(state_file, aws)

    assert len(result.deleted) == 11
    assert result.deleted[-1] in ("aws_kms_key.keys_data", "aws_iam_role.identity_pipeline")
    assert _everything_left(aws) == NOTHING
    assert load_state(state_file).entries == {}


def test_given_a_failure_injected_mid_apply_when_re_applied_then_it_resumes_and_destroy_cleans_up(
    aws, small_stack, tmp_path, monkeypatch
):
    state_file = tmp_path / "demo.json"
    failing = "aws_s3_bucket_server_side_encryption_configuration.storage_data_encryption"
    monkeypatch.setenv("TENANTML_EMULATOR_FAIL_AT", failing)

    with pytest.raises(EmulatorInjectedFailureError) as err:
        apply(small_stack, state_file, aws)

    assert err.value.address == failing
    assert str(err.value).startswith(f"{failing}: injected failure before create (TENANTML_EMULATOR_FAIL_AT)")
    # the state lists exactly what exists: everything ordered before the failure, nothing after
    created = set(load_state(state_file).entries)
    assert created == {
        "aws_iam_role.identity_pipeline",
        "aws_kms_key.keys_data",
        "aws_s3_bucket.storage_data",
        "aws_sqs_queue.triggers_dead_letter",
        "aws_kinesis_stream.streaming_events",
        "aws_kms_alias.keys_data_alias",
    }
    left = _everything_left(aws)
    assert (left["buckets"], left["streams"], left["roles"], len(left["queues"]), left["topics"]) == (
        [BUCKET],
        [STREAM],
        [ROLE],
        1,
        [],
    )
    assert aws.client("iam").list_role_policies(RoleName=ROLE)["PolicyNames"] == []

    monkeypatch.delenv("TENANTML_EMULATOR_FAIL_AT")
    resumed = apply(small_stack, state_file, aws)

    assert {c.address for c in resumed.applied} == {
        failing,
        "aws_s3_bucket_versioning.storage_data_versioning",
        "aws_sns_topic.alerting_alarms",
        "aws_iam_role_policy.identity_pipeline_access",
        "aws_s3_bucket_public_access_block.storage_data_public_access",
    }
    assert len(load_state(state_file).entries) == 11

    with pytest.raises(EmulatorInjectedFailureError):
        destroy(state_file, aws, fail_at="aws_kms_alias.keys_data_alias")
    destroy(state_file, aws)

    assert _everything_left(aws) == NOTHING


def test_given_a_document_with_problems_when_applied_then_nothing_is_created(aws, small_stack, tmp_path):
    broken = copy.deepcopy(small_stack)
    broken["resource"]["aws_sns_topic"]["alerting_alarms"]["kms_master_key_id"] = "${aws_kms_key.missing.id}"
    broken["resource"]["aws_athena_workgroup"] = {"lake": {"name": "lake"}}

    with pytest.raises(EmulatorPlanError) as err:
        apply(broken, tmp_path / "demo.json", aws)

    assert [str(p) for p in err.value.problems] == [
        ("aws_athena_workgroup.lake: resource type 'aws_athena_workgroup' is not supported by the emulator"),
        (
            "aws_sns_topic.alerting_alarms: kms_master_key_id: refers to aws_kms_key.missing, which is not in"
            " the document (got '${aws_kms_key.missing.id}')"
        ),
    ]
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert not (tmp_path / "demo.json").exists()


def test_given_a_corrupt_state_file_when_applied_then_nothing_is_created_and_the_file_is_named(
    aws, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    state_file.write_text('{"format": "tenantml-emulator-state", "version": 1, "resources": {')

    with pytest.raises(EmulatorStateError) as err:
        apply(small_stack, state_file, aws)

    assert str(err.value).startswith(f"emulator state file {state_file} is not valid JSON")
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_given_the_emulator_was_reset_when_applied_then_the_stale_state_is_set_aside_and_all_is_created(
    aws, emulator, small_stack, tmp_path
):
    state_file = tmp_path / "demo.json"
    apply(small_stack, state_file, aws)
    server.reset(emulator.endpoint)

    result = apply(small_stack, state_file, aws)

    assert len(result.applied) == 11
    assert result.notes and "restarted or reset" in result.notes[0]
    assert (tmp_path / "demo.stale.json").exists()
    assert aws.client("s3").get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_given_a_removed_resource_when_applied_then_it_is_deleted(aws, small_stack, tmp_path):
    state_file = tmp_path / "demo.json"
    apply(small_stack, state_file, aws)
    smaller = copy.deepcopy(small_stack)
    del smaller["resource"]["aws_sns_topic"]
    del smaller["output"]["alerting_topic_arn"]

    result = apply(smaller, state_file, aws)

    assert [(c.address, c.action) for c in result.applied] == [
        ("aws_sns_topic.alerting_alarms", Action.DELETE)
    ]
    assert aws.client("sns").list_topics()["Topics"] == []
    assert "alerting_topic_arn" not in json.loads(state_file.read_text())["outputs"]
