"""The ``features`` processing job's request: names SageMaker accepts and the functions may start,
settings within SageMaker's limits, and a clear error for what cannot fit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.errors import FeatureDataError, TenantResourcesError
from pipelines.features.job_request import (
    features_job_name,
    is_duplicate_job,
    landed_job_request,
    scheduled_job_request,
)

#: SageMaker's job name pattern
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ENV = {
    "TENANTML_NAME_PREFIX": "tenantml-shop-dev",
    "TENANTML_IMAGE_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-shop-dev-images:1.0.0",
    "TENANTML_TRAINING_ROLE_ARN": "arn:aws:iam::123456789012:role/tenantml-shop-dev-training",
    "TENANTML_TENANT": "shop",
    "TENANTML_DATA_BUCKET": "tenantml-shop-dev-data-123456789012",
    "TENANTML_FEATURES_TABLE": "tenantml-shop-dev-features",
    "TENANTML_FEATURES_DATABASE": "tenantml_shop_dev_features",
}


def test_given_a_landed_file_then_the_job_is_named_after_the_view_and_the_object_version() -> None:
    first = landed_job_request(
        ENV, view="customer_stats", bucket="b", key="features/customer_stats/a.parquet", version="v1"
    )
    again = landed_job_request(
        ENV, view="customer_stats", bucket="b", key="features/customer_stats/a.parquet", version="v1"
    )
    newer = landed_job_request(
        ENV, view="customer_stats", bucket="b", key="features/customer_stats/a.parquet", version="v2"
    )

    name = first["ProcessingJobName"]
    assert JOB_NAME.match(name) and name.startswith("tenantml-shop-dev-features-customer-stats-")
    assert again["ProcessingJobName"] == name  # a redelivered event: SageMaker refuses the name
    assert newer["ProcessingJobName"] != name
    assert first["AppSpecification"]["ContainerArguments"] == ["--view", "customer_stats"]
    assert first["Environment"]["TENANTML_FEATURES_VERSION"] == "v1"


def test_given_a_view_name_too_long_for_the_job_name_then_it_is_shortened_keeping_the_prefix() -> None:
    view = "a_very_long_feature_view_name_that_goes_on_and_on_for_sixty_ch"
    name = landed_job_request(ENV, view=view, bucket="b", key=f"features/{view}/x.csv", version=None)[
        "ProcessingJobName"
    ]
    assert len(name) <= 63 and JOB_NAME.match(name)
    assert name.startswith("tenantml-shop-dev-features-a-very-long")  # the functions' grant still matches


def test_given_a_prefix_with_no_room_for_the_suffix_then_the_prefix_is_hashed() -> None:
    prefix = "tenantml-" + "x" * 50 + "-prod"
    name = features_job_name(prefix, "all", "202612071000")
    assert len(name) <= 63 and JOB_NAME.match(name)
    assert name.endswith("-features-202612071000")


def test_given_ticks_then_each_minute_names_one_job_for_all_views() -> None:
    at = datetime(2026, 12, 7, 10, 15, 42, tzinfo=UTC)
    request = scheduled_job_request(ENV, at)
    assert request["ProcessingJobName"] == "tenantml-shop-dev-features-all-202612071015"
    same_minute = scheduled_job_request(ENV, at.astimezone(timezone(timedelta(hours=2))))
    assert same_minute["ProcessingJobName"] == request["ProcessingJobName"]
    assert request["AppSpecification"]["ContainerArguments"] == ["--all-views"]
    assert request["Environment"] == {
        "TENANTML_TENANT": "shop",
        "TENANTML_DATA_BUCKET": "tenantml-shop-dev-data-123456789012",
        "TENANTML_FEATURES_TABLE": "tenantml-shop-dev-features",
        "TENANTML_FEATURES_DATABASE": "tenantml_shop_dev_features",
        "TENANTML_FEATURES_TRIGGER": "schedule",
    }


def test_given_a_key_longer_than_sagemaker_allows_then_the_error_names_the_setting_and_the_limit() -> None:
    key = "features/customer_stats/" + "k" * 300 + ".parquet"
    with pytest.raises(FeatureDataError) as raised:
        landed_job_request(ENV, view="customer_stats", bucket="b", key=key, version="v1")
    (problem,) = raised.value.problems
    assert problem.location == "Environment.TENANTML_FEATURES_KEY"
    assert "SageMaker allows 256" in problem.message


def test_given_the_function_lacks_its_table_then_the_error_names_the_variable() -> None:
    env = {k: v for k, v in ENV.items() if k != "TENANTML_FEATURES_TABLE"}
    with pytest.raises(TenantResourcesError) as raised:
        scheduled_job_request(env, datetime(2026, 12, 7, tzinfo=UTC))
    assert [p.location for p in raised.value.problems] == ["environment: TENANTML_FEATURES_TABLE"]


def test_only_a_taken_name_is_a_duplicate_start() -> None:
    taken = {"Error": {"Code": "ValidationException", "Message": "a job with this name already exists (x)"}}
    invalid = {"Error": {"Code": "ValidationException", "Message": "1 validation error: Environment"}}
    assert is_duplicate_job(taken)
    assert is_duplicate_job({"Error": {"Code": "ResourceInUse", "Message": "in use"}})
    assert not is_duplicate_job(invalid)
    assert not is_duplicate_job({"Error": {"Code": "AccessDeniedException", "Message": "already exists"}})
