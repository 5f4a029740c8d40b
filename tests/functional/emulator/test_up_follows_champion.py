"""`up`'s endpoint follows the registry's champion alias: the churn stack applied to the emulator with
IAM enforced, real model servers and the rollout router on 127.0.0.1, reading the registry and the
artifacts as the serving role; ``up.json`` rewritten as the served version changes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from model_support import quick_logistic
from sklearn.datasets import load_breast_cancer
from wait_support import wait_until

from core.spec import load_specs
from pipelines.registry.artifacts import pack_model_dir, upload_artifact
from pipelines.registry.factory import open_registry
from pipelines.registry.interface import CHAMPION, ApprovalStatus
from pipelines.registry.lineage import Lineage, new_run_id
from pipelines.serving.rollout_policy import RolloutPolicy
from pipelines.training.train import MODEL_FILENAME, save_model
from tenantml.emulator import commands, iam_enforcement
from tenantml.lifecycle import serve_champions
from tenantml.synthesis import synth
from tenantml.up import UpContext, UpSummary

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def enforced(aws) -> Iterator[object]:
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def _model_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A small real model for the breast cancer features, and a copy whose pickle is garbage."""
    frame = load_breast_cancer(as_frame=True).frame
    trained = quick_logistic(frame)
    good = save_model(trained, tmp_path / "good")
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / MODEL_FILENAME).write_bytes(b"not a pickle")
    return good, broken


def _register(registry, s3, bucket: str, model_dir: Path) -> int:
    """Register ``model_dir`` as the pipeline does: content-addressed archive, lineage with its sha256."""
    stored = upload_artifact(s3, bucket, pack_model_dir(model_dir))
    version = registry.create_model_version(
        model_data_url=stored.uri,
        image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-churn-dev-images:1.0.0",
        lineage=Lineage(
            run_id=new_run_id(),
            data_uri="s3://data/incoming/sample.parquet",
            data_sha256="0" * 64,
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
        ),
        approval_status=ApprovalStatus.APPROVED,
    )
    return version.version


def _served_by(url: str, row: str) -> str:
    response = httpx.post(f"{url}/invocations", content=row, headers={"Content-Type": "text/csv"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["X-Model-Version"]


def test_promoting_a_version_moves_what_up_serves_and_a_version_that_does_not_load_rolls_back(
    enforced, emulator, tmp_path: Path
) -> None:
    # given: churn applied with IAM enforced, three approved versions (the third does not load), 1 champion
    spec = next(s for s in load_specs(ROOT / "tenants") if s.name == "churn")
    out, state_dir = tmp_path / "out", tmp_path / "state"
    synth([spec], out)
    [applied] = commands.apply_tenants(out, ["churn"], state_dir, enforced)
    admin = enforced.for_account(spec.account_id)
    registry = open_registry(
        admin.client("sagemaker", spec.region), applied.outputs["model_package_group_name"]
    )
    s3, bucket = admin.client("s3", spec.region), applied.outputs["models_bucket_name"]
    good, broken = _model_dirs(tmp_path)
    first, second = _register(registry, s3, bucket, good), _register(registry, s3, bucket, good)
    unloadable = _register(registry, s3, bucket, broken)
    registry.set_alias(CHAMPION, first)

    messages: list[str] = []
    context = UpContext(
        specs=[spec],
        out_dir=out,
        state_dir=state_dir,
        server=emulator,
        report=messages.append,
        up_file=tmp_path / "up.json",
        # a short bake with the tenant's own guardrails; the probe rows prove it
        follow_policy=lambda s: RolloutPolicy(
            bake_seconds=3,
            max_error_rate=s.monitoring.error_rate,
            max_p99_ms=5_000,
            min_requests=10,
            check_interval_seconds=0.2,
        ),
    )
    summary = UpSummary(
        endpoint=emulator.endpoint,
        region=spec.region,
        applied=[applied],
        lifecycle={"churn": {"alias": "champion"}},
        regions={"churn": spec.region},
    )
    row = ",".join(repr(float(v)) for v in load_breast_cancer().data[0])

    def up_json_endpoint() -> dict:
        return json.loads(context.up_file.read_text())["tenants"]["churn"]["endpoint"]

    try:
        serve_champions(context, summary)
        context.write_summary(summary)
        context.ready.set()
        url = summary.endpoints["churn"]["url"]
        assert _served_by(url, row) == str(first)
        assert up_json_endpoint()["model_version"] == str(first)

        # when: version 2 is promoted in the registry
        registry.set_alias(CHAMPION, second)

        # then: after its bake, the same URL answers with version 2, and up.json says so
        promoted = wait_until(
            lambda: (e := up_json_endpoint())["model_version"] == str(second) and e,
            timeout=90,
            message=lambda: f"{up_json_endpoint()} {messages}",
        )
        assert promoted["last_rollout"]["status"] == "promoted" and promoted["rolling_out"] is None
        assert {_served_by(url, row) for _ in range(20)} == {str(second)}
        assert any("rolling it out" in m for m in messages)

        # when: the champion moves to a version whose model does not load
        registry.set_alias(CHAMPION, unloadable)

        # then: it is rolled back, version 2 keeps serving, and up.json and the console say why
        rolled_back = wait_until(
            lambda: (e := up_json_endpoint())["last_rollout"]["version"] == unloadable and e,
            timeout=90,
            message=lambda: f"{up_json_endpoint()} {messages}",
        )
        assert rolled_back["last_rollout"]["status"] == "rolled_back"
        assert "did not load" in rolled_back["last_rollout"]["reason"]
        assert rolled_back["model_version"] == str(second)
        assert {_served_by(url, row) for _ in range(20)} == {str(second)}
        assert any(f"version {unloadable} rolled back" in m and "keeps serving" in m for m in messages)
    finally:
        context.ready.clear()
        for cleanup in reversed(context.cleanups):
            cleanup()
