"""CLI commands that do a workload's job sign as that workload's role (``tenantml.workload_roles``).

churn is applied to the emulator with IAM enforced and one pipeline run registers its champion (as
the administrator, to set the scene). Each command then succeeds, and fails with AccessDenied
naming its role once the administrator removes one statement from that role's inline policy: the
administrator's rights would have let it through, so the command really signed as the role.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from registered_version import register_version
from typer.testing import CliRunner
from wait_support import wait_until

from core.spec import load_specs
from pipelines.monitoring.publishing import load_baseline, write_snapshot
from pipelines.monitoring.window import compute_window_metrics
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHAMPION
from pipelines.runs.clients import AwsClients
from pipelines.runs.resources import TenantResources
from tenantml.cli.app import app
from tenantml.emulator import commands, iam_enforcement, server
from tenantml.sample_data import sample_frame, upload_sample_dataset
from tenantml.synthesis import synth
from tenantml.up_file import boto3_session

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def churn(
    emulator: server.EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """churn applied under enforcement, a champion registered by one pipeline run, one monitoring
    window written; its outputs, admin clients and an up.json naming them."""
    server.reset(emulator.endpoint)
    previous = iam_enforcement.set_enforced(True)
    try:
        spec = next(s for s in load_specs(ROOT / "tenants") if s.name == "churn")
        work = tmp_path_factory.mktemp("churn")
        synth([spec], work / "out")
        aws = server.make_session(emulator.endpoint, spec.region)
        [applied] = commands.apply_tenants(work / "out", ["churn"], work / "state", aws)
        outputs = applied.outputs
        admin = boto3_session(emulator.endpoint, spec.account_id)
        clients = AwsClients.create(region=spec.region, endpoint_url=emulator.endpoint, session=admin)
        resources = TenantResources.from_outputs(outputs, tenant="churn", region=spec.region)
        uri = upload_sample_dataset(clients.s3, resources.data_bucket)
        record = register_version(
            resources,
            spec.model.model_copy(update={"search_trials": 1}),
            uri,
            work / "run",
            run_id="run-workload-roles",
            endpoint_url=emulator.endpoint,
            credentials=admin.get_credentials(),
        )
        assert record.succeeded and record.alias == CHAMPION, record.error
        registry = open_registry(clients.sagemaker, resources.model_package_group)
        baseline = load_baseline(clients.s3, registry, resources.artifacts_bucket, str(record.model_version))
        features = sample_frame().drop(columns=[spec.model.target]).head(200)
        payloads = [
            {"request_id": f"r{i}", "model_version": str(record.model_version), "features": row}
            | {"prediction": 0, "latency_ms": 5.0, "error": False, "timestamp": 1.8e9 + i}
            for i, row in enumerate(features.to_dict(orient="records"))
        ]
        metrics = compute_window_metrics(payloads, baseline, drift_threshold=spec.model.drift_threshold)
        write_snapshot(
            clients.s3,
            resources.artifacts_bucket,
            tenant="churn",
            model=spec.model.name,
            version=str(record.model_version),
            metrics=metrics,
        )
        up = work / "up.json"
        up.write_text(
            json.dumps(
                {
                    "emulator": {"endpoint": emulator.endpoint, "region": spec.region},
                    "tenants": {"churn": {"region": spec.region, "outputs": outputs}},
                }
            )
        )
        yield {
            "outputs": outputs,
            "iam": admin.client("iam", region_name=spec.region, endpoint_url=emulator.endpoint),
            "clients": clients,
            "up": up,
            "spec": spec,
            "work": work,
        }
    finally:
        iam_enforcement.set_enforced(previous)


@contextlib.contextmanager
def without_statement(churn: dict[str, Any], role_output: str, sid: str) -> Iterator[str]:
    """The role's inline policy without statement ``sid`` for the block (restored after); yields the role ARN."""
    arn = churn["outputs"][role_output]
    iam = churn["iam"]
    name = arn.rsplit("/", 1)[-1]
    policy = iam.get_role_policy(RoleName=name, PolicyName="grants")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
    assert len(kept) == len(policy["Statement"]) - 1, f"{name} has no statement {sid}"
    iam.put_role_policy(
        RoleName=name, PolicyName="grants", PolicyDocument=json.dumps({**policy, "Statement": kept})
    )
    try:
        yield arn
    finally:
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))


