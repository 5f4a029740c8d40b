"""What `tenantml up` prints when its output is not a terminal (CI, a log file), and each tenant's region.

`up` runs in a subprocess whose stdout is a pipe, with both example tenants (churn in eu-west-1,
fraud in us-east-1) and a stand-in for the ML lifecycle step that only reports a line.
"""

from __future__ import annotations

import json
import re

import pytest
from up_script_support import ROOT, run_up_script

from tenantml.emulator.session import admin_credentials

TENANTS = {"churn": "eu-west-1", "fraud": "us-east-1"}
#: fraud names an account of its own; churn's is the emulator's default, which the shared variables sign in
OWN_ACCOUNT = {"fraud": "111122223333"}


_UP = """
import json, sys
from pathlib import Path
from rich.console import Console
from core.spec import load_specs
from tenantml.up_console import run_up

def stand_in_lifecycle(context, summary):
    context.report("lifecycle: the sample dataset was dropped")

summary = run_up(load_specs(Path(sys.argv[1])), Console(), out_dir=Path("cdktf.out"), port=0, once=True,
                 steps=[stand_in_lifecycle], up_file=Path(".tenantml/up.json"), state_dir=Path(".tenantml/state"))
# what up.json held while it ran (up removes the file when it stops)
Path("up-summary.json").write_text(json.dumps(summary.to_json(Path(".tenantml/state")), default=str))
"""


@pytest.fixture(scope="module")
def up_run(tmp_path_factory) -> tuple[list[str], dict]:
    workdir = tmp_path_factory.mktemp("up-output")
    lines = run_up_script(_UP, ROOT / "tenants", workdir)
    return lines, json.loads((workdir / "up-summary.json").read_text())


def _index(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r} in:\n" + "\n".join(lines)
    return found[0]


def test_given_output_that_is_not_a_terminal_when_up_runs_then_each_step_prints_a_line_in_order(up_run):
    lines, _ = up_run

    # then: the stages, in the order they happen
    stages = [
        _index(lines, r"^starting the AWS emulator\.\.\.$"),
        _index(lines, r"^synthesizing 3 tenant stack\(s\)\.\.\.$"),
        # the longest search bound first (fraud's), then by name
        _index(lines, r"^applying fraud, churn, shop to the AWS emulator at http://127\.0\.0\.1:\d+\.\.\.$"),
        _index(lines, r"^\s*fraud: \d+ change\(s\) in "),
        _index(lines, r"^\s*churn: \d+ change\(s\) in "),
        _index(lines, r"^stand in lifecycle\.\.\.$"),
        _index(lines, r"^lifecycle: the sample dataset was dropped$"),
        _index(lines, r"^tenantml is up in "),
    ]
    assert stages == sorted(stages), "\n".join(lines)

    # and one line per resource as it is applied, before that tenant's outputs
    for tenant in TENANTS:
        table = _index(lines, rf"^\s*{tenant}: \d+ change\(s\) in ")
        changes = int(re.search(r"(\d+) change", lines[table]).group(1))
        created = [
            i for i, line in enumerate(lines) if re.match(rf"^  {tenant}: create \S+ \(\d+\.\d\d s\)$", line)
        ]
        assert len(created) == changes > 0
        assert stages[2] < min(created) and max(created) < table


def test_given_tenants_in_two_regions_when_up_is_ready_then_each_tenant_is_given_with_its_region(up_run):
    lines, summary = up_run

    # then up.json records each tenant's region, its variables and commands naming it
    for tenant, region in TENANTS.items():
        entry = summary["tenants"][tenant]
        assert entry["region"] == region
        # a tenant in its own account gets that account's administrator keys: the shared ones sign
        # in the emulator's default account, where its resources are not
        own = admin_credentials(OWN_ACCOUNT[tenant]) if tenant in OWN_ACCOUNT else {}
        assert entry["env"] == {"AWS_DEFAULT_REGION": region, "AWS_REGION": region, **own}
        stream = entry["outputs"]["stream_name"]
        assert (
            f"aws --region {region} kinesis describe-stream-summary --stream-name {stream}"
            in entry["commands"]
        )
        assert all(command.startswith(f"aws --region {region} ") for command in entry["commands"])
    # and no single region for the whole platform, which would show half of it
    assert "AWS_DEFAULT_REGION" not in summary["emulator"]["env"]
    assert "AWS_REGION" not in summary["emulator"]["env"]
    assert summary["emulator"]["env"]["AWS_ENDPOINT_URL"] == summary["emulator"]["endpoint"]

    # and the printed text says the same
    ready = lines[_index(lines, r"^tenantml is up in ") :]
    assert not [line for line in ready if re.match(r"^  export AWS_(DEFAULT_)?REGION=", line)]
    for tenant, region in TENANTS.items():
        heading = ready.index(f"  {tenant} ({region}):")
        exported = " ".join(f"{k}={v}" for k, v in summary["tenants"][tenant]["env"].items())
        assert ready[heading + 1] == f"    export {exported}"
        for command in summary["tenants"][tenant]["commands"]:
            assert (
                f"    {command}"
                in ready[heading + 2 : heading + 2 + len(summary["tenants"][tenant]["commands"])]
            )
    # the shared variables sign in the emulator's default account; fraud's line signs in its own
    assert summary["emulator"]["env"]["AWS_ACCESS_KEY_ID"] == admin_credentials()["AWS_ACCESS_KEY_ID"]
    assert "AWS_ACCESS_KEY_ID=" in ready[ready.index("  fraud (us-east-1):") + 1]
    assert "AWS_ACCESS_KEY_ID=" not in ready[ready.index("  churn (eu-west-1):") + 1]
