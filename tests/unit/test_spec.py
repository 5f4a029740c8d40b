"""Tenant spec validation: every kind of bad input is reported with file, field path and bad value."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
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
        for field in ("environment", "region", "owners", "compute", "model")
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
    first = _write(tmp_path, "alpha.yaml", _with({"name": "alpha", "region": "moon-1"}))
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
        ("--tenant", "no tenant with this name; known: churn, fraud", "billing")
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
            {"serving.image_tag": None},
            "fraud",
            (
                "serving.image_tag",
                "is required with platform eks: the tag of the serving image in the tenant's repository",
                None,
            ),
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
            {"serving.platform": "eks", "serving.image_tag": "v1"},
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
        "image-tag",
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
    document = _with(
        {"compute.instance_types": ["large"], "serving.platform": "eks", "serving.image_tag": "v1"}
    )

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
        ({"compute.kind": "fargate", "serving.platform": "eks", "serving.image_tag": "v1"}, "compute.kind"),
        ({"compute": "big", "serving.platform": "eks", "serving.image_tag": "v1"}, "compute"),
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
    document["serving"] = (
        {**document["serving"], "image_tag": "1.0.0"} if section == "serving" else document["serving"]
    )

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
        directory, "beta.yaml", _with({"name": "alpha", "serving.platform": "eks", "serving.image_tag": "v1"})
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
    assert "--tenant: no tenant with this name; known: churn, fraud (got 'billing')" in result.stderr
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
    assert (specs["fraud"].serving.platform, specs["fraud"].serving.image_tag) == ("eks", "1.0.0")


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
            {"serving.image_tag": None},
            "fraud",
            f"{SPEC_PATH}: serving.image_tag",
            "is required with platform eks: the tag of the serving image in the tenant's repository",
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
            {"serving.platform": "eks", "serving.image_tag": "v1"},
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
