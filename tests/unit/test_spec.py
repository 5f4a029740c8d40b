"""Tenant spec validation: every kind of bad input is reported with file, field path and bad value."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from core.errors import TenantSpecError
from core.spec import TenantSpec, load_specs, parse_spec
from tenantml.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "tenants"
SPEC_PATH = Path("tenants/acme.yaml")


def _document(example: str = "churn") -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text(encoding="utf-8"))


def _with(changes: dict[str, Any], example: str = "churn") -> dict[str, Any]:
    """An example spec with dotted-path changes applied (``compute.kind``)."""
    document = copy.deepcopy(_document(example))
    for dotted, value in changes.items():
        target = document
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return document


def _problems_of(document: Any) -> list[tuple[str, str, object]]:
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, yaml.safe_dump(document))
    return [(p.location, p.message, p.value) for p in caught.value.problems]


def _write(directory: Path, name: str, document: Any) -> Path:
    path = directory / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return path


NAME_HINT = "must be lowercase letters, digits and '-', starting with a letter, at most 20 characters"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "Churn"}, ("name", NAME_HINT, "Churn")),
        ({"name": "a" * 21}, ("name", NAME_HINT, "a" * 21)),
        ({"name": "1churn"}, ("name", NAME_HINT, "1churn")),
        ({"name": "churn-"}, ("name", NAME_HINT, "churn-")),
        ({"environment": "qa"}, ("environment", "Input should be 'dev', 'staging' or 'prod'", "qa")),
        ({"region": "europe"}, ("region", "must be an AWS region such as eu-west-1", "europe")),
        ({"region": "EU-WEST-1"}, ("region", "must be an AWS region such as eu-west-1", "EU-WEST-1")),
        ({"account_id": "12345"}, ("account_id", "must be a string matching ^\\d{12}$", "12345")),
        (
            {"account_id": "12345678901x"},
            ("account_id", "must be a string matching ^\\d{12}$", "12345678901x"),
        ),
        (
            {"owners": ["not-an-address"]},
            ("owners[0]", "must be an e-mail address such as team@example.com", "not-an-address"),
        ),
        (
            {"alert_emails": ["ok@example.com", "oncall@nowhere"]},
            ("alert_emails[1]", "must be an e-mail address such as team@example.com", "oncall@nowhere"),
        ),
        ({"compute.kind": "fargate"}, ("compute.kind", "Input should be 'eks' or 'ec2'", "fargate")),
        (
            {"compute.min_nodes": 5, "compute.max_nodes": 2},
            ("compute.max_nodes", "must not be below min_nodes (5)", 2),
        ),
        (
            {"compute.instance_types": []},
            ("compute.instance_types", "List should have at least 1 item after validation, not 0", []),
        ),
        (
            {"compute.instance_types": ["large"]},
            ("compute.instance_types[0]", "must be an EC2 instance type such as m6i.large", "large"),
        ),
        (
            {"streaming.retention_hours": 23},
            ("streaming.retention_hours", "Input should be greater than or equal to 24", 23),
        ),
        (
            {"streaming.retention_hours": 8761},
            ("streaming.retention_hours", "Input should be less than or equal to 8760", 8761),
        ),
        (
            {"model.primary_metric": "rmse"},
            (
                "model.primary_metric",
                (
                    "is not a classification metric; allowed: accuracy, f1, log_loss, precision, "
                    "recall, roc_auc"
                ),
                "rmse",
            ),
        ),
        (
            {"model.primary_metric": "bleu"},
            (
                "model.primary_metric",
                (
                    "unknown metric; allowed: accuracy, f1, log_loss, mae, precision, r2, recall, rmse, "
                    "roc_auc"
                ),
                "bleu",
            ),
        ),
        (
            {"model.estimator": "xgboost"},
            (
                "model.estimator",
                "unknown estimator; allowed: gradient_boosting, logistic_regression, random_forest, ridge",
                "xgboost",
            ),
        ),
        (
            {"model.estimator": "ridge"},
            (
                "model.estimator",
                (
                    "does not solve classification; allowed: gradient_boosting, logistic_regression, "
                    "random_forest"
                ),
                "ridge",
            ),
        ),
        (
            {"tags": {"aws:createdBy": "me", "tenantml:tenant": "other", "team": "ok"}},
            (
                "tags",
                (
                    "tag keys ['aws:createdBy', 'tenantml:tenant'] are reserved (aws:* and tenantml:* are set by the "
                    "platform)"
                ),
                None,
            ),
        ),
        (
            {"model.search_parallel_trials": 0},
            ("model.search_parallel_trials", "Input should be greater than or equal to 1", 0),
        ),
        (
            {"model.search_parallel_trials": 33},
            ("model.search_parallel_trials", "Input should be less than or equal to 32", 33),
        ),
        ({"colour": "blue"}, ("colour", "Extra inputs are not permitted", "blue")),
        ({"compute.gpu": True}, ("compute.gpu", "Extra inputs are not permitted", True)),
    ],
    ids=[
        "name-uppercase",
        "name-too-long",
        "name-leading-digit",
        "name-trailing-dash",
        "unknown-environment",
        "bad-region",
        "uppercase-region",
        "short-account-id",
        "account-id-with-letter",
        "bad-owner-email",
        "bad-alert-email",
        "unknown-compute-kind",
        "min-nodes-above-max",
        "no-instance-types",
        "bad-instance-type",
        "retention-too-short",
        "retention-too-long",
        "metric-for-other-problem",
        "unknown-metric",
        "unknown-estimator",
        "estimator-for-other-problem",
        "reserved-tag-keys",
        "no-parallel-search-trials",
        "too-many-parallel-search-trials",
        "unknown-top-level-key",
        "unknown-nested-key",
    ],
)
def test_given_one_bad_field_when_parsed_then_the_file_field_path_message_and_value_are_reported(
    changes, expected
):
    # given
    document = _with(changes)
    location, message, value = expected

    # when
    problems = _problems_of(document)

    # then
    assert problems == [(f"{SPEC_PATH}: {location}", message, value)]


def test_given_an_unquoted_account_id_when_parsed_then_it_must_be_a_string():
    # given: YAML reads 111122223333 as an int; account ids with leading zeros would lose digits
    document = _with({"account_id": 111122223333})

    # when
    problems = _problems_of(document)

    # then
    assert problems == [(f"{SPEC_PATH}: account_id", "Input should be a valid string", 111122223333)]


def test_given_a_regression_spec_when_parsed_then_regression_metrics_and_estimators_fit():
    # given
    document = _with(
        {"model.problem": "regression", "model.primary_metric": "rmse", "model.estimator": "ridge"}
    )

    # when
    spec = parse_spec(SPEC_PATH, yaml.safe_dump(document))

    # then
    assert (spec.model.primary_metric, spec.model.estimator) == ("rmse", "ridge")
    assert spec.model.higher_is_better is False


def test_given_missing_required_fields_when_parsed_then_each_is_reported_without_a_value():
    # given
    document = {"name": "acme"}

    # when
    problems = _problems_of(document)

    # then
    assert problems == [
        (f"{SPEC_PATH}: {field}", "Field required", None)
        for field in ("environment", "region", "owners", "compute", "image_tag", "model")
    ]


def test_given_several_bad_fields_in_one_file_when_parsed_then_one_error_lists_them_all():
    # given
    document = _with(
        {"name": "Bad_Name", "environment": "qa", "compute.kind": "gke", "streaming.retention_hours": 1}
    )

    # when
    problems = _problems_of(document)

    # then
    assert [p[0] for p in problems] == [
        f"{SPEC_PATH}: name",
        f"{SPEC_PATH}: environment",
        f"{SPEC_PATH}: compute.kind",
        f"{SPEC_PATH}: streaming.retention_hours",
    ]
    assert [p[2] for p in problems] == ["Bad_Name", "qa", "gke", 1]


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (
            "name: churn\nenvironment: dev\n  region: eu-west-1\n",
            "3:9",
            "not valid YAML: mapping values are not allowed here",
        ),
        (
            "name: churn\ntags: {team: a\n",
            "3:1",
            "not valid YAML: expected ',' or '}', but got '<stream end>'",
        ),
    ],
    ids=["bad-indentation", "unclosed-flow-mapping"],
)
def test_given_a_yaml_syntax_error_when_parsed_then_the_location_has_line_and_column(text, location, message):
    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [(f"{SPEC_PATH}:{location}", message)]
    assert caught.value.exit_code == 2
    assert isinstance(caught.value.__cause__, yaml.YAMLError)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("- name: churn\n- name: fraud\n", "list"),
        ("just a sentence\n", "str"),
        ("", "NoneType"),
        ("42\n", "int"),
    ],
    ids=["list", "scalar", "empty", "number"],
)
def test_given_a_document_that_is_not_a_mapping_when_parsed_then_its_type_is_named(text, kind):
    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        (str(SPEC_PATH), "a tenant spec must be a YAML mapping", kind)
    ]


@pytest.mark.parametrize("example", ["churn", "fraud"])
def test_given_an_example_spec_when_parsed_then_it_is_valid_and_gets_the_platform_tags(example):
    # when
    spec = parse_spec(SPEC_PATH, (EXAMPLES / f"{example}.yaml").read_text(encoding="utf-8"))

    # then
    assert isinstance(spec, TenantSpec)
    assert spec.name == example
    assert spec.all_tags["tenantml:tenant"] == example
    assert spec.all_tags["tenantml:managed-by"] == "tenantml"


# --- directories ----------------------------------------------------------------------------------


def test_given_problems_in_several_files_when_loaded_then_one_error_lists_every_file_field_and_value(
    tmp_path,
):
    # given
    good = _write(tmp_path, "churn.yaml", _document("churn"))
    first = _write(
        tmp_path,
        "alpha.yaml",
        _with({"name": "alpha", "region": "moon-1", "compute.vpc_cidr": "10.30.0.0/16"}),
    )
    second = _write(tmp_path, "beta.yml", _with({"name": "beta", "compute.kind": "gke"}, example="fraud"))
    third = _write(tmp_path, "gamma.yaml", "name: gamma\n  environment: dev\n")

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    problems = [(p.location, p.message, p.value) for p in caught.value.problems]
    assert problems == [
        (f"{first}: region", "must be an AWS region such as eu-west-1", "moon-1"),
        (f"{second}: compute.kind", "Input should be 'eks' or 'ec2'", "gke"),
        (f"{third}:2:14", "not valid YAML: mapping values are not allowed here", None),
    ]
    message = str(caught.value)
    assert message.startswith("invalid tenant spec (3 problem(s)):")
    assert f"{first}: region: must be an AWS region such as eu-west-1 (got 'moon-1')" in message
    assert f"{second}: compute.kind: Input should be 'eks' or 'ec2' (got 'gke')" in message
    assert str(good) not in message


def test_given_two_files_with_one_tenant_name_when_loaded_then_the_second_file_names_the_first(tmp_path):
    # given
    first = _write(tmp_path, "a-churn.yaml", _document("churn"))
    second = _write(tmp_path, "b-churn-copy.yaml", _document("churn"))

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        (f"{second}: name", f"tenant name is already used by {first}", "churn")
    ]


def test_given_an_empty_directory_when_loaded_then_it_says_no_spec_files_were_found(tmp_path):
    # given
    _write(tmp_path, "README.md", "not a spec")

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (str(tmp_path), "no tenant spec files (*.yaml) found")
    ]


def test_given_a_directory_that_does_not_exist_when_loaded_then_it_is_named(tmp_path):
    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path / "missing")

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (str(tmp_path / "missing"), "tenant directory does not exist")
    ]


def test_given_an_unknown_tenant_when_loading_only_it_then_the_known_tenants_are_listed():
    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(EXAMPLES, only="billing")

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        ("--tenant", "no tenant with this name; known: churn, fraud, shop", "billing")
    ]


def test_given_one_tenant_asked_for_when_another_file_is_bad_then_every_file_is_still_validated(tmp_path):
    # given
    _write(tmp_path, "churn.yaml", _document("churn"))
    bad = _write(tmp_path, "fraud.yaml", _with({"environment": "qa"}, example="fraud"))

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path, only="churn")

    # then
    assert [p.location for p in caught.value.problems] == [f"{bad}: environment"]


def test_given_valid_files_when_loaded_then_specs_come_back_sorted_by_name_and_only_filters(tmp_path):
    # given: file names in the opposite order of tenant names; .yml is read too
    _write(tmp_path, "a.yml", _document("fraud"))
    _write(tmp_path, "b.yaml", _document("churn"))

    # when
    every = load_specs(tmp_path)
    one = load_specs(tmp_path, only="fraud")

    # then
    assert [s.name for s in every] == ["churn", "fraud"]
    assert [s.name for s in one] == ["fraud"]


@pytest.mark.parametrize("cidr", ["8.8.0.0/16", "10.0.0.1/16", "300.0.0.0/16"])
def test_given_a_vpc_cidr_that_is_not_a_private_network_when_parsed_then_the_spec_is_rejected(cidr):
    # when
    problems = _problems_of(_with({"compute.vpc_cidr": cidr}))

    # then
    assert [(p[0], p[2]) for p in problems] == [(f"{SPEC_PATH}: compute.vpc_cidr", cidr)]


# --- every problem in one run ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "example", "cross_field"),
    [
        (
            {"compute.min_nodes": 5, "compute.max_nodes": 2},
            "churn",
            ("compute.max_nodes", "must not be below min_nodes (5)", 2),
        ),
        (
            {"model.primary_metric": "rmse"},
            "churn",
            (
                "model.primary_metric",
                (
                    "is not a classification metric; allowed: accuracy, f1, log_loss, precision, "
                    "recall, roc_auc"
                ),
                "rmse",
            ),
        ),
        (
            {"model.estimator": "ridge"},
            "churn",
            (
                "model.estimator",
                (
                    "does not solve classification; allowed: gradient_boosting, logistic_regression, "
                    "random_forest"
                ),
                "ridge",
            ),
        ),
        (
            {"monitoring": {"evaluation_periods": 3, "datapoints_to_alarm": 5}},
            "churn",
            ("monitoring.datapoints_to_alarm", "must not exceed evaluation_periods (3)", 5),
        ),
        (
            {"serving.min_replicas": 5, "serving.max_replicas": 3},
            "fraud",
            ("serving.max_replicas", "must not be below min_replicas (5)", 3),
        ),
        (
            {"serving.model_version": 2},
            "fraud",
            (
                "serving.model_version",
                (
                    "pins a SageMaker endpoint; platform eks serves the registry's champion alias "
                    "instead: remove model_version or set platform: sagemaker"
                ),
                2,
            ),
        ),
        (
            {"serving.platform": "eks"},
            "churn",
            (
                "serving.platform",
                "needs compute.kind eks (this tenant runs on ec2); use sagemaker or local",
                "eks",
            ),
        ),
    ],
    ids=[
        "nodes",
        "metric",
        "estimator",
        "datapoints",
        "replicas",
        "model-version",
        "serving-on-ec2",
    ],
)
def test_given_a_cross_field_problem_next_to_field_errors_when_parsed_then_both_are_reported(
    changes, example, cross_field
):
    # given: a field error in the same section as the cross-field problem and one at the top level;
    # neither is a field the cross-field check reads
    section = cross_field[0].split(".")[0]
    bad_field = {
        "compute": "compute.instance_types",
        "model": "model.target",
        "monitoring": "monitoring.period_seconds",
        "serving": "serving.workers",
    }[section]
    bad_value = {
        "compute.instance_types": [],
        "model.target": "",
        "monitoring.period_seconds": 7,
        "serving.workers": 0,
    }[bad_field]
    document = _with({"environment": "qa", **changes, bad_field: bad_value}, example)

    # when
    problems = _problems_of(document)

    # then
    location, message, value = cross_field
    assert (f"{SPEC_PATH}: environment", "Input should be 'dev', 'staging' or 'prod'", "qa") in problems
    assert [p for p in problems if p[0] == f"{SPEC_PATH}: {bad_field}"] != []
    assert (f"{SPEC_PATH}: {location}", message, value) in problems
    assert len(problems) == 3


def test_given_an_invalid_field_next_to_a_valid_input_of_a_section_rule_when_parsed_then_the_rule_still_runs():
    # given: compute.instance_types is invalid, compute.kind (what the rule reads) is not
    document = _with({"compute.instance_types": ["large"], "serving.platform": "eks"})

    # when
    problems = _problems_of(document)

    # then
    assert problems == [
        (
            f"{SPEC_PATH}: compute.instance_types[0]",
            "must be an EC2 instance type such as m6i.large",
            "large",
        ),
        (
            f"{SPEC_PATH}: serving.platform",
            "needs compute.kind eks (this tenant runs on ec2); use sagemaker or local",
            "eks",
        ),
    ]


@pytest.mark.parametrize(
    ("changes", "reported"),
    [
        ({"model.problem": "clustering", "model.primary_metric": "rmse"}, "model.problem"),
        (
            {"compute.kind": "fargate", "serving.platform": "eks"},
            "compute.kind",
        ),
        ({"compute": "big", "serving.platform": "eks"}, "compute"),
    ],
    ids=["metric-of-unknown-problem", "serving-on-unknown-compute", "compute-not-a-mapping"],
)
def test_given_a_cross_field_check_whose_input_is_invalid_when_parsed_then_only_the_input_is_reported(
    changes, reported
):
    # when
    problems = _problems_of(_with(changes))

    # then: the invalid input is named once; a check run on it would only guess
    assert [p[0] for p in problems] == [f"{SPEC_PATH}: {reported}"]


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (
            "compute",
            {"kind": "eks", "instance_types": ["m6i.large"], "min_nodes": 5},
            ("compute.max_nodes", "must not be below min_nodes (5)", 2),
        ),
        (
            "monitoring",
            {"evaluation_periods": 1},
            ("monitoring.datapoints_to_alarm", "must not exceed evaluation_periods (1)", 2),
        ),
        (
            "serving",
            {"platform": "eks", "min_replicas": 5},
            ("serving.max_replicas", "must not be below min_replicas (5)", 4),
        ),
    ],
    ids=["default-max-nodes", "default-datapoints", "default-max-replicas"],
)
def test_given_a_default_that_breaks_a_cross_field_rule_when_parsed_then_the_defaulted_field_is_named(
    section, values, expected
):
    # given: the section written out without the field whose default breaks the rule
    document = {**_document("fraud"), section: values}

    # when
    problems = _problems_of(document)

    # then
    location, message, value = expected
    assert problems == [(f"{SPEC_PATH}: {location}", message, value)]


def _two_broken_files(directory: Path) -> tuple[Path, Path, list[tuple[str, str, object]]]:
    """alpha.yaml: a field error and a cross-field error; beta.yaml: alpha's tenant name and a cross-field error."""
    first = _write(
        directory, "alpha.yaml", _with({"name": "alpha", "region": "moon-1", "model.primary_metric": "rmse"})
    )
    second = _write(
        directory,
        "beta.yaml",
        _with({"name": "alpha", "serving.platform": "eks"}),
    )
    expected = [
        (f"{first}: region", "must be an AWS region such as eu-west-1", "moon-1"),
        (
            f"{first}: model.primary_metric",
            "is not a classification metric; allowed: accuracy, f1, log_loss, precision, recall, roc_auc",
            "rmse",
        ),
        (
            f"{second}: serving.platform",
            "needs compute.kind eks (this tenant runs on ec2); use sagemaker or local",
            "eks",
        ),
        (f"{second}: name", f"tenant name is already used by {first}", "alpha"),
    ]
    return first, second, expected


