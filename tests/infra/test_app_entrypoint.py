"""`cdktf synth` runs `python -m stacks.app` (cdktf.json); it must write what `tenantml synth` writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tenantml.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_cdktf_json_app_writes_the_same_stacks_as_tenantml_synth(tmp_path: Path) -> None:
    # given the command cdktf's CLI would run, with the output directory it would pass
    config = json.loads((ROOT / "cdktf.json").read_text())
    assert config["app"] == "python -m stacks.app"
    env = {**os.environ, "CDKTF_OUTDIR": str(tmp_path / "cdktf")}
    subprocess.run([sys.executable, "-m", "stacks.app"], cwd=ROOT, env=env, check=True, capture_output=True)

    # when tenantml synth writes the same tenants elsewhere
    result = CliRunner().invoke(app, ["synth", "--tenants", str(ROOT / "tenants"), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output

    # then every stack document is identical
    cdktf_stacks = sorted(p.relative_to(tmp_path / "cdktf") for p in (tmp_path / "cdktf").glob("stacks/*/cdk.tf.json"))
    cli_stacks = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").glob("stacks/*/cdk.tf.json"))
    assert cdktf_stacks == cli_stacks == [Path("stacks/churn/cdk.tf.json"), Path("stacks/fraud/cdk.tf.json")]
    for stack in cdktf_stacks:
        assert json.loads((tmp_path / "cdktf" / stack).read_text()) == json.loads((tmp_path / "cli" / stack).read_text())
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["churn", "fraud"]
