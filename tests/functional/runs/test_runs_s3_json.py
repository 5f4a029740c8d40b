"""Conditional JSON writes to S3: exactly one of two writers wins, against moto's S3."""

from __future__ import annotations

import json

import boto3
import pytest

from pipelines.runs.s3_json import put_json, read_json

BUCKET = "claims"


@pytest.fixture
def s3(aws: None):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_given_no_object_when_two_writers_create_it_then_only_the_first_wins(s3) -> None:
    # when
    first = put_json(s3, BUCKET, "k.json", {"holder": "a"}, if_none_match=True)
    second = put_json(s3, BUCKET, "k.json", {"holder": "b"}, if_none_match=True)

    # then
    body, etag = read_json(s3, BUCKET, "k.json")
    assert first is not None and second is None
    assert json.loads(body) == {"holder": "a"}
    assert etag == first


def test_given_an_object_read_by_two_writers_when_both_replace_it_then_only_the_first_wins(s3) -> None:
    # given
    put_json(s3, BUCKET, "k.json", {"n": 0})
    _, etag = read_json(s3, BUCKET, "k.json")

    # when
    first = put_json(s3, BUCKET, "k.json", {"n": 1}, if_match=etag)
    second = put_json(s3, BUCKET, "k.json", {"n": 2}, if_match=etag)

    # then
    assert first is not None and second is None
    assert json.loads(read_json(s3, BUCKET, "k.json")[0]) == {"n": 1}


def test_given_no_object_when_read_then_nothing_is_returned(s3) -> None:
    assert read_json(s3, BUCKET, "missing.json") == (None, None)