def test_given_field_cross_field_and_cross_file_problems_when_loaded_then_one_error_lists_them_all(tmp_path):
    # given
    _, _, expected = _two_broken_files(tmp_path)

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == expected


def test_given_a_file_whose_name_is_invalid_when_loaded_then_no_duplicate_is_guessed(tmp_path):
    # given: two files both with the same invalid name: only the field error, twice
    first = _write(tmp_path, "a.yaml", _with({"name": "Churn"}))
    second = _write(tmp_path, "b.yaml", _with({"name": "Churn"}))

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    assert [p.location for p in caught.value.problems] == [f"{first}: name", f"{second}: name"]


# --- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_given_a_directory_of_bad_specs_when_synthesizing_then_it_exits_2_prints_every_problem_and_writes_nothing(
    runner, tmp_path
):
    # given
    specs = tmp_path / "tenants"
    specs.mkdir()
    first = _write(specs, "alpha.yaml", _with({"name": "Alpha", "environment": "qa"}))
    second = _write(
        specs, "beta.yaml", _with({"name": "beta", "model.estimator": "xgboost"}, example="fraud")
    )
    out = tmp_path / "out"

    # when
    result = runner.invoke(app, ["synth", "--tenants", str(specs), "--out", str(out)])

    # then
    assert result.exit_code == 2
    assert "invalid tenant spec (3 problem(s))" in result.stderr
    assert f"{first}: name: {NAME_HINT} (got 'Alpha')" in result.stderr
    assert f"{first}: environment: Input should be 'dev', 'staging' or 'prod' (got 'qa')" in result.stderr
    assert f"{second}: model.estimator: unknown estimator" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_given_an_unknown_tenant_when_synthesizing_then_it_exits_2_and_writes_nothing(runner, tmp_path):
    # given
    out = tmp_path / "out"

    # when
    result = runner.invoke(
        app, ["synth", "--tenants", str(EXAMPLES), "--tenant", "billing", "--out", str(out)]
    )

    # then
    assert result.exit_code == 2
    assert "--tenant: no tenant with this name; known: churn, fraud, shop (got 'billing')" in result.stderr
    assert not out.exists()


