"""cdktf is archived; CDK Terrain (cdktn) continues it. Both must synthesize the same Terraform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _synth_with(library: str, outdir: Path) -> dict[str, dict]:
    env = {**os.environ, "TENANTML_CDK": library}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantml.cli",
            "synth",
            "--tenants",
            str(ROOT / "tenants"),
            "--out",
            str(outdir),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(outdir.glob("stacks/*/cdk.tf.json"))}


def _without_library_metadata(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["//"]["metadata"].pop("version")
    return doc


@pytest.mark.slow  # two synth subprocesses, one per library
def test_cdktf_and_cdktn_synthesize_identical_terraform(tmp_path: Path) -> None:
    # given the example tenants, when each library synthesizes them in its own process
    with_cdktf = _synth_with("cdktf", tmp_path / "cdktf")
    with_cdktn = _synth_with("cdktn", tmp_path / "cdktn")

    # then the same stacks come out, identical but for the library version in the metadata
    assert sorted(with_cdktf) == sorted(with_cdktn) == ["churn", "fraud", "fraud-kubernetes", "shop"]
    for tenant in with_cdktf:
        assert with_cdktf[tenant]["//"]["metadata"]["version"].startswith("0.21")
        assert with_cdktn[tenant]["//"]["metadata"]["version"].startswith("0.24")
        assert _without_library_metadata(with_cdktf[tenant]) == _without_library_metadata(with_cdktn[tenant])


def test_unknown_cdk_library_is_refused() -> None:
    env = {**os.environ, "TENANTML_CDK": "cdk-for-nothing"}
    proc = subprocess.run(
        [sys.executable, "-c", "import infra.cdk"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "TENANTML_CDK='cdk-for-nothing' is not supported" in proc.stderr


def test_only_infra_cdk_imports_the_cdk_library() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("core", "infra", "stacks", "tenantml", "pipelines", "lambdas")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "infra" / "cdk.py"
        and any(
            line.strip().startswith(("import cdktf", "from cdktf", "import cdktn", "from cdktn"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_pipelines_and_lambdas_never_import_the_infrastructure_code() -> None:
    # Lambda bundles ship pipelines/ and a few tenantml modules, not infra/ or the CDK: an import
    # of infra from there works in this checkout and fails on AWS
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("pipelines", "lambdas")
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip().startswith(("import infra", "from infra", "import stacks", "from stacks"))
    ]
    assert offenders == []
