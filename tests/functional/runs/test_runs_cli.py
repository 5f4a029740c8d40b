"""``tenantml train`` and ``tenantml models`` against a moto server on 127.0.0.1 (the emulator's shape)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer
from moto.server import ThreadedMotoServer
from runs_support import REGION, create_tenant_resources
from typer.testing import CliRunner

from core.spec import load_specs
from pipelines.registry.interface import CHAMPION
from pipelines.registry.sagemaker import SageMakerModelRegistry
from tenantml.cli.pipeline import register
from tenantml.emulator import commands, iam_enforcement, jobs, server
from tenantml.emulator.images import push_local_image
from tenantml.sample_data import sample_frame
from tenantml.synthesis import synth

ROOT = Path(__file__).resolve().parents[3]

TENANT_YAML = """\
name: acme
environment: dev
region: eu-west-1
owners: [ml@example.com]
image_tag: "1.0.0"
compute: {kind: ec2, instance_types: [m6i.large]}
model:
  name: cancer
  problem: classification
  target: target
  primary_metric: roc_auc
  minimum_metric: 0.9
  estimator: logistic_regression
  search_trials: 2
  search_timeout_seconds: 60
"""


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server, emptied; fake credentials; a wide terminal so tables do not wrap."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "COLUMNS": "250",
        "TENANTML_CODE_REVISION": "cli-test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture
def stack(endpoint: str, session, tmp_path: Path) -> dict:
    """The tenant's resources in the server, its outputs as `terraform output -json` writes them."""
    resources = create_tenant_resources(lambda service: session.client(service, endpoint_url=endpoint))
    outputs = {
        "data_bucket_name": resources.data_bucket,
        "artifacts_bucket_name": resources.artifacts_bucket,
        "models_bucket_name": resources.models_bucket,
        "alerts_topic_arn": resources.alerts_topic_arn,
        "model_package_group_name": resources.model_package_group,
        "training_role_arn": resources.training_role_arn,
        "kms_key_arn": resources.kms_key_arn,
        "stream_name": resources.stream_name,
        # `models reproduce` signs as the pipelines role (tenantml.workload_roles)
        "pipelines_role_arn": "arn:aws:iam::123456789012:role/tenantml-acme-dev-pipelines-role",
    }
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(
        json.dumps({k: {"sensitive": False, "type": "string", "value": v} for k, v in outputs.items()})
    )
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(TENANT_YAML)
    settings = tmp_path / "settings.yaml"
    settings.write_text("cv_folds: 3\nimportance_repeats: 1\nimportance_rows: 200\n")
    return {
        "outputs": outputs,
        "outputs_file": outputs_file,
        "tenants": tenants,
        "resources": resources,
        "settings": settings,
    }


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    running = server.start(0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def churn(emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """churn (a 2-trial search) applied to the emulator with IAM enforced, its image pushed, its
    functions and SageMaker jobs running as under `up`; its outputs as `terraform output -json` writes them."""
    from tenantml.emulator.runtime import install, uninstall

    monkeypatch.setenv("COLUMNS", "250")
    server.reset(emulator.endpoint)
    aws = server.make_session(emulator.endpoint, REGION)
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    churn_yaml = (ROOT / "tenants" / "churn.yaml").read_text()
    (tenants / "churn.yaml").write_text(churn_yaml.replace("search_trials: 20", "search_trials: 2"))
    [spec] = load_specs(tenants)
    previous = iam_enforcement.set_enforced(True)
    install(aws.endpoint, spec.region, code_cache_dir=tmp_path / "code")
    try:
        synth([spec], tmp_path / "out")
        [applied] = commands.apply_tenants(tmp_path / "out", ["churn"], tmp_path / "state", aws)
        admin = aws.for_account(spec.account_id)
        push_local_image(
            admin.client("ecr", spec.region), applied.outputs["image_repository_name"], spec.image_tag
        )
        jobs.install(aws.endpoint)
        outputs_file = tmp_path / "outputs.json"
        outputs_file.write_text(
            json.dumps(
                {k: {"sensitive": False, "type": "string", "value": v} for k, v in applied.outputs.items()}
            )
        )
        common = ["--tenant", "churn", "--tenants", str(tenants), "--outputs", str(outputs_file)]
        yield {
            "spec": spec,
            "outputs": applied.outputs,
            "client": lambda service: admin.client(service, spec.region),
            "common": [*common, "--endpoint-url", aws.endpoint],
        }
    finally:
        jobs.uninstall(timeout=10)
        uninstall(timeout=10)
        iam_enforcement.set_enforced(previous)


def test_train_runs_the_state_machine_and_models_commands_manage_the_version(churn, cli, tmp_path):
    outputs, client, common = churn["outputs"], churn["client"], churn["common"]
    sagemaker, sfn = client("sagemaker"), client("stepfunctions")
    registry = SageMakerModelRegistry(sagemaker, outputs["model_package_group_name"])
    data = tmp_path / "export.csv"
    sample_frame().to_csv(data, index=False)

    # when a local file is trained by hand
    result = cli("train", *common, "--data", str(data))

    # then one execution of the tenant's state machine ran it, with trigger manual, on that upload's version
    assert result.exit_code == 0, result.output
    [execution] = sfn.list_executions(stateMachineArn=outputs["pipeline_state_machine_arn"])["executions"]
    run_id = execution["name"]
    assert run_id.startswith("manual-") and execution["status"] == "SUCCEEDED"
    body = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    head = client("s3").head_object(Bucket=outputs["data_bucket_name"], Key="incoming/manual/export.csv")
    assert body["trigger"] == "manual" and body["run_id"] == run_id
    assert body["data"] == {
        "bucket": outputs["data_bucket_name"],
        "key": "incoming/manual/export.csv",
        "version_id": head["VersionId"],
    }
    # its steps shown as they ran, then the summary from run.json: a champion through a real training job
    for state in ("Prepare", "Train", "Evaluate", "Register"):
        assert state in result.output
    [version] = registry.list_model_versions()
    assert version.version == 1 and CHAMPION in version.aliases and version.lineage.run_id == run_id
    assert f"Run {run_id}: succeeded" in result.output
    assert "1 (Approved, alias champion)" in result.output
    assert "gate" in result.output and "approved: candidate roc_auc" in result.output
    [job] = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert job["TrainingJobStatus"] == "Completed"
    assert version.lineage.data_uri == f"s3://{outputs['data_bucket_name']}/incoming/manual/export.csv"
    assert f"s3://{outputs['artifacts_bucket_name']}/runs/{run_id}/" in result.output

    # given a second, pending version
    registry.create_model_version(
        model_data_url=version.model_data_url, image_uri=version.image_uri, lineage=version.lineage
    )
    # then `models list` shows both
    listing = cli("models", "list", *common)
    assert listing.exit_code == 0, listing.output
    assert "2 version(s)" in listing.output
    assert "Approved" in listing.output and "PendingManualApproval" in listing.output
    # and a pending version cannot be promoted until it is approved
    refused = cli("models", "promote", *common, "--version", "2")
    assert refused.exit_code == 2
    assert "only an approved version can become champion" in refused.output
    approved = cli("models", "approve", *common, "--version", "2", "--reason", "reviewed the report")
    assert approved.exit_code == 0 and "version 2" in approved.output and "Approved" in approved.output
    promoted = cli("models", "promote", *common, "--version", "2")
    assert promoted.exit_code == 0, promoted.output
    assert "version 1 -> version 2" in promoted.output
    assert registry.get_version_by_alias(CHAMPION).version == 2
    shown = cli("models", "show", *common)
    assert shown.exit_code == 0 and "version 2" in shown.output and "reviewed the report" in shown.output


def test_a_failing_run_exits_non_zero_with_the_step_and_reason(churn, cli, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = cli("train", *churn["common"], "--data", str(empty))
    assert result.exit_code == 1, result.output
    assert "failed step" in result.output and "ingest / Prepare" in result.output
    assert "file is empty" in result.output
    # the data-arrival trigger left the manual upload alone: this run is the only execution
    sfn = churn["client"]("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=churn["outputs"]["pipeline_state_machine_arn"])
    assert [e["status"] for e in executions["executions"]] == ["FAILED"]


def test_up_json_gives_the_endpoint_and_outputs(cli, stack, endpoint, tmp_path, monkeypatch):
    # given `tenantml up` state in the working directory, and no --outputs
    (tmp_path / ".tenantml").mkdir()
    (tmp_path / ".tenantml" / "up.json").write_text(
        json.dumps(
            {
                "emulator": {"endpoint": endpoint, "region": REGION},
                "tenants": {"acme": {"outputs": stack["outputs"]}},
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    # when models are listed / then the command reached the emulator's registry
    result = cli("models", "list", "--tenant", "acme", "--tenants", str(stack["tenants"]))
    assert result.exit_code == 0, result.output
    assert f"{stack['outputs']['model_package_group_name']}: 0 version(s)" in result.output


def test_without_outputs_or_up_json_the_error_says_what_to_do(cli, tmp_path, monkeypatch):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(TENANT_YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    result = cli("train", "--tenant", "acme", "--tenants", str(tenants))
    assert result.exit_code == 2
    assert "no outputs for tenant acme: run `tenantml up`" in result.output
    assert "--outputs FILE" in result.output


def test_outputs_with_unresolved_references_are_refused(cli, tmp_path, monkeypatch):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(TENANT_YAML)
    synthesized = tmp_path / "outputs.json"
    synthesized.write_text(json.dumps({"data_bucket_name": {"value": "${aws_s3_bucket.storage_data.id}"}}))
    monkeypatch.setenv("COLUMNS", "250")
    result = cli(
        "models", "list", "--tenant", "acme", "--tenants", str(tenants), "--outputs", str(synthesized)
    )
    assert result.exit_code == 2
    assert "data_bucket_name: is an unresolved Terraform reference" in result.output
    assert "artifacts_bucket_name: is missing" in result.output


@pytest.mark.parametrize("command", ["approve", "promote", "reproduce"])
def test_commands_that_need_a_version_declare_it_required(cli, tmp_path, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    # when the version is left out / then the parser itself says so, before anything is looked up
    result = cli("models", command, "--tenant", "acme")
    assert result.exit_code == 2
    assert "Missing option '--version'" in result.output
    # and the help marks it required
    assert "required" in cli("models", command, "--help").output.split("--version", 1)[1].split("\n", 1)[0]


def test_models_reproduce_re_runs_a_version_through_the_state_machine_and_says_whether_it_matches(
    churn, cli, tmp_path
):
    outputs, client, common = churn["outputs"], churn["client"], churn["common"]
    sagemaker, sfn = client("sagemaker"), client("stepfunctions")
    machine = outputs["pipeline_state_machine_arn"]
    registry = SageMakerModelRegistry(sagemaker, outputs["model_package_group_name"])
    # given a champion registered by a run of the state machine
    data = tmp_path / "export.csv"
    sample_frame().to_csv(data, index=False)
    assert (trained := cli("train", *common, "--data", str(data))).exit_code == 0, trained.output
    [version] = registry.list_model_versions()
    recorded = version.lineage.artifact_sha256

    # when it is reproduced
    result = cli("models", "reproduce", *common, "--version", "1")

    # then an execution of the same state machine re-made it through Train and Compare, byte for byte
    assert result.exit_code == 0, result.output
    assert f"registered sha256 {recorded}" in result.output
    assert f"reproduced sha256 {recorded}" in result.output
    assert f"reproduced: version 1 of {version.group} is byte-identical" in result.output
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    [run] = [e for e in executions if e["name"].startswith("reproduce-v1-")]
    assert run["status"] == "SUCCEEDED"
    described = sfn.describe_execution(executionArn=run["executionArn"])
    body = json.loads(described["input"])
    assert body["trigger"] == "reproduce" and body["reproduce"]["sha256"] == recorded
    assert body["data"]["version_id"] == version.lineage.data_version_id
    output = json.loads(described["output"])
    assert output["matches"] is True and output["version"] == 1 and output["differing_files"] == []
    for state in ("Prepare", "Train", "Compare"):
        assert state in result.output
    # the training job ran with the recorded hyperparameters; nothing was registered, no alias moved
    jobs_by_run = [
        sagemaker.describe_training_job(TrainingJobName=j["TrainingJobName"])
        for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]
    ]
    [job] = [j for j in jobs_by_run if run["name"] in j["OutputDataConfig"]["S3OutputPath"]]
    expected = {k: v for k, v in version.lineage.settings.items() if k != "holdout_fraction"}
    assert {k: job["HyperParameters"][k] for k in expected} == expected
    assert [v.version for v in registry.list_model_versions()] == [1]
    assert registry.get_version_by_alias(CHAMPION).version == 1
    compare_jobs = [
        j["ProcessingJobName"]
        for j in sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
        if "-compare-" in j["ProcessingJobName"]
    ]
    assert len(compare_jobs) == 1
    assert (
        sagemaker.describe_processing_job(ProcessingJobName=compare_jobs[0])["RoleArn"]
        == (outputs["training_role_arn"])
    )

    # given a version whose recorded sha256 is not its archive's (a tampered tag)
    registry.create_model_version(
        model_data_url=version.model_data_url,
        image_uri=version.image_uri,
        lineage=version.lineage.model_copy(update={"artifact_sha256": "0" * 64}),
    )
    # when it is reproduced / then the command says it differs, and why, and exits 1
    differs = cli("models", "reproduce", *common, "--version", "2")
    assert differs.exit_code == 1, differs.output
    assert f"registered sha256 {'0' * 64}" in differs.output
    assert f"reproduced sha256 {recorded}" in differs.output
    assert f"differs: version 2 of {version.group}" in differs.output
    why = f"has sha256 {recorded}, not the {'0' * 64} its lineage records"
    assert why in " ".join(differs.output.split())

    # given a version whose data is no longer what it was trained on
    registry.create_model_version(
        model_data_url=version.model_data_url,
        image_uri=version.image_uri,
        lineage=version.lineage.model_copy(update={"data_sha256": "1" * 64}),
    )
    # when it is reproduced / then the run fails in Prepare, naming the data and both digests
    failed = cli("models", "reproduce", *common, "--version", "3")
    assert failed.exit_code == 1, failed.output
    text = " ".join(failed.output.split())
    assert "failed in step ingest" in text
    assert f"not the {'1' * 64} the version was trained on" in text
    assert version.lineage.data_uri in text

    # given a version whose pinned object version is gone
    registry.create_model_version(
        model_data_url=version.model_data_url,
        image_uri=version.image_uri,
        lineage=version.lineage.model_copy(update={"data_version_id": "no-such-version"}),
    )
    # when it is reproduced / then the run fails naming the object version
    gone = cli("models", "reproduce", *common, "--version", "4")
    assert gone.exit_code == 1, gone.output
    assert "(object version no-such-version) cannot be read" in " ".join(gone.output.split())
    # and the failed re-runs took nothing away from the registry
    assert sorted(v.version for v in registry.list_model_versions()) == [1, 2, 3, 4]
    assert registry.get_version_by_alias(CHAMPION).version == 1