def test_given_one_tenant_when_synthesizing_then_only_its_stack_is_written(runner, tmp_path):
    # given
    specs = tmp_path / "tenants"
    shutil.copytree(EXAMPLES, specs)
    out = tmp_path / "out"

    # when
    result = runner.invoke(app, ["synth", "--tenants", str(specs), "--tenant", "churn", "--out", str(out)])

    # then
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["churn"]
    stack = json.loads((out / "stacks" / "churn" / "cdk.tf.json").read_text(encoding="utf-8"))
    assert stack["terraform"]["backend"]["s3"]["key"] == "tenants/churn/terraform.tfstate"
    assert sorted(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stacks"]) == ["churn"]
    assert [p.name for p in out.iterdir() if p.name.startswith(".synth-")] == []


def test_given_bad_specs_when_validating_then_it_exits_2_with_the_same_problems(runner, tmp_path):
    # given
    bad = _write(tmp_path, "alpha.yaml", _with({"region": "mars-1"}))

    # when
    result = runner.invoke(app, ["validate", "--tenants", str(tmp_path)])

    # then
    assert result.exit_code == 2
    assert f"{bad}: region: must be an AWS region such as eu-west-1 (got 'mars-1')" in result.stderr


@pytest.mark.parametrize("command", ["synth", "validate"])
def test_given_field_cross_field_and_cross_file_problems_when_run_then_one_report_names_each_and_nothing_is_written(
    runner, tmp_path, command
):
    # given
    specs = tmp_path / "tenants"
    specs.mkdir()
    _, _, expected = _two_broken_files(specs)
    out = tmp_path / "out"
    args = [command, "--tenants", str(specs)] + (["--out", str(out)] if command == "synth" else [])

    # when
    result = runner.invoke(app, args)

    # then
    assert result.exit_code == 2
    assert "invalid tenant spec (4 problem(s))" in result.stderr
    for location, message, value in expected:
        assert f"{location}: {message} (got {value!r})" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


# --- serving ------------------------------------------------------------------------------


def test_given_no_serving_section_then_serving_is_local_with_no_pinned_version():
    document = _document()
    document.pop("serving", None)

    spec = parse_spec(SPEC_PATH, yaml.safe_dump(document))

    assert (spec.serving.platform, spec.serving.model_version) == ("local", None)


def test_given_the_examples_then_churn_serves_on_sagemaker_and_fraud_on_eks():
    specs = {s.name: s for s in load_specs(EXAMPLES)}

    assert specs["churn"].serving.platform == "sagemaker" and specs["churn"].serving.model_version is None
    assert (specs["fraud"].serving.platform, specs["fraud"].image_tag) == ("eks", "1.0.0")


@pytest.mark.parametrize(
    ("changes", "example", "location", "message"),
    [
        (
            {"serving.instance_type": "m5.large"},
            "churn",
            f"{SPEC_PATH}: serving.instance_type",
            "must be a SageMaker instance type such as ml.m5.large",
        ),
        (
            {"serving.canary_percent": 80},
            "churn",
            f"{SPEC_PATH}: serving.canary_percent",
            "Input should be less than or equal to 50",
        ),
        (
            {"serving.model_version": 0},
            "churn",
            f"{SPEC_PATH}: serving.model_version",
            "Input should be greater than or equal to 1",
        ),
        (
            {"serving.min_replicas": 5, "serving.max_replicas": 3},
            "fraud",
            f"{SPEC_PATH}: serving.max_replicas",
            "must not be below min_replicas (5)",
        ),
        (
            {"serving.image_tag": "1.0.0"},
            "fraud",
            f"{SPEC_PATH}: serving.image_tag",
            (
                "is no longer a serving setting: the tenant has one image, which pipeline jobs, registered "
                "versions and serving all run; move this tag to the top-level image_tag and remove it here"
            ),
        ),
        (
            {"serving.model_version": 2},
            "fraud",
            f"{SPEC_PATH}: serving.model_version",
            (
                "pins a SageMaker endpoint; platform eks serves the registry's champion alias instead: "
                "remove model_version or set platform: sagemaker"
            ),
        ),
        (
            {"serving.platform": "eks"},
            "churn",
            f"{SPEC_PATH}: serving.platform",
            "needs compute.kind eks (this tenant runs on ec2); use sagemaker or local",
        ),
    ],
)
def test_given_a_bad_serving_section_then_the_problem_names_the_field(changes, example, location, message):
    document = _with(changes, example)

    problems = _problems_of(document)

    assert [(where, what) for where, what, _ in problems] == [(location, message)]


# --- hostile input: bounded time and memory, exit 2, the file named, the other files still checked ---------

TEMPLATE_HINT = (
    "must not contain '${' or '%{': Terraform would evaluate it as an expression instead of keeping the text"
)
ALIAS_HINT = (
    "YAML anchors and aliases (&name, *name, <<: *name) are not allowed in a tenant spec: write the value out"
)


def _alias_bomb(levels: int = 9) -> str:
    """The 'billion laughs': ~500 bytes whose last alias expands to 9**9 strings when walked."""
    lines = ["name: churn", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]")
    lines.append(f"owners: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def _latin1_spec() -> bytes:
    document = _with({"name": "latin", "compute.vpc_cidr": "10.40.0.0/16", "tags.team": "caf\u00e9"})
    return yaml.safe_dump(document, allow_unicode=True).encode("latin-1")


def _padded_to(size: int) -> str:
    """A valid spec (the churn example) padded with a comment to exactly ``size`` bytes."""
    body = yaml.safe_dump(_with({"name": "big", "compute.vpc_cidr": "10.50.0.0/16"}))
    return body + "#" + "x" * (size - len(body.encode()) - 2) + "\n"


def test_given_an_alias_bomb_when_parsed_then_the_first_anchor_is_refused_before_anything_expands():
    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, _alias_bomb())

    # then: refused at the first anchor (line 2, column 5), with nothing expanded
    assert [(p.location, p.message) for p in caught.value.problems] == [(f"{SPEC_PATH}:2:5", ALIAS_HINT)]
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("name: churn\nowners: &o [a@example.com]\nalert_emails: *o\n", "2:9"),
        ("name: churn\nmodel: {<<: {problem: regression}, target: y}\n", None),
    ],
    ids=["anchor-and-alias", "merge-key-without-alias"],
)
def test_given_an_anchor_when_parsed_then_it_is_refused_and_a_merge_key_without_alias_is_just_a_field(
    text, location
):
    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then: anchors are refused; '<<' without an alias merges like YAML says and is validated as fields
    problems = [(p.location, p.message) for p in caught.value.problems]
    if location is not None:
        assert problems == [(f"{SPEC_PATH}:{location}", ALIAS_HINT)]
    else:
        assert ALIAS_HINT not in {m for _, m in problems}
        assert (f"{SPEC_PATH}: model.primary_metric", "Field required") in problems


