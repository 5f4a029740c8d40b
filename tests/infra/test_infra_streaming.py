"""InferenceStream: the KMS-encrypted Kinesis stream that carries inference logs."""

from __future__ import annotations

import pytest
from infra_support import only, role_policy, statement, synth

from core.errors import ConstructPropsError
from infra import actions, cdk
from infra.streaming import InferenceStream, InferenceStreamProps


def test_given_a_provisioned_stream_when_synthesized_then_it_is_kms_encrypted_with_the_tenant_key(
    stack, naming, key
):
    # given
    stream = InferenceStream(
        stack, "Stream", InferenceStreamProps(naming=naming, key=key, shards=3, retention_hours=48)
    )

    # when
    text, doc = synth(stack)

    # then
    assert cdk.Testing.to_have_resource_with_properties(
        text,
        "aws_kinesis_stream",
        {
            "name": "tenantml-acme-dev-inference",
            "encryption_type": "KMS",
            "kms_key_id": "${aws_kms_key.key.arn}",
            "shard_count": 3,
            "retention_period": 48,
            "stream_mode_details": [{"stream_mode": "PROVISIONED"}],
        },
    )
    assert "IteratorAgeMilliseconds" in only(doc, "aws_kinesis_stream")["shard_level_metrics"]
    assert stream.stream_arn == "${aws_kinesis_stream.stream.arn}"


def test_given_an_on_demand_stream_when_synthesized_then_no_shard_count_is_written(stack, naming, key):
    # given
    InferenceStream(stack, "Stream", InferenceStreamProps(naming=naming, key=key, mode="on_demand", shards=0))

    # when
    _, doc = synth(stack)

    # then
    body = only(doc, "aws_kinesis_stream")
    assert body["stream_mode_details"] == [{"stream_mode": "ON_DEMAND"}]
    assert "shard_count" not in body
    assert body["encryption_type"] == "KMS"


def test_given_a_role_when_the_stream_grants_read_then_it_may_consume_that_stream_and_decrypt(
    stack, naming, key, role
):
    # given
    stream = InferenceStream(stack, "Stream", InferenceStreamProps(naming=naming, key=key))

    # when
    stream.grant_read(role)
    _, doc = synth(stack)
    granted = role_policy(doc, "worker")

    # then
    read = statement(granted, "ReadInferenceStream")
    assert read["Action"] == sorted(actions.KINESIS_READ)
    assert read["Resource"] == ["${aws_kinesis_stream.stream.arn}"]
    assert "kms:Decrypt" in statement(granted, "TenantKeyDecrypt")["Action"]


def test_given_a_role_when_the_stream_grants_write_then_it_may_put_records_and_generate_data_keys(
    stack, naming, key, role
):
    # given
    stream = InferenceStream(stack, "Stream", InferenceStreamProps(naming=naming, key=key))

    # when
    stream.grant_write(role)
    _, doc = synth(stack)
    granted = role_policy(doc, "worker")

    # then
    write = statement(granted, "WriteInferenceStream")
    assert write["Action"] == sorted(actions.KINESIS_WRITE)
    assert write["Resource"] == ["${aws_kinesis_stream.stream.arn}"]
    assert "kms:GenerateDataKey" in statement(granted, "TenantKeyEncryptDecrypt")["Action"]


# --- props rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mode": "serverless"}, ("mode", "must be provisioned or on_demand", "serverless")),
        ({"retention_hours": 23}, ("retention_hours", "Kinesis keeps records 24 to 8760 hours", 23)),
        ({"retention_hours": 8761}, ("retention_hours", "Kinesis keeps records 24 to 8760 hours", 8761)),
        ({"shards": 0}, ("shards", "a provisioned stream needs 1 to 500 shards", 0)),
        ({"shards": 501}, ("shards", "a provisioned stream needs 1 to 500 shards", 501)),
    ],
    ids=["unknown-mode", "retention-23h", "retention-8761h", "no-shards", "501-shards"],
)
def test_given_a_broken_stream_setting_when_props_are_built_then_the_field_and_value_are_named(
    naming, key, fields, expected
):
    # when
    with pytest.raises(ConstructPropsError) as caught:
        InferenceStreamProps(naming=naming, key=key, **fields)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [expected]
    assert f"{expected[0]}: {expected[1]} (got {expected[2]!r})" in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"retention_hours": 24},
        {"retention_hours": 8760},
        {"shards": 1},
        {"shards": 500},
        {"mode": "on_demand", "shards": 0},
    ],
    ids=["retention-24h", "retention-8760h", "1-shard", "500-shards", "on-demand-ignores-shards"],
)
def test_given_stream_settings_within_limits_when_props_are_built_then_they_are_kept(naming, key, fields):
    # when
    props = InferenceStreamProps(naming=naming, key=key, **fields)

    # then
    assert {name: getattr(props, name) for name in fields} == fields