def cli(churn: dict[str, Any], *args: str) -> Any:
    common = ["--tenant", "churn", "--outputs", str(churn["up"]), "--tenants", str(ROOT / "tenants")]
    return CliRunner().invoke(app, [*args, *common], env={"COLUMNS": "250"})


def assert_denied_as(result: Any, role_arn: str) -> None:
    assert result.exit_code == 1, result.output
    assert "AccessDenied" in result.output, result.output
    assert f"role {role_arn}" in result.output, result.output


def test_predict_reads_and_writes_batch_files_as_the_serving_role(churn) -> None:
    # given input rows under batch/ of the data bucket
    s3, data = churn["clients"].s3, churn["outputs"]["data_bucket_name"]
    rows = sample_frame().drop(columns=[churn["spec"].model.target]).head(50)
    path = churn["work"] / "in.parquet"
    rows.to_parquet(path)
    s3.upload_file(str(path), data, "batch/in.parquet")
    args = ["predict", "--input", f"s3://{data}/batch/in.parquet", "--output", f"s3://{data}/batch/out.csv"]

    # when predicted / then the predictions are written there
    result = cli(churn, *args)
    assert result.exit_code == 0, result.output
    out = pd.read_csv(s3.get_object(Bucket=data, Key="batch/out.csv")["Body"])
    assert len(out) == 50 and "prediction" in out.columns

    # when the serving role may no longer write under batch/ / then the same command is denied as that role
    with without_statement(churn, "serving_role_arn", "WriteBatchDataBucket") as role:
        assert_denied_as(cli(churn, *args), role)


def test_serve_reads_the_champion_as_the_serving_role(churn, tmp_path: Path) -> None:
    # when the serving role may not read the registry / then serve fails before starting, naming it
    with without_statement(churn, "serving_role_arn", "ReadRegistry") as role:
        assert_denied_as(cli(churn, "serve", "--port", "1", "--no-log"), role)

    # when it may / then the server answers with the champion, and logs as the serving role
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [
        sys.executable,
        "-m",
        "tenantml.cli",
        "serve",
        "--tenant",
        "churn",
        "--outputs",
        str(churn["up"]),
    ]
    command += ["--tenants", str(ROOT / "tenants"), "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/ping", timeout=2).status_code == 200
            return False

        wait_until(ready, timeout=90, message="the served champion did not become ready")
        features = sample_frame().drop(columns=[churn["spec"].model.target])
        row = ",".join(repr(float(v)) for v in features.iloc[0])
        response = httpx.post(
            f"{url}/invocations", content=row, headers={"Content-Type": "text/csv"}, timeout=10
        )
        assert response.status_code == 200, response.text
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_monitor_reads_the_alarms_as_the_monitor_role(churn) -> None:
    # when / then: the tenant's alarms, read as the monitor's role
    result = cli(churn, "monitor", "--once")
    assert result.exit_code == 0, result.output
    assert "tenantml-churn-dev-drift " in result.output and "tenantml-churn-dev-live-quality" in result.output

    with without_statement(churn, "training_role_arn", "DescribeAlarms") as role:
        assert_denied_as(cli(churn, "monitor", "--once"), role)


def test_report_writes_the_drift_report_as_the_monitor_role(churn, tmp_path: Path) -> None:
    result = cli(churn, "report", "--out", str(tmp_path / "drift.html"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "drift.html").read_text().startswith("<!doctype html>")

    with without_statement(churn, "training_role_arn", "WriteArtifactsBucket") as role:
        assert_denied_as(cli(churn, "report", "--out", str(tmp_path / "again.html")), role)


def test_operator_commands_stay_the_administrator(churn) -> None:
    # the pipelines role may not list the registry once ReadRegistry is gone; `models list` is the
    # operator's and does not care
    with without_statement(churn, "pipelines_role_arn", "ReadRegistry"):
        result = cli(churn, "models", "list")
    assert result.exit_code == 0, result.output
    assert "1 version(s)" in result.output