@pytest.mark.parametrize(
    ("text", "location", "key"),
    [
        ("name: churn\nenvironment: dev\nname: fraud\n", "3:1", "'name' (first at line 1)"),
        ("name: churn\ncompute:\n  kind: ec2\n  kind: eks\n", "4:3", "'kind' (first at line 3)"),
        ("name: churn\ntags: {team: a, team: b}\n", "2:17", "'team' (first at line 2)"),
    ],
    ids=["top-level", "nested", "flow-mapping"],
)
def test_given_a_duplicate_key_when_parsed_then_it_is_refused_with_both_lines(text, location, key):
    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (f"{SPEC_PATH}:{location}", f"duplicate key {key}: YAML would silently keep the last value")
    ]


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("name: churn\ntags: " + "[" * 5000 + "]" * 5000 + "\n", "2:16"),
        ("name: churn\ntags: " + "{a: " * 5000 + "b" + "}" * 5000 + "\n", "2:43"),
        ("name: churn\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "v\n", "12:21"),
    ],
    ids=["flow-sequences", "flow-mappings", "block-mappings"],
)
def test_given_a_deeply_nested_document_when_parsed_then_the_depth_limit_is_reported(text, location):
    # when: 5,000 levels used to end in a RecursionError traceback
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (f"{SPEC_PATH}:{location}", "nested deeper than 10 levels")
    ]


