"""``tenantml predict`` (batch inference in chunks) and how the serving commands find a tenant's outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from serving_support import free_port, wait_until_listening
from typer import Typer
from typer.testing import CliRunner

from core.errors import TenantResourcesError
from tenantml.cli.serving import register
from tenantml.tenant_outputs import load_outputs

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/tenantml-acme-dev-serving-role"


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory: no .tenantml/up.json or tenants/ from the working tree."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli() -> Typer:
    app = Typer()
    register(app)
    return app


def _input_frame(cancer: pd.DataFrame) -> pd.DataFrame:
    frame = cancer.drop(columns="target").copy()
    frame.insert(0, "patient_id", [f"p{i}" for i in range(len(frame))])
    return frame


@pytest.mark.parametrize(
    ("suffix_in", "suffix_out"), [(".parquet", ".parquet"), (".csv", ".csv"), (".csv", ".parquet")]
)
def test_predict_a_local_file_in_chunks(cli, model_dir, logistic, cancer, tmp_path, suffix_in, suffix_out):
    # given 569 rows with an extra id column
    frame = _input_frame(cancer)
    source = tmp_path / f"input{suffix_in}"
    if suffix_in == ".parquet":
        frame.to_parquet(source)
    else:
        frame.to_csv(source, index=False)
    target = tmp_path / "out" / f"predictions{suffix_out}"
    # when predicted in chunks of 100 rows
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--tenant",
            "acme",
            "--model-dir",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(target),
            "--chunk-rows",
            "100",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 569 predictions (6 chunk(s)" in result.output
    # then every row keeps its columns and gets the pipeline's prediction and probabilities
    out = pd.read_parquet(target) if suffix_out == ".parquet" else pd.read_csv(target)
    assert out["patient_id"].tolist() == frame["patient_id"].tolist()
    features = cancer[logistic.metadata.feature_names]
    assert out["prediction"].tolist() == logistic.pipeline.predict(features).tolist()
    np.testing.assert_allclose(
        out["probability_1"], logistic.pipeline.predict_proba(features)[:, 1], atol=1e-12
    )


def test_predict_names_the_row_and_column_of_bad_data(cli, model_dir, cancer, tmp_path):
    frame = _input_frame(cancer).astype({"mean area": object})
    frame.loc[250, "mean area"] = "n/a?"
    source = tmp_path / "bad.csv"
    frame.to_csv(source, index=False)
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--tenant",
            "acme",
            "--model-dir",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
            "--chunk-rows",
            "100",
        ],
    )
    assert result.exit_code == 1
    assert "row 251, column 'mean area'" in result.output and "'n/a?' is not a number" in result.output


def test_predict_from_s3_to_s3_through_the_emulator_outputs(
    cli, aws, model_dir, logistic, cancer, tmp_path, monkeypatch
):
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws)
    s3.create_bucket(Bucket="acme-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    path = tmp_path / "in.parquet"
    _input_frame(cancer).to_parquet(path)
    s3.upload_file(str(path), "acme-data", "batch/in.parquet")
    up = tmp_path / "up.json"
    up.write_text(
        json.dumps(
            {
                "emulator": {"endpoint": aws, "region": REGION},
                # batch inference signs as the serving role (tenantml.workload_roles)
                "tenants": {"acme": {"outputs": {"data_bucket_name": "acme-data", "serving_role_arn": ROLE}}},
            }
        )
    )
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--tenant",
            "acme",
            "--model-dir",
            str(model_dir),
            "--outputs",
            str(up),
            "--input",
            "s3://acme-data/batch/in.parquet",
            "--output",
            "s3://acme-data/batch/out.parquet",
        ],
    )
    assert result.exit_code == 0, result.output
    s3.download_file("acme-data", "batch/out.parquet", str(tmp_path / "out.parquet"))
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 569
    assert (
        out["prediction"].tolist()
        == logistic.pipeline.predict(cancer[logistic.metadata.feature_names]).tolist()
    )


def test_outputs_are_read_from_terraform_json_plain_json_and_up_json(tmp_path):
    terraform = tmp_path / "tf.json"
    terraform.write_text(json.dumps({"stream_name": {"value": "s1", "type": "string", "sensitive": False}}))
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"stream_name": "s2"}))
    up = tmp_path / "up.json"
    up.write_text(
        json.dumps(
            {
                "emulator": {"endpoint": "http://127.0.0.1:4566", "region": "eu-west-1"},
                "tenants": {"acme": {"outputs": {"stream_name": "s3"}}},
            }
        )
    )
    assert load_outputs("acme", terraform).outputs == {"stream_name": "s1"}
    assert load_outputs("acme", plain).outputs == {"stream_name": "s2"}
    emulator = load_outputs("acme", up)
    assert emulator.outputs == {"stream_name": "s3"}
    assert (emulator.endpoint_url, emulator.region) == ("http://127.0.0.1:4566", "eu-west-1")
    with pytest.raises(TenantResourcesError, match=r"tenants.zeta: no such tenant \(tenants up: acme\)"):
        load_outputs("zeta", up)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(TenantResourcesError, match="broken.json: not valid JSON"):
        load_outputs("acme", tmp_path / "broken.json")
    with pytest.raises(
        TenantResourcesError, match="model_package_group_name: tenant acme has no such output"
    ):
        load_outputs("acme", plain).require("model_package_group_name")


def test_serve_without_any_outputs_says_where_they_come_from(cli):
    result = CliRunner().invoke(cli, ["serve", "--tenant", "acme"])
    assert result.exit_code == 2
    assert "pass --outputs FILE" in result.output


def test_serve_refuses_a_missing_model_dir_and_leaves_no_scratch_directory(cli, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR

    result = CliRunner().invoke(cli, ["serve", "--tenant", "acme", "--model-dir", str(tmp_path / "nope")])

    assert result.exit_code == 2 and "no such directory" in result.output
    assert list((tmp_path / "tmp").iterdir()) == []


REPO = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the kernel's socket table")
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # the local CLI: loopback unless --host says otherwise (the README's promise)
        (["-m", "tenantml.cli", "serve", "--tenant", "acme", "--workers", "1", "--no-log"], "127.0.0.1"),
        # the container entry point SageMaker and EKS run: every interface, as their contract needs
        (["-m", "pipelines.serving", "--workers", "1"], "0.0.0.0"),
    ],
    ids=["tenantml-serve", "container-entry-point"],
)
def test_the_address_each_server_listens_on_by_default(model_dir, tmp_path, command, expected):
    from pipelines.serving.config import ServerConfig
    from pipelines.serving.loader import DirectorySource

    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.update(ServerConfig(source=DirectorySource(path=model_dir)).to_env())
    args = [*command, "--port", str(port)]
    if "tenantml.cli" in command:
        args += ["--model-dir", str(model_dir)]
    process = subprocess.Popen(
        [sys.executable, *args], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until_listening(port, process) == {expected}
    finally:
        process.terminate()
        process.wait(timeout=60)