def test_given_a_latin1_file_when_loaded_then_it_is_named_with_the_line_and_the_byte(tmp_path):
    # given
    data = _latin1_spec()
    path = tmp_path / "latin.yaml"
    path.write_bytes(data)
    offset = data.index(b"\xe9")

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    line = data[:offset].count(b"\n") + 1
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (f"{path}:{line}", f"is not UTF-8: byte 0xe9 at offset {offset} (save the file as UTF-8)")
    ]


def test_given_a_file_over_the_size_cap_when_loaded_then_it_is_refused_unparsed_and_one_at_the_cap_loads(
    tmp_path,
):
    from core.spec_yaml import MAX_SPEC_BYTES

    # given: two valid specs, one byte apart
    at_cap, over = tmp_path / "at", tmp_path / "over"
    at_cap.mkdir()
    over.mkdir()
    (at_cap / "big.yaml").write_text(_padded_to(MAX_SPEC_BYTES), encoding="utf-8")
    big = over / "big.yaml"
    big.write_text(_padded_to(MAX_SPEC_BYTES + 1), encoding="utf-8")

    # when
    loaded = load_specs(at_cap)
    with pytest.raises(TenantSpecError) as caught:
        load_specs(over)

    # then
    assert [s.name for s in loaded] == ["big"]
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (str(big), "is larger than 1024 KiB, the limit for a tenant spec")
    ]


def test_given_a_text_over_the_size_cap_when_parsed_then_it_is_refused():
    from core.spec_yaml import MAX_SPEC_BYTES

    # when
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, _padded_to(MAX_SPEC_BYTES + 1))

    # then
    assert [p.message for p in caught.value.problems] == [
        "is larger than 1024 KiB, the limit for a tenant spec"
    ]


@pytest.mark.parametrize(
    ("changes", "location", "message"),
    [
        (
            {"tags.team": "${aws_iam_role.roles_training.arn}"},
            "tags",
            "['team'] ('${aws_iam_role.roles_training.arn}') ",
        ),
        ({"tags.team": "%{ if true }x%{ endif }"}, "tags", "['team'] ('%{ if true }x%{ endif }') "),
        (
            {"alert_emails": ["ok@example.com", "${aws_iam_role.roles_training.arn}@x.io"]},
            "alert_emails",
            "[1] ('${aws_iam_role.roles_training.arn}@x.io') ",
        ),
        ({"owners": ['${file("/etc/passwd")}@x.io']}, "owners", "[0] ('${file(\"/etc/passwd\")}@x.io') "),
        ({"model.target": '${file("/etc/passwd")}'}, "model.target", ""),
        (
            {
                "suppressions": [
                    {"rule_id": "TM-S3-001", "reason": "accepted by ${var.owner}", "address": "*"}
                ]
            },
            "suppressions[0].reason",
            "",
        ),
        (
            {
                "suppressions": [
                    {"rule_id": "TM-S3-001", "reason": "accepted by the owner", "address": "%{x}"}
                ]
            },
            "suppressions[0].address",
            "",
        ),
    ],
    ids=[
        "tag-value",
        "tag-directive",
        "alert-email",
        "owner",
        "model-target",
        "suppression-reason",
        "address",
    ],
)
def test_given_a_terraform_template_in_a_free_text_field_when_parsed_then_the_field_is_named(
    changes, location, message
):
    # when
    problems = _problems_of(_with(changes))

    # then
    assert [(p[0], p[1]) for p in problems] == [(f"{SPEC_PATH}: {location}", message + TEMPLATE_HINT)]


def test_given_a_terraform_template_when_built_in_code_then_the_model_refuses_it_too():
    # given: code (a test, a benchmark) that builds a spec without parse_spec
    document = _with({"model.target": "${path.module}"})

    # when / then
    with pytest.raises(ValidationError, match=r"model\.target\n.*must not contain '\$\{'"):
        TenantSpec.model_validate(document)


def test_given_dollar_and_percent_signs_without_a_brace_when_parsed_then_they_are_plain_text():
    # when
    spec = parse_spec(
        SPEC_PATH, yaml.safe_dump(_with({"tags.budget": "$100 or 5%", "model.target": "price$"}))
    )

    # then
    assert (spec.tags["budget"], spec.model.target) == ("$100 or 5%", "price$")


def test_given_more_tags_than_aws_allows_with_the_platform_tags_when_parsed_then_the_count_is_reported():
    # given: 48 of the spec's own + the platform's 3 = 51 on every resource, past AWS's 50
    tags = {f"k{i}": "v" for i in range(48)}

    # when
    problems = _problems_of(_with({"tags": tags}))

    # then
    assert [(p[0], p[1].split(":")[0], p[2]) for p in problems] == [
        (f"{SPEC_PATH}: tags", "has 48 tags; at most 45", None)
    ]


def test_given_the_most_tags_allowed_when_parsed_then_the_spec_is_valid_and_the_platform_adds_its_own():
    from core.spec import MAX_SPEC_TAGS, PLATFORM_TAG_KEYS

    # when
    spec = parse_spec(
        SPEC_PATH, yaml.safe_dump(_with({"tags": {f"k{i}": "v" for i in range(MAX_SPEC_TAGS)}}))
    )

    # then
    assert sorted(set(spec.all_tags) - set(spec.tags)) == sorted(PLATFORM_TAG_KEYS)


@pytest.mark.parametrize(
    ("emails", "message"),
    [
        (
            ["a@example.com", "b@example.com", "a@example.com"],
            "lists a@example.com more than once (one subscription per address)",
        ),
        (
            [f"p{i}@example.com" for i in range(101)],
            "List should have at most 100 items after validation, not 101",
        ),
    ],
    ids=["duplicate", "too-many"],
)
def test_given_alert_emails_that_synth_would_refuse_or_multiply_when_parsed_then_they_are_reported(
    emails, message
):
    # when
    problems = _problems_of(_with({"alert_emails": emails}))

    # then: a long list is not echoed back
    assert problems == [(f"{SPEC_PATH}: alert_emails", message, None if len(emails) > 100 else emails)]


def test_given_two_tenants_with_overlapping_vpc_ranges_when_loaded_then_the_second_names_the_first(tmp_path):
    # given: churn 10.10.0.0/16; fraud inside it; gamma's range is fine but its region is not
    churn = _write(tmp_path, "a-churn.yaml", _document("churn"))
    fraud = _write(tmp_path, "b-fraud.yaml", _with({"compute.vpc_cidr": "10.10.128.0/17"}, example="fraud"))
    gamma = _write(
        tmp_path,
        "c-gamma.yaml",
        _with({"name": "gamma", "region": "moon-1", "compute.vpc_cidr": "10.10.64.0/18"}, example="fraud"),
    )

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then: a file with another problem still takes part when its range is valid
    overlap = (
        "of tenant {} ({}): every tenant needs its own range so that tenant networks can be peered or routed"
    )
    assert [(p.location, p.message, p.value) for p in caught.value.problems] == [
        (f"{gamma}: region", "must be an AWS region such as eu-west-1", "moon-1"),
        (
            f"{fraud}: compute.vpc_cidr",
            "overlaps 10.10.0.0/16 " + overlap.format("churn", churn),
            "10.10.128.0/17",
        ),
        (
            f"{gamma}: compute.vpc_cidr",
            "overlaps 10.10.0.0/16 " + overlap.format("churn", churn),
            "10.10.64.0/18",
        ),
    ]


def _hostile_directory(directory: Path) -> dict[str, Path]:
    """One file per hostile input, next to a valid tenant and one with an ordinary field problem."""
    from core.spec_yaml import MAX_SPEC_BYTES

    files = {
        "good": _write(directory, "good.yaml", _document("churn")),
        "field": _write(directory, "field.yaml", _with({"environment": "qa"}, example="fraud")),
        "bomb": _write(directory, "bomb.yaml", _alias_bomb()),
        "deep": _write(directory, "deep.yaml", "name: deep\ntags: " + "[" * 5000 + "]" * 5000 + "\n"),
        "dup": _write(directory, "dup.yaml", "name: dup\nname: dup2\n"),
        "big": _write(directory, "big.yaml", _padded_to(MAX_SPEC_BYTES + 1)),
        "template": _write(
            directory,
            "template.yaml",
            _with({"name": "tpl", "compute.vpc_cidr": "10.60.0.0/16", "tags.team": '${file("/etc/passwd")}'}),
        ),
    }
    latin = directory / "latin.yaml"
    latin.write_bytes(_latin1_spec())
    files["latin"] = latin
    return files


def test_given_hostile_files_next_to_good_ones_when_loaded_then_every_file_is_reported_in_one_error(tmp_path):
    # given
    files = _hostile_directory(tmp_path)

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then: one problem per broken file, each naming its file; the valid one is not mentioned
    by_file = {
        name: [p for p in caught.value.problems if p.location.startswith(str(path))]
        for name, path in files.items()
    }
    assert {name: len(found) for name, found in by_file.items()} == {
        "good": 0,
        "field": 1,
        "bomb": 1,
        "deep": 1,
        "dup": 1,
        "big": 1,
        "template": 1,
        "latin": 1,
    }
    assert len(caught.value.problems) == 7
    assert by_file["field"][0].location == f"{files['field']}: environment"
    assert by_file["template"][0].location == f"{files['template']}: tags"


def test_given_hostile_files_when_validated_then_it_exits_2_naming_each_file_without_a_traceback(
    runner, tmp_path
):
    # given
    specs = tmp_path / "tenants"
    specs.mkdir()
    files = _hostile_directory(specs)

    # when
    result = runner.invoke(app, ["validate", "--tenants", str(specs)])

    # then
    assert result.exit_code == 2
    assert "invalid tenant spec (7 problem(s))" in result.stderr
    for name, path in files.items():
        assert (str(path) in result.stderr) is (name != "good")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (
            "name: churn\nstreaming: {shards: " + "1" * 5000 + "}\n",
            "2:21",
            "cannot read this value: Exceeds the limit (4300 digits) for integer string conversion",
        ),
        ("name: churn\nowners: [2024-13-45]\n", "2:10", "cannot read this value: month must be in 1..12"),
    ],
    ids=["huge-integer", "impossible-date"],
)
def test_given_a_scalar_python_cannot_convert_when_parsed_then_the_value_is_named(text, location, message):
    # when: both used to end in a ValueError traceback
    with pytest.raises(TenantSpecError) as caught:
        parse_spec(SPEC_PATH, text)

    # then
    [(where, what)] = [(p.location, p.message) for p in caught.value.problems]
    assert (where, what[: len(message)]) == (f"{SPEC_PATH}:{location}", message)


def test_given_a_fifo_and_a_directory_named_like_specs_when_loaded_then_each_is_named_and_the_rest_checked(
    tmp_path,
):
    # given: opening a FIFO would block until someone writes to it
    os.mkfifo(tmp_path / "a-pipe.yaml")
    (tmp_path / "b-dir.yaml").mkdir()
    bad = _write(tmp_path, "c.yaml", _with({"environment": "qa"}))

    # when
    with pytest.raises(TenantSpecError) as caught:
        load_specs(tmp_path)

    # then
    assert [(p.location, p.message) for p in caught.value.problems] == [
        (str(tmp_path / "a-pipe.yaml"), "is not a regular file"),
        (str(tmp_path / "b-dir.yaml"), "is not a regular file"),
        (f"{bad}: environment", "Input should be 'dev', 'staging' or 'prod'"),
    ]
